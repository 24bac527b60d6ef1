-- A body goes with its delivery, whatever deletes it (retention, an operator), as SQLite's trigger
-- `deliveries_delete_body` (drizzle/0005). Not in schema.ts: drizzle-kit does not model triggers.
-- One statement per DELETE (a transition table), not one per row: retention deletes in bulk.
-- `SET search_path FROM CURRENT` pins the schema migrated into, so a session with another
-- search_path that deletes deliveries still deletes from this schema's delivery_bodies.
CREATE FUNCTION "deliveries_delete_body"() RETURNS trigger LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
	DELETE FROM "delivery_bodies" b USING "gone" g WHERE b."id" = g."body_id";
	RETURN NULL;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER "deliveries_delete_body" AFTER DELETE ON "deliveries" REFERENCING OLD TABLE AS "gone"
	FOR EACH STATEMENT EXECUTE FUNCTION "deliveries_delete_body"();

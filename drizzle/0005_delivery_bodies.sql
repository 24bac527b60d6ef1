CREATE TABLE `delivery_bodies` (
	`id` integer PRIMARY KEY NOT NULL,
	`body` blob NOT NULL
);
--> statement-breakpoint
ALTER TABLE `deliveries` ADD `body_id` integer;--> statement-breakpoint
-- A body goes with its delivery, whatever deletes it (retention, an operator). Not in schema.ts: drizzle-kit does not model triggers.
CREATE TRIGGER `deliveries_delete_body` AFTER DELETE ON `deliveries` WHEN old.`body_id` IS NOT NULL BEGIN
	DELETE FROM `delivery_bodies` WHERE `id` = old.`body_id`;
END;

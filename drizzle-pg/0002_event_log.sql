CREATE TABLE "event_log" (
	"id" integer PRIMARY KEY NOT NULL,
	"last_position" bigint NOT NULL,
	"pruned_through" bigint NOT NULL
);
--> statement-breakpoint
CREATE TABLE "events" (
	"position" bigint PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"fact_key" text NOT NULL,
	"occurred_at" bigint NOT NULL,
	"recorded_at" bigint NOT NULL,
	"device_id" text,
	"user_id" text,
	"data" text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "events_fact_idx" ON "events" USING btree ("fact_key");--> statement-breakpoint
CREATE INDEX "events_device_idx" ON "events" USING btree ("device_id","position");--> statement-breakpoint
CREATE INDEX "events_user_idx" ON "events" USING btree ("user_id","position");--> statement-breakpoint
CREATE INDEX "events_type_idx" ON "events" USING btree ("type","position");
CREATE TABLE `event_log` (
	`id` integer PRIMARY KEY NOT NULL,
	`last_position` integer NOT NULL,
	`pruned_through` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `events` (
	`position` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`type` text NOT NULL,
	`fact_key` text NOT NULL,
	`occurred_at` integer NOT NULL,
	`recorded_at` integer NOT NULL,
	`device_id` text,
	`user_id` text,
	`data` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `events_fact_idx` ON `events` (`fact_key`);--> statement-breakpoint
CREATE INDEX `events_device_idx` ON `events` (`device_id`,`position`);--> statement-breakpoint
CREATE INDEX `events_user_idx` ON `events` (`user_id`,`position`);--> statement-breakpoint
CREATE INDEX `events_type_idx` ON `events` (`type`,`position`);
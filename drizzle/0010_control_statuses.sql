CREATE TABLE `control_statuses` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`device_id` text NOT NULL,
	`user_id` text NOT NULL,
	`source` text NOT NULL,
	`subject_id` text NOT NULL,
	`state` text NOT NULL,
	`at_ms` integer NOT NULL,
	`received_at` integer NOT NULL,
	`status` text NOT NULL,
	`delivery_id` text,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `control_statuses_hash_idx` ON `control_statuses` (`hash`);--> statement-breakpoint
CREATE INDEX `control_statuses_device_idx` ON `control_statuses` (`device_id`,`at_ms`);--> statement-breakpoint
CREATE INDEX `control_statuses_received_idx` ON `control_statuses` (`received_at`);
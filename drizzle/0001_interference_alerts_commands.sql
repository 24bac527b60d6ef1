CREATE TABLE `alert_deliveries` (
	`alert_id` text NOT NULL,
	`sink` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at_ms` integer NOT NULL,
	`last_status` integer,
	`last_error` text,
	`updated_at_ms` integer NOT NULL,
	`delivered_at_ms` integer,
	PRIMARY KEY(`alert_id`, `sink`)
);
--> statement-breakpoint
CREATE INDEX `alert_deliveries_due_idx` ON `alert_deliveries` (`status`,`next_attempt_at_ms`);--> statement-breakpoint
CREATE TABLE `alerts` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`dedupe_key` text NOT NULL,
	`device_id` text,
	`user_id` text,
	`data` text NOT NULL,
	`created_at_ms` integer NOT NULL,
	`fanned_out_at_ms` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `alerts_dedupe_idx` ON `alerts` (`dedupe_key`);--> statement-breakpoint
CREATE INDEX `alerts_fanout_idx` ON `alerts` (`fanned_out_at_ms`,`created_at_ms`);--> statement-breakpoint
CREATE INDEX `alerts_created_idx` ON `alerts` (`created_at_ms`,`id`);--> statement-breakpoint
CREATE TABLE `commands` (
	`id` text PRIMARY KEY NOT NULL,
	`device_id` text NOT NULL,
	`device_type` text NOT NULL,
	`command` text NOT NULL,
	`body` text NOT NULL,
	`requested_at_ms` integer NOT NULL,
	`outcome` text NOT NULL,
	`action_id` text,
	`override` integer DEFAULT false NOT NULL,
	`notes` text NOT NULL,
	`error` text
);
--> statement-breakpoint
CREATE INDEX `commands_device_idx` ON `commands` (`device_id`,`requested_at_ms`);--> statement-breakpoint
CREATE TABLE `findings` (
	`id` text PRIMARY KEY NOT NULL,
	`key` text NOT NULL,
	`device_id` text NOT NULL,
	`device_type` text NOT NULL,
	`user_id` text NOT NULL,
	`kind` text NOT NULL,
	`field` text,
	`from_value` text NOT NULL,
	`to_value` text NOT NULL,
	`observed_at_ms` integer NOT NULL,
	`detected_at_ms` integer NOT NULL,
	`action_id` text,
	`evidence` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `findings_key_idx` ON `findings` (`key`);--> statement-breakpoint
CREATE INDEX `findings_device_idx` ON `findings` (`device_id`,`observed_at_ms`);--> statement-breakpoint
CREATE INDEX `findings_observed_idx` ON `findings` (`observed_at_ms`,`id`);--> statement-breakpoint
CREATE INDEX `findings_detected_idx` ON `findings` (`detected_at_ms`,`id`);--> statement-breakpoint
CREATE TABLE `reconcile_queue` (
	`device_id` text PRIMARY KEY NOT NULL,
	`due_at_ms` integer NOT NULL,
	`from_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `reconcile_queue_due_idx` ON `reconcile_queue` (`due_at_ms`);--> statement-breakpoint
CREATE TABLE `transitions` (
	`device_id` text NOT NULL,
	`at_ms` integer NOT NULL,
	`field` text NOT NULL,
	`from_value` text NOT NULL,
	`to_value` text NOT NULL,
	`received_at_ms` integer NOT NULL,
	`explanation` text NOT NULL,
	`status` text NOT NULL,
	`finding_id` text,
	PRIMARY KEY(`device_id`, `at_ms`, `field`)
);

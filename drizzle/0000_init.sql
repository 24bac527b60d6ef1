CREATE TABLE `actions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` text NOT NULL,
	`target_id` text NOT NULL,
	`target_type` text NOT NULL,
	`kind` text,
	`target` text,
	`state` text NOT NULL,
	`failure_reason` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`completed_at` text,
	`origin` text NOT NULL,
	`raw` text NOT NULL,
	`raw_hash` text NOT NULL,
	`first_seen_at` integer NOT NULL,
	`last_news_at` integer NOT NULL,
	`poll_attempts` integer DEFAULT 0 NOT NULL,
	`last_polled_at` integer,
	`upstream` text
);
--> statement-breakpoint
CREATE INDEX `actions_state_idx` ON `actions` (`state`,`id`);--> statement-breakpoint
CREATE INDEX `actions_target_idx` ON `actions` (`target_id`,`updated_at_ms`);--> statement-breakpoint
CREATE TABLE `deliveries` (
	`id` text PRIMARY KEY NOT NULL,
	`received_at` integer NOT NULL,
	`headers` text NOT NULL,
	`body` blob NOT NULL,
	`body_sha256` text NOT NULL,
	`status` text NOT NULL,
	`error` text,
	`event_count` integer DEFAULT 0 NOT NULL,
	`applied_at` integer,
	`attempts` integer DEFAULT 1 NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deliveries_status_received_idx` ON `deliveries` (`status`,`received_at`);--> statement-breakpoint
CREATE INDEX `deliveries_received_idx` ON `deliveries` (`received_at`);--> statement-breakpoint
CREATE TABLE `devices` (
	`id` text PRIMARY KEY NOT NULL,
	`type` text NOT NULL,
	`user_id` text NOT NULL,
	`vendor` text,
	`last_seen` text,
	`is_reachable` integer,
	`snapshot` text NOT NULL,
	`controlled` text NOT NULL,
	`snapshot_at_ms` integer NOT NULL,
	`snapshot_rank` integer NOT NULL,
	`snapshot_event_at_ms` integer NOT NULL,
	`snapshot_hash` text NOT NULL,
	`first_seen_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deleted_at_ms` integer
);
--> statement-breakpoint
CREATE INDEX `devices_type_idx` ON `devices` (`type`,`id`);--> statement-breakpoint
CREATE INDEX `devices_user_idx` ON `devices` (`user_id`,`id`);--> statement-breakpoint
CREATE TABLE `observations` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`device_id` text NOT NULL,
	`device_type` text NOT NULL,
	`user_id` text NOT NULL,
	`event` text NOT NULL,
	`source` text NOT NULL,
	`delivery_id` text,
	`event_index` integer,
	`observed_at_ms` integer NOT NULL,
	`event_created_at` text,
	`received_at` integer NOT NULL,
	`updated_fields` text,
	`snapshot` text,
	`controlled` text NOT NULL,
	`context` text NOT NULL,
	`stale` integer NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `observations_device_time_hash_idx` ON `observations` (`device_id`,`observed_at_ms`,`hash`);--> statement-breakpoint
CREATE INDEX `observations_received_idx` ON `observations` (`received_at`);--> statement-breakpoint
CREATE TABLE `system_events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`event` text NOT NULL,
	`user_id` text,
	`vendor` text,
	`created_at` text,
	`pending_events` integer,
	`payload` text NOT NULL,
	`delivery_id` text,
	`received_at` integer NOT NULL,
	`hash` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `system_events_hash_idx` ON `system_events` (`hash`);--> statement-breakpoint
CREATE INDEX `system_events_event_idx` ON `system_events` (`event`,`received_at`);
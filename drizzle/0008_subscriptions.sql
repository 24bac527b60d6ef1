CREATE TABLE `subscription_deliveries` (
	`subscription_id` text NOT NULL,
	`position` integer NOT NULL,
	`event_id` text NOT NULL,
	`status` text NOT NULL,
	`attempts` integer DEFAULT 0 NOT NULL,
	`next_attempt_at_ms` integer NOT NULL,
	`claim_holder` text,
	`claim_expires_at_ms` integer,
	`last_status` integer,
	`last_error` text,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`sent_at_ms` integer,
	PRIMARY KEY(`subscription_id`, `position`)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `subscription_deliveries_event_idx` ON `subscription_deliveries` (`subscription_id`,`event_id`);--> statement-breakpoint
CREATE INDEX `subscription_deliveries_due_idx` ON `subscription_deliveries` (`subscription_id`,`status`,`next_attempt_at_ms`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`url` text NOT NULL,
	`types` text NOT NULL,
	`description` text,
	`secret` text NOT NULL,
	`previous_secret` text,
	`previous_secret_until_ms` integer,
	`paused` integer DEFAULT false NOT NULL,
	`created_at_ms` integer NOT NULL,
	`updated_at_ms` integer NOT NULL,
	`fanned_out_through` integer NOT NULL
);

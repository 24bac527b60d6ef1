ALTER TABLE `findings` ADD `state` text DEFAULT 'open' NOT NULL;--> statement-breakpoint
ALTER TABLE `findings` ADD `state_note` text;--> statement-breakpoint
ALTER TABLE `findings` ADD `state_changed_at_ms` integer;--> statement-breakpoint
CREATE INDEX `findings_state_observed_idx` ON `findings` (`state`,`observed_at_ms`,`id`);
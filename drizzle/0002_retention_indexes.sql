CREATE INDEX `system_events_received_idx` ON `system_events` (`received_at`);--> statement-breakpoint
CREATE INDEX `transitions_received_idx` ON `transitions` (`received_at_ms`);
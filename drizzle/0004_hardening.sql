CREATE TABLE `health_probe` (
	`id` integer PRIMARY KEY NOT NULL,
	`at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `ui_session_revocations` (
	`id` text PRIMARY KEY NOT NULL,
	`expires_at_ms` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `deliveries_body_sha256_idx` ON `deliveries` (`body_sha256`);
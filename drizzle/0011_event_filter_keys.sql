DROP INDEX `events_device_idx`;--> statement-breakpoint
DROP INDEX `events_user_idx`;--> statement-breakpoint
ALTER TABLE `events` ADD `device_key` integer;--> statement-breakpoint
ALTER TABLE `events` ADD `user_key` integer;--> statement-breakpoint
UPDATE `events` SET `device_key` = enode_sync_id_key(`device_id`), `user_key` = enode_sync_id_key(`user_id`) WHERE `device_id` IS NOT NULL OR `user_id` IS NOT NULL;--> statement-breakpoint
CREATE INDEX `events_device_key_idx` ON `events` (`device_key`,`position`);--> statement-breakpoint
CREATE INDEX `events_user_key_idx` ON `events` (`user_key`,`position`);

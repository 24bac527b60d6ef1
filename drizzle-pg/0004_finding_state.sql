ALTER TABLE "findings" ADD COLUMN "state" text DEFAULT 'open' NOT NULL;--> statement-breakpoint
ALTER TABLE "findings" ADD COLUMN "state_note" text;--> statement-breakpoint
ALTER TABLE "findings" ADD COLUMN "state_changed_at_ms" bigint;--> statement-breakpoint
CREATE INDEX "findings_state_observed_idx" ON "findings" USING btree ("state","observed_at_ms","id");
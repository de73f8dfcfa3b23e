-- Per-sender order for queued messages: several workers (several replicas) share the queue, so
-- each may only take a sender's oldest unfinished message. `sender` is the message's sender
-- (`kind:value`); `position` counts that sender's messages in the order they were accepted.
-- Rows queued before this migration have no sender and keep their old, unordered treatment.
ALTER TABLE inbound_queue ADD COLUMN sender TEXT;
ALTER TABLE inbound_queue ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
CREATE INDEX inbound_queue_by_sender ON inbound_queue (sender, done_at, position);

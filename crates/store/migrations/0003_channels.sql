-- Channels: webhooks are accepted into a durable queue before they are acknowledged, replies
-- record how their delivery went, and providers' delivery receipts are kept.

-- A verified, parsed inbound message waiting for its turn. The webhook answers 2xx once the row
-- is written, so a crash after that loses nothing; a redelivery of the same provider message
-- hits the primary key and is a no-op.
CREATE TABLE inbound_queue (
    channel TEXT NOT NULL,
    channel_message_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    accepted_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    done_at BIGINT,
    last_error TEXT,
    PRIMARY KEY (channel, channel_message_id)
);
CREATE INDEX inbound_queue_due ON inbound_queue (done_at, next_attempt_at);

ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
ALTER TABLE outbox ADD COLUMN last_error TEXT;
ALTER TABLE outbox ADD COLUMN reference TEXT;
-- Who a reply is for (`kind:value`), so the web chat's event stream finds its session's replies.
ALTER TABLE outbox ADD COLUMN recipient TEXT;
CREATE INDEX outbox_by_recipient ON outbox (channel, recipient, created_at);

-- Delivery receipts (sent, delivered, read, failed) from providers' status callbacks.
CREATE TABLE delivery_statuses (
    channel TEXT NOT NULL,
    provider_message_id TEXT NOT NULL,
    status TEXT NOT NULL,
    at BIGINT NOT NULL,
    detail TEXT,
    PRIMARY KEY (channel, provider_message_id, status)
);

-- Every merge of two customer records, for audit: who survived, who was merged, why, when.
CREATE TABLE customer_merges (
    survivor TEXT NOT NULL REFERENCES customers(id),
    merged TEXT NOT NULL REFERENCES customers(id),
    reason TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (survivor, merged)
);

-- Handoffs waiting for (or done with) delivery to the helpdesk: an outbox of their own, so a
-- crash or a helpdesk outage loses none. `progress` records the delivery steps already done
-- (ticket created, note posted), so a retry never repeats them.
CREATE TABLE handoffs (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    target TEXT NOT NULL,
    request TEXT NOT NULL,
    progress TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT,
    failed_at BIGINT,
    reference TEXT,
    last_error TEXT
);
CREATE INDEX handoffs_due ON handoffs (delivered_at, failed_at, next_attempt_at);

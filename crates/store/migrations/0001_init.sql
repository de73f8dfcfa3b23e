-- frontline schema, portable between SQLite and PostgreSQL: ids are UUID text, times are
-- epoch milliseconds (BIGINT), flags are 0/1 BIGINT, structured payloads are JSON text.

CREATE TABLE customers (
    id TEXT PRIMARY KEY,
    display_name TEXT,
    created_at BIGINT NOT NULL,
    merged_into TEXT REFERENCES customers(id)
);

CREATE TABLE identities (
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    verified BIGINT NOT NULL DEFAULT 0,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX identities_by_customer ON identities (customer_id);

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL REFERENCES customers(id),
    status TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    last_activity_at BIGINT NOT NULL,
    channels_seen TEXT NOT NULL
);
CREATE INDEX conversations_by_customer ON conversations (customer_id, last_activity_at);

-- Append-only: the store offers no UPDATE or DELETE on events.
CREATE TABLE events (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (conversation_id, seq)
);

-- One row per provider message: a redelivery hits the primary key and becomes a no-op.
CREATE TABLE inbox (
    channel TEXT NOT NULL,
    channel_message_id TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    claimed_at BIGINT NOT NULL,
    conversation_id TEXT,
    processed_at BIGINT,
    result TEXT,
    PRIMARY KEY (channel, channel_message_id)
);

CREATE TABLE outbox (
    id TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    channel TEXT NOT NULL,
    payload TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);

-- The demo shop's own tables. Records are JSON documents (the τ2-bench retail shape) with the
-- columns the actions look them up by.
CREATE TABLE shop_users (
    user_id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    phone TEXT,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    zip TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX shop_users_by_email ON shop_users (email);
CREATE INDEX shop_users_by_phone ON shop_users (phone);
CREATE INDEX shop_users_by_name_zip ON shop_users (first_name, last_name, zip);

CREATE TABLE shop_products (
    product_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE shop_items (
    item_id TEXT PRIMARY KEY,
    product_id TEXT NOT NULL REFERENCES shop_products (product_id)
);

CREATE TABLE shop_orders (
    order_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX shop_orders_by_user ON shop_orders (user_id);

CREATE TABLE shop_subscriptions (
    subscription_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX shop_subscriptions_by_user ON shop_subscriptions (user_id);

-- Every write action attempt, keyed by its idempotency key: a repeat returns the stored outcome.
CREATE TABLE shop_audit (
    idempotency_key TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    args TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at BIGINT NOT NULL
);

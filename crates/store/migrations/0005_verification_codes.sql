-- One-time codes that prove a customer owns an account. Only a hash of the code is kept.
-- `account` is the account id the code proves ('' when no account was found: a code is then
-- "sent" nowhere, so the customer cannot tell which addresses have accounts); `requester` is
-- the customer who asked for it. Codes expire, allow a few attempts, and are used once.
CREATE TABLE verification_codes (
    id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    requester TEXT NOT NULL,
    destination TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    last_attempt_at BIGINT,
    used_at BIGINT
);
CREATE INDEX verification_codes_by_account ON verification_codes (account, created_at);
CREATE INDEX verification_codes_by_requester ON verification_codes (requester, created_at);

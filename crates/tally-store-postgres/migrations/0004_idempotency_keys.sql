-- Idempotency keys (docs/API.md, "Idempotency"; docs/storage.md): the first
-- response to a client's key, replayed to retries for 24 hours after the
-- claim. Conventions as in 0001 (text keys COLLATE "C", BIGINT milliseconds).
-- (0003 is reserved for another change.)
--
-- A claim is the insert of the row: the primary key makes it one request at
-- a time per (account, key) across every server sharing the database. `token`
-- names the claim, so only its request completes or releases it. `status` is
-- NULL while the request is in flight; then the stored response is `status`,
-- `content_type` and `body`.
CREATE TABLE idempotency_keys (
    account_id       TEXT COLLATE "C" NOT NULL,
    idempotency_key  TEXT COLLATE "C" NOT NULL,
    request_hash     TEXT NOT NULL,
    token            TEXT NOT NULL,
    claimed_at       BIGINT NOT NULL,
    status           INTEGER,
    content_type     TEXT,
    body             BYTEA,
    PRIMARY KEY (account_id, idempotency_key)
);

-- The cleanup deletes by age, across accounts.
CREATE INDEX idempotency_keys_claimed ON idempotency_keys (claimed_at);

-- Idempotency keys (docs/API.md, "Idempotency"; docs/storage.md): the first
-- response to a client's key, replayed to retries for 24 hours after the
-- claim. Never edit once landed: add a migration. (0003 is reserved for
-- another change.)
--
-- A claim is the insert of the row; the primary key makes it one request at a
-- time per (account, key). `token` names the claim, so only its request
-- completes or releases it. `status` is NULL while the request is in flight;
-- then the stored response is `status`, `content_type` and `body`.
CREATE TABLE idempotency_keys (
    account_id       TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL,
    request_hash     TEXT NOT NULL,
    token            TEXT NOT NULL,
    claimed_at       INTEGER NOT NULL,
    status           INTEGER,
    content_type     TEXT,
    body             BLOB,
    PRIMARY KEY (account_id, idempotency_key)
) STRICT;

-- The cleanup deletes by age, across accounts.
CREATE INDEX idempotency_keys_claimed ON idempotency_keys (claimed_at);

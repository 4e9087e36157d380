-- Tally's SQLite schema, version 7: webhooks (docs/webhooks.md,
-- docs/storage.md, "Webhooks"). Never edit once landed: add a migration.

-- Where an account's messages go. `event_types` is a JSON array of the type
-- names the endpoint subscribes to; `secret` is the signing secret
-- (`whsec_…`), kept as given: signing needs it.
CREATE TABLE webhook_endpoints (
    account_id   TEXT NOT NULL,
    id           TEXT NOT NULL,
    description  TEXT,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_types  TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

-- The outbox: one row per event, written in the transaction of the change
-- that causes it. `dispatched_at` is set when its messages are made.
CREATE TABLE webhook_events (
    account_id     TEXT NOT NULL,
    id             TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    data           TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    dispatched_at  INTEGER,
    PRIMARY KEY (account_id, id)
) STRICT;

-- The dispatcher reads the waiting events, oldest first.
CREATE INDEX webhook_events_waiting ON webhook_events (created_at, id)
    WHERE dispatched_at IS NULL;

-- One event for one endpoint. `attempt_count` counts every attempt claimed
-- (the claim's fencing token), `run_attempts` those since the dispatch or
-- the last manual retry; `lease_until` is the claim's end while
-- `delivering`.
CREATE TABLE webhook_messages (
    account_id       TEXT NOT NULL,
    id               TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL,
    event_id         TEXT NOT NULL,
    status           TEXT NOT NULL,
    next_attempt_at  INTEGER,
    lease_until      INTEGER,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    run_attempts     INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

-- Claims read the due messages in due order, and count each endpoint's
-- leased ones.
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at, id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX webhook_messages_endpoint ON webhook_messages (account_id, endpoint_id, status);
-- Lists, newest first.
CREATE INDEX webhook_messages_created ON webhook_messages (account_id, created_at, id);

-- Every finished attempt of a message.
CREATE TABLE webhook_attempts (
    account_id   TEXT NOT NULL,
    message_id   TEXT NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   INTEGER NOT NULL,
    duration_ms  INTEGER NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (account_id, message_id, attempt)
) STRICT;

-- Webhooks (docs/webhooks.md, docs/storage.md, "Webhooks"). Conventions as
-- in 0001 (text keys COLLATE "C", BIGINT milliseconds, documents as JSON).
-- Never edit once landed: add a migration.

-- Where an account's messages go. `event_types` names the types the
-- endpoint subscribes to; `secret` is the signing secret (`whsec_…`), kept
-- as given: signing needs it.
CREATE TABLE webhook_endpoints (
    account_id   TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    description  TEXT,
    url          TEXT NOT NULL,
    secret       TEXT NOT NULL,
    event_types  TEXT[] NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- The outbox: one row per event, written in the transaction of the change
-- that causes it. `dispatched_at` is set when its messages are made.
CREATE TABLE webhook_events (
    account_id     TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    event_type     TEXT COLLATE "C" NOT NULL,
    data           JSON NOT NULL,
    created_at     BIGINT NOT NULL,
    dispatched_at  BIGINT,
    PRIMARY KEY (account_id, id)
);

-- The dispatchers read the waiting events, oldest first.
CREATE INDEX webhook_events_waiting ON webhook_events (created_at, id)
    WHERE dispatched_at IS NULL;

-- One event for one endpoint. `attempt_count` counts every attempt claimed
-- (the claim's fencing token), `run_attempts` those since the dispatch or
-- the last manual retry; `lease_until` is the claim's end while
-- `delivering`.
CREATE TABLE webhook_messages (
    account_id       TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    endpoint_id      TEXT COLLATE "C" NOT NULL,
    event_id         TEXT COLLATE "C" NOT NULL,
    status           TEXT COLLATE "C" NOT NULL,
    next_attempt_at  BIGINT,
    lease_until      BIGINT,
    attempt_count    INTEGER NOT NULL DEFAULT 0,
    run_attempts     INTEGER NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);

-- Claims find the endpoints with due messages and read those in due order,
-- and count each endpoint's leased ones.
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at, id)
    WHERE status IN ('pending', 'delivering');
CREATE INDEX webhook_messages_endpoint ON webhook_messages (account_id, endpoint_id, status);
-- Lists, newest first.
CREATE INDEX webhook_messages_created ON webhook_messages (account_id, created_at, id);

-- Every finished attempt of a message.
CREATE TABLE webhook_attempts (
    account_id   TEXT COLLATE "C" NOT NULL,
    message_id   TEXT COLLATE "C" NOT NULL,
    attempt      INTEGER NOT NULL,
    started_at   BIGINT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    status_code  INTEGER,
    error        TEXT,
    PRIMARY KEY (account_id, message_id, attempt)
);

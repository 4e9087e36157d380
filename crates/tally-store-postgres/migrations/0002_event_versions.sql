-- Event store v2: every version of an event is kept (docs/storage.md,
-- "Versions"). Migrates a v1 database in place: each stored event becomes the
-- first, current version of its key. Conventions as in 0001 (text keys
-- COLLATE "C", BIGINT milliseconds, records JSONB).

-- The last ingestion sequence number of each account. Writers of an account
-- (upserts, deletions, purges) take its row lock first, inside their
-- transaction: that serializes them across processes, so sequence numbers are
-- assigned in commit order and a rollback gives them back.
CREATE TABLE event_sequences (
    account_id  TEXT COLLATE "C" PRIMARY KEY,
    last_seq    BIGINT NOT NULL
);

-- One row per version of a key. `current_until` is the seq from which the
-- version stopped being current (NULL: it is; its own seq: stale, never
-- current); `deleted_seq` the seq of the deletion that ended the key's life
-- (NULL: alive). Every read is a test on one row's seqs (tally_store::AsOf).
CREATE TABLE event_versions (
    account_id     TEXT COLLATE "C" NOT NULL,
    event_type     TEXT COLLATE "C" NOT NULL,
    record_id      TEXT COLLATE "C" NOT NULL,
    seq            BIGINT NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    customer_id    TEXT COLLATE "C" NOT NULL,
    ts             BIGINT NOT NULL,
    record         JSONB  NOT NULL,
    ingested_at    BIGINT NOT NULL,
    current_until  BIGINT,
    deleted_seq    BIGINT,
    CONSTRAINT event_versions_key PRIMARY KEY (account_id, event_type, record_id, seq)
);

-- v1 kept one row per key, the current one. Its sequence number follows the
-- order it was ingested in (ties broken by key, so the migration is
-- deterministic).
INSERT INTO event_versions
    (account_id, event_type, record_id, seq, id, customer_id, ts, record, ingested_at,
     current_until, deleted_seq)
SELECT account_id, event_type, record_id,
       row_number() OVER (PARTITION BY account_id ORDER BY ingested_at, event_type, record_id),
       id, customer_id, ts, record, ingested_at,
       NULL, NULL
FROM events;

INSERT INTO event_sequences (account_id, last_seq)
SELECT account_id, count(*) FROM events GROUP BY account_id;

DROP TABLE events;

-- Indexes after the copy: built once instead of maintained row by row.

-- Usage, aggregation and streams (one customer, one event type, a time range),
-- over every version: current reads add `current_until IS NULL`, reads as of a
-- sequence or an instant test the seqs on the same rows.
CREATE INDEX event_versions_usage
    ON event_versions (account_id, customer_id, event_type, ts, record_id);
-- GET /v1/events and every customer's current events of a type: an account's
-- current versions in time order.
CREATE INDEX event_versions_current_time
    ON event_versions (account_id, ts) WHERE current_until IS NULL;

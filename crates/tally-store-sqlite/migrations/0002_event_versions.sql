-- Tally's SQLite schema, version 2: every version of an event is kept
-- (docs/storage.md, "Versions"). Never edit once landed: add a migration.
--
-- The v1 `events` table held the current version of each key only; its rows
-- become each key's first version, numbered per account in the order they
-- were stored.

-- The last ingestion sequence number of each account. The writer takes the
-- next numbers in the transaction that stores the versions, so numbers are
-- commit-ordered (one writer at a time: BEGIN IMMEDIATE).
CREATE TABLE event_sequences (
    account_id  TEXT PRIMARY KEY NOT NULL,
    last_seq    INTEGER NOT NULL
) STRICT;

-- One row per stored version. `current_until`: the sequence from which the
-- version is no longer its key's current one (NULL while it is; a stale
-- version's own `seq`). `deleted_seq`: the sequence of the deletion that ended
-- the key's life (NULL while it lives). A rowid table: records may be up to
-- 64 KiB, too large for a clustered b-tree, and rows arrive in rowid order.
CREATE TABLE event_versions (
    account_id     TEXT NOT NULL,
    event_type     TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    id             TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    ts             INTEGER NOT NULL,
    record         TEXT NOT NULL,
    ingested_at    INTEGER NOT NULL,
    current_until  INTEGER,
    deleted_seq    INTEGER,
    UNIQUE (account_id, event_type, record_id, seq)
) STRICT;

INSERT INTO event_versions
    (account_id, event_type, record_id, seq, id, customer_id, ts, record, ingested_at)
SELECT account_id, event_type, record_id,
       row_number() OVER (PARTITION BY account_id ORDER BY ingested_at, rowid),
       id, customer_id, ts, record, ingested_at
FROM events;

INSERT INTO event_sequences (account_id, last_seq)
SELECT account_id, COUNT(*) FROM events GROUP BY account_id;

DROP TABLE events;

-- Usage, streams and aggregation of one customer and type over a time range,
-- for every read: current reads test `current_until IS NULL` inside the index
-- (a count never reads the table), as-of reads test the version columns.
CREATE INDEX event_versions_usage
    ON event_versions (account_id, customer_id, event_type, ts, record_id, current_until);
-- GET /v1/events and every customer's events of a type: current versions by time.
CREATE INDEX event_versions_time
    ON event_versions (account_id, ts) WHERE current_until IS NULL;

-- Tally's SQLite schema, version 9: lean event rows (docs/storage.md, "Lean
-- event rows"). Never edit once landed: add a migration.
--
-- Accounts, event types and customers are named in event rows by integers
-- interned here, and records are stored as SQLite's binary JSON (JSONB): the
-- unique key and the usage index, which every write dirties at random, hold
-- two integers where they held three texts. Interned numbers are never
-- reused nor removed (a purge keeps them): a number names one thing forever.

CREATE TABLE event_accounts (
    num          INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE event_types (
    num          INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL,
    name         TEXT NOT NULL,
    UNIQUE (account_id, name)
) STRICT;

CREATE TABLE event_customers (
    num          INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    UNIQUE (account_id, customer_id)
) STRICT;

INSERT INTO event_accounts (account_id)
SELECT DISTINCT account_id FROM event_versions ORDER BY account_id;
INSERT INTO event_types (account_id, name)
SELECT DISTINCT account_id, event_type FROM event_versions ORDER BY account_id, event_type;
INSERT INTO event_customers (account_id, customer_id)
SELECT DISTINCT account_id, customer_id FROM event_versions ORDER BY account_id, customer_id;

DROP INDEX event_versions_usage;
DROP INDEX event_versions_time;
ALTER TABLE event_versions RENAME TO event_versions_text;

-- One row per stored version, as in version 2 (`seq`, `current_until`,
-- `deleted_seq` unchanged); `type_num` names the account too, so the unique
-- key needs no account. `account_num` serves the account-wide time index.
CREATE TABLE event_versions (
    account_num    INTEGER NOT NULL,
    type_num       INTEGER NOT NULL,
    record_id      TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    id             TEXT NOT NULL,
    customer_num   INTEGER NOT NULL,
    ts             INTEGER NOT NULL,
    record         BLOB NOT NULL,
    ingested_at    INTEGER NOT NULL,
    current_until  INTEGER,
    deleted_seq    INTEGER,
    UNIQUE (type_num, record_id, seq)
) STRICT;

-- In stored order, so rowids keep the order versions arrived in.
INSERT INTO event_versions
    (account_num, type_num, record_id, seq, id, customer_num, ts, record, ingested_at,
     current_until, deleted_seq)
SELECT a.num, t.num, v.record_id, v.seq, v.id, c.num, v.ts, jsonb(v.record), v.ingested_at,
       v.current_until, v.deleted_seq
FROM event_versions_text AS v
JOIN event_accounts AS a ON a.account_id = v.account_id
JOIN event_types AS t ON t.account_id = v.account_id AND t.name = v.event_type
JOIN event_customers AS c ON c.account_id = v.account_id AND c.customer_id = v.customer_id
ORDER BY v.rowid;

DROP TABLE event_versions_text;

-- Usage, streams and aggregation of one customer and type over a time range
-- (the customer's number names its account).
CREATE INDEX event_versions_usage
    ON event_versions (customer_num, type_num, ts, record_id, current_until);
-- GET /v1/events and every customer's events of a type: current versions by time.
CREATE INDEX event_versions_time
    ON event_versions (account_num, ts) WHERE current_until IS NULL;

-- Tally's SQLite schema, version 5: rollups (docs/rollups.md). Never edit
-- once landed: add a migration.

-- One row per rollup: an aggregator definition narrowed by one of its named
-- filters or not, identified in its account by a fingerprint of what its
-- cells depend on. `ready` = 0 while the backfill runs; `cursor` is the last
-- record id it added (NULL: none yet), `backfilled` how many current events
-- it has read.
CREATE TABLE rollups (
    id           INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    definition   TEXT NOT NULL,
    filter_id    TEXT,
    ready        INTEGER NOT NULL DEFAULT 0,
    cursor       TEXT,
    backfilled   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, fingerprint)
) STRICT;

-- A rollup's partial evaluation of one customer's hour (`bucket`: its start
-- in milliseconds), as JSON. A clustered b-tree: a customer's hours are read
-- as one range.
CREATE TABLE rollup_cells (
    rollup_id    INTEGER NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (rollup_id, customer_id, bucket)
) STRICT, WITHOUT ROWID;

-- Every customer's hours of a rollup (an aggregator-wide time series).
CREATE INDEX rollup_cells_by_bucket ON rollup_cells (rollup_id, bucket);

-- Tally's SQLite schema, version 5: rollups (docs/rollups.md). Never edit
-- once landed: add a migration.

-- The rollups of one account's event type form a set: their cells of one
-- customer and hour are stored in one row.
CREATE TABLE rollup_sets (
    id           INTEGER PRIMARY KEY,
    account_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    UNIQUE (account_id, event_type)
) STRICT;

-- One row per rollup: an aggregator definition narrowed by one of its named
-- filters or not, identified in its account by a fingerprint of what its
-- cells depend on. `ready` = 0 while the backfill runs; `cursor` is the last
-- record id it added (NULL: none yet), `backfilled` how many current events
-- it has read. AUTOINCREMENT: an id is never reused, since a row of cells
-- keeps a dropped rollup's entry until the row is next written.
CREATE TABLE rollups (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    set_id       INTEGER NOT NULL REFERENCES rollup_sets (id),
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

-- The partials of a set's rollups for one customer's hour (`bucket`: its
-- start in milliseconds), as one JSON object keyed by rollup id. A clustered
-- b-tree: a customer's hours are read as one range.
CREATE TABLE rollup_cells (
    set_id       INTEGER NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (set_id, customer_id, bucket)
) STRICT, WITHOUT ROWID;

-- Every customer's hours of a set (an aggregator-wide time series).
CREATE INDEX rollup_cells_by_bucket ON rollup_cells (set_id, bucket);

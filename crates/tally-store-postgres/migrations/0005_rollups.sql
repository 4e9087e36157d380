-- Tally's PostgreSQL schema, version 5: rollups (docs/rollups.md). Never
-- edit once landed: add a migration.

-- The rollups of one account's event type form a set: their cells of one
-- customer and hour are stored in one row.
CREATE TABLE rollup_sets (
    id           BIGSERIAL PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL,
    event_type   TEXT COLLATE "C" NOT NULL,
    UNIQUE (account_id, event_type)
);

-- One row per rollup: an aggregator definition narrowed by one of its named
-- filters or not, identified in its account by a fingerprint of what its
-- cells depend on. `ready` is false while the backfill runs; `cursor` is the
-- last record id it added (NULL: none yet), `backfilled` how many current
-- events it has read. Ids are never reused (a row of cells keeps a dropped
-- rollup's entry until the row is next written).
CREATE TABLE rollups (
    id           BIGSERIAL PRIMARY KEY,
    set_id       BIGINT NOT NULL REFERENCES rollup_sets (id),
    account_id   TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT COLLATE "C" NOT NULL,
    event_type   TEXT COLLATE "C" NOT NULL,
    definition   JSON NOT NULL,
    filter_id    TEXT COLLATE "C",
    ready        BOOLEAN NOT NULL DEFAULT FALSE,
    cursor       TEXT COLLATE "C",
    backfilled   BIGINT NOT NULL DEFAULT 0,
    UNIQUE (account_id, fingerprint)
);

-- The partials of a set's rollups for one customer's hour (`bucket`: its
-- start in milliseconds), one JSON object keyed by rollup id, as text.
-- Written under the account's sequence lock, like the events they sum.
CREATE TABLE rollup_cells (
    set_id       BIGINT NOT NULL,
    customer_id  TEXT COLLATE "C" NOT NULL,
    bucket       BIGINT NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (set_id, customer_id, bucket)
);

-- Every customer's hours of a set (an aggregator-wide time series).
CREATE INDEX rollup_cells_by_bucket ON rollup_cells (set_id, bucket);

-- Tally's PostgreSQL schema, version 5: rollups (docs/rollups.md). Never
-- edit once landed: add a migration.

-- One row per rollup: an aggregator definition narrowed by one of its named
-- filters or not, identified in its account by a fingerprint of what its
-- cells depend on. `ready` is false while the backfill runs; `cursor` is the
-- last record id it added (NULL: none yet), `backfilled` how many current
-- events it has read.
CREATE TABLE rollups (
    id           BIGSERIAL PRIMARY KEY,
    account_id   TEXT COLLATE "C" NOT NULL,
    fingerprint  TEXT COLLATE "C" NOT NULL,
    event_type   TEXT COLLATE "C" NOT NULL,
    definition   JSONB NOT NULL,
    filter_id    TEXT COLLATE "C",
    ready        BOOLEAN NOT NULL DEFAULT FALSE,
    cursor       TEXT COLLATE "C",
    backfilled   BIGINT NOT NULL DEFAULT 0,
    UNIQUE (account_id, fingerprint)
);

-- A rollup's partial evaluation of one customer's hour (`bucket`: its start
-- in milliseconds), as JSON text. Written under the account's sequence lock,
-- like the events it sums.
CREATE TABLE rollup_cells (
    rollup_id    BIGINT NOT NULL,
    customer_id  TEXT COLLATE "C" NOT NULL,
    bucket       BIGINT NOT NULL,
    state        TEXT NOT NULL,
    PRIMARY KEY (rollup_id, customer_id, bucket)
);

-- Every customer's hours of a rollup (an aggregator-wide time series).
CREATE INDEX rollup_cells_by_bucket ON rollup_cells (rollup_id, bucket);

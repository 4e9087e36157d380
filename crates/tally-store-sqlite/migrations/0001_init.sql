-- Tally's SQLite schema, version 1. Never edit once landed: add a migration.
--
-- Every table but accounts and api_keys is keyed by (account_id, …): a row is
-- only reachable through its account. Timestamps are integer milliseconds since
-- the epoch (UTC); decimals are TEXT, their exact decimal text; JSON is TEXT.
-- No foreign keys: the billing layer checks references, and events (the hot
-- path) would pay a lookup per insert for nothing.

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE,
    settings    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- Only the SHA-256 of a key is stored; lookups go by hash.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY NOT NULL,
    account_id  TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE customers (
    account_id   TEXT NOT NULL,
    id           TEXT NOT NULL,
    external_id  TEXT,
    name         TEXT,
    type         TEXT NOT NULL,
    currency     TEXT,
    tax_rate     TEXT,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE UNIQUE INDEX customers_external_id
    ON customers (account_id, external_id) WHERE external_id IS NOT NULL;
CREATE INDEX customers_created ON customers (account_id, created_at, id);

CREATE TABLE aggregators (
    account_id  TEXT NOT NULL,
    id          TEXT NOT NULL,
    name        TEXT NOT NULL,
    event_type  TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE INDEX aggregators_event_type ON aggregators (account_id, event_type);

-- Price groups are stored with their product, as a JSON array: they are always
-- read and replaced together.
CREATE TABLE products (
    account_id     TEXT NOT NULL,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    aggregator_id  TEXT,
    currency       TEXT NOT NULL,
    min_amount     TEXT,
    max_amount     TEXT,
    price_groups   TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE TABLE subscriptions (
    account_id      TEXT NOT NULL,
    id              TEXT NOT NULL,
    customer_id     TEXT NOT NULL,
    product_ids     TEXT NOT NULL,
    starts_at       INTEGER NOT NULL,
    interval_unit   TEXT NOT NULL,
    interval_count  INTEGER NOT NULL,
    tax_rate        TEXT,
    currency        TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (account_id, id)
) STRICT;

CREATE INDEX subscriptions_customer ON subscriptions (account_id, customer_id);

-- The last invoice number given per account, bumped in the transaction that
-- inserts the invoice: a rolled back insert gives its number back.
CREATE TABLE invoice_sequences (
    account_id   TEXT PRIMARY KEY NOT NULL,
    last_number  INTEGER NOT NULL
) STRICT;

CREATE TABLE invoices (
    account_id       TEXT NOT NULL,
    id               TEXT NOT NULL,
    number           INTEGER NOT NULL,
    subscription_id  TEXT,
    customer_id      TEXT NOT NULL,
    status           TEXT NOT NULL,
    period_start     INTEGER NOT NULL,
    period_end       INTEGER NOT NULL,
    currency         TEXT NOT NULL,
    lines            TEXT NOT NULL,
    totals           TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    finalized_at     INTEGER,
    PRIMARY KEY (account_id, id),
    UNIQUE (account_id, number)
) STRICT;

-- One invoice per subscription period, whatever the creators' timing. NULL
-- subscription ids are distinct here, so invoices without one are unconstrained.
CREATE UNIQUE INDEX invoices_subscription_period
    ON invoices (account_id, subscription_id, period_start, period_end);

-- The current version of each event. A rowid table (not WITHOUT ROWID): records
-- may be up to 64 KiB, too large for a clustered b-tree. `revision` counts the
-- updates of the row (0 when inserted): the upsert returns it to tell created
-- from updated in the same statement.
CREATE TABLE events (
    account_id   TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    id           TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    record       TEXT NOT NULL,
    ingested_at  INTEGER NOT NULL,
    revision     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (account_id, event_type, record_id)
) STRICT;

-- Usage and streams: one customer, one type, a time range, in (ts, record_id) order.
CREATE INDEX events_usage ON events (account_id, customer_id, event_type, ts, record_id);
-- GET /v1/events without a customer: by time.
CREATE INDEX events_time ON events (account_id, ts);

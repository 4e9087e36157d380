-- Tally's PostgreSQL schema. Never edit a migration that has landed: add a new one.
--
-- Conventions:
-- * Every text column that is compared or sorted is COLLATE "C", so ordering and
--   comparisons are by bytes (as in the pure evaluator and the SQLite backend),
--   whatever collation the database was created with.
-- * Timestamps are BIGINT milliseconds since the epoch (UTC), as `Timestamp` is.
-- * Decimal amounts and rates are NUMERIC: exact, never floats.
-- * Documents owned by other crates (settings, aggregator definitions, price
--   groups, invoice lines and totals) are JSON, not JSONB: JSON keeps the text
--   as sent, so a number like 1.2345678901234567e+19 reads back exactly as
--   written, and nothing queries inside them. Event records are JSONB, because
--   filters and sums run on them in SQL; their numbers are exact decimals, and
--   JSONB keeps their value (it may rewrite the text, e.g. 1e2 as 100).
-- * Tenant-owned rows have (account_id, id) keys, so every lookup names its
--   account and another account's id is simply not found. They carry account_id
--   without a foreign key: the store traits scope every call by an account id
--   (the API layer authenticated it), accounts are never deleted, and the check
--   would cost every event insert. API keys are the exception: creating one for
--   an unknown account must fail.

CREATE TABLE accounts (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    settings    JSON   NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Only the SHA-256 of a key is stored; a request finds its account by the hash.
CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    account_id  TEXT COLLATE "C" NOT NULL REFERENCES accounts (id),
    hash        TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE customers (
    account_id    TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    external_id   TEXT COLLATE "C",
    name          TEXT,
    type          TEXT NOT NULL
        CHECK (type IN ('corporate', 'person', 'automatically_created')),
    currency      TEXT,
    tax_rate      NUMERIC,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, id),
    -- Also the arbiter of the concurrent auto-create (ON CONFLICT DO NOTHING);
    -- NULLs are distinct, so customers without an external id never clash.
    CONSTRAINT customers_external_id UNIQUE (account_id, external_id)
);
CREATE INDEX customers_created ON customers (account_id, created_at, id);

-- The key is the upsert key. `id` (evt_…) is what the API shows; nothing looks an
-- event up by it, so it has no index of its own (one less index per insert).
CREATE TABLE events (
    account_id   TEXT COLLATE "C" NOT NULL,
    event_type   TEXT COLLATE "C" NOT NULL,
    record_id    TEXT COLLATE "C" NOT NULL,
    id           TEXT COLLATE "C" NOT NULL,
    customer_id  TEXT COLLATE "C" NOT NULL,
    ts           BIGINT NOT NULL,
    record       JSONB  NOT NULL,
    ingested_at  BIGINT NOT NULL,
    CONSTRAINT events_key PRIMARY KEY (account_id, event_type, record_id)
);
-- Usage, aggregation and streaming: one customer, one event type, a time range.
CREATE INDEX events_customer_type_ts
    ON events (account_id, customer_id, event_type, ts, record_id);
-- GET /v1/events: an account's events in time order.
CREATE INDEX events_account_ts ON events (account_id, ts);

-- The aggregator's whole definition (filters included) is a document owned by
-- tally-aggregate; the event type is a column to find the aggregators an event
-- feeds.
CREATE TABLE aggregators (
    account_id  TEXT COLLATE "C" NOT NULL,
    id          TEXT COLLATE "C" NOT NULL,
    name        TEXT NOT NULL,
    event_type  TEXT COLLATE "C" NOT NULL,
    definition  JSON   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX aggregators_created ON aggregators (account_id, created_at, id);
CREATE INDEX aggregators_event_type ON aggregators (account_id, event_type);

-- Price groups are stored, read and replaced with their product, never alone,
-- so they are one JSON array rather than a child table.
CREATE TABLE products (
    account_id     TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    name           TEXT NOT NULL,
    kind           TEXT NOT NULL CHECK (kind IN ('usage', 'fee')),
    aggregator_id  TEXT COLLATE "C",
    currency       TEXT NOT NULL,
    min_amount     NUMERIC,
    max_amount     NUMERIC,
    price_groups   JSON   NOT NULL,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX products_created ON products (account_id, created_at, id);

CREATE TABLE subscriptions (
    account_id      TEXT COLLATE "C" NOT NULL,
    id              TEXT COLLATE "C" NOT NULL,
    customer_id     TEXT COLLATE "C" NOT NULL,
    product_ids     TEXT[] NOT NULL,
    starts_at       BIGINT NOT NULL,
    interval_unit   TEXT NOT NULL CHECK (interval_unit IN ('days', 'weeks', 'months', 'years')),
    interval_count  BIGINT NOT NULL CHECK (interval_count > 0),
    tax_rate        NUMERIC,
    currency        TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (account_id, id)
);
CREATE INDEX subscriptions_created ON subscriptions (account_id, created_at, id);
CREATE INDEX subscriptions_customer ON subscriptions (account_id, customer_id);

-- The last invoice number of each account (a counter row, not a SEQUENCE). Taken with one
-- INSERT … ON CONFLICT DO UPDATE … RETURNING inside the transaction that inserts
-- the invoice: the row lock serializes concurrent creators (from any number of
-- processes) and a rollback gives the number back, so numbers have no gaps. A
-- SEQUENCE would not do: nextval is never rolled back.
CREATE TABLE invoice_sequences (
    account_id   TEXT COLLATE "C" PRIMARY KEY,
    last_number  BIGINT NOT NULL
);

CREATE TABLE invoices (
    account_id       TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    number           BIGINT NOT NULL CHECK (number > 0),
    subscription_id  TEXT COLLATE "C",
    customer_id      TEXT COLLATE "C" NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('draft', 'finalized')),
    period_start     BIGINT NOT NULL,
    period_end       BIGINT NOT NULL CHECK (period_end > period_start),
    currency         TEXT NOT NULL,
    lines            JSON   NOT NULL,
    totals           JSON   NOT NULL,
    created_at       BIGINT NOT NULL,
    finalized_at     BIGINT,
    PRIMARY KEY (account_id, id),
    CONSTRAINT invoices_number UNIQUE (account_id, number)
);
-- One invoice per subscription period, whatever the creators' timing (NULLs
-- are distinct: invoices without a subscription are unconstrained). Its prefix
-- also serves the listing by subscription.
CREATE UNIQUE INDEX invoices_subscription_period
    ON invoices (account_id, subscription_id, period_start, period_end);
CREATE INDEX invoices_customer ON invoices (account_id, customer_id);

-- Tally's PostgreSQL schema, version 3: price versions, and what a finalized
-- invoice was computed from (docs/billing.md, "Finalization"). Never edit
-- once landed: add a migration.
--
-- `known_seq`: the account's ingestion sequence number the invoice's lines
-- were read at; every later read of the invoice's events is as of it.
-- `basis`: the snapshot of what priced it (products, price groups, bounds,
-- aggregator definitions, tax rate), opaque JSON shaped by tally-billing.
-- Both stay NULL for drafts, and for invoices finalized before version 3
-- (they keep their event fingerprints).
ALTER TABLE invoices ADD COLUMN known_seq BIGINT;
ALTER TABLE invoices ADD COLUMN basis JSON;

-- Every version of a product's prices (price groups and bounds), each with
-- the instant from which it prices periods (docs/billing.md, "Price
-- versions"): opaque JSON shaped by tally-billing. The product's own columns
-- hold its latest version. `[]` for products created before version 3: their
-- columns are their one version.
ALTER TABLE products ADD COLUMN price_versions JSON NOT NULL DEFAULT '[]';

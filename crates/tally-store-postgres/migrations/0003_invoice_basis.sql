-- Tally's PostgreSQL schema, version 3: what a finalized invoice was computed
-- from (docs/billing.md, "Finalization"). Never edit once landed: add a
-- migration.
--
-- `known_seq`: the account's ingestion sequence number the invoice's lines
-- were read at; every later read of the invoice's events is as of it.
-- `basis`: the snapshot of what priced it (products, price groups, bounds,
-- aggregator definitions, tax rate), opaque JSON shaped by tally-billing.
-- Both stay NULL for drafts, and for invoices finalized before version 3
-- (they keep their event fingerprints).
ALTER TABLE invoices ADD COLUMN known_seq BIGINT;
ALTER TABLE invoices ADD COLUMN basis JSON;

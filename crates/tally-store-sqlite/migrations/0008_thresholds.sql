-- Usage thresholds' states (docs/entitlements.md, "Thresholds";
-- docs/storage.md). Never edit once landed: add a migration.
--
-- One row per customer, threshold and period, written only by a
-- compare-and-set on `version` (the row as the evaluation read it) in the
-- transaction that also writes the webhook events announcing the move.
-- `threshold_key` is `aggregator:{id}:{gte|gt}:{value}` or
-- `feature:{code}:{percent}`; `usage` the exact decimal as text.
CREATE TABLE threshold_states (
    account_id     TEXT NOT NULL,
    customer_id    TEXT NOT NULL,
    threshold_key  TEXT NOT NULL,
    period_start   INTEGER NOT NULL,
    period_end     INTEGER NOT NULL,
    crossed        INTEGER NOT NULL,
    usage          TEXT NOT NULL,
    seq            INTEGER NOT NULL,
    version        INTEGER NOT NULL,
    changed_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, customer_id, threshold_key, period_start)
) STRICT;

-- After a deletion: the customers with a crossed threshold in a current period.
CREATE INDEX threshold_states_crossed ON threshold_states (account_id, period_end)
    WHERE crossed = 1;

-- A deleted customer's states go with it, in the statement that deletes it.
CREATE TRIGGER customers_drop_threshold_states AFTER DELETE ON customers
BEGIN
    DELETE FROM threshold_states
    WHERE account_id = old.account_id AND customer_id = old.id;
END;

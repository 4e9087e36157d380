-- Usage thresholds' states (docs/entitlements.md, "Thresholds";
-- docs/storage.md). Never edit once landed: add a migration.
--
-- One row per customer, threshold and period, written only by a
-- compare-and-set on `version` (the row as the evaluation read it) in the
-- transaction that also writes the webhook events announcing the move.
-- `threshold_key` is `aggregator:{id}:{gte|gt}:{value}` or
-- `feature:{code}:{percent}`; `usage` the exact decimal as text.
CREATE TABLE threshold_states (
    account_id     TEXT COLLATE "C" NOT NULL,
    customer_id    TEXT COLLATE "C" NOT NULL,
    threshold_key  TEXT COLLATE "C" NOT NULL,
    period_start   BIGINT NOT NULL,
    period_end     BIGINT NOT NULL,
    crossed        BOOLEAN NOT NULL,
    usage          TEXT NOT NULL,
    seq            BIGINT NOT NULL,
    version        BIGINT NOT NULL,
    changed_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, customer_id, threshold_key, period_start)
);

-- After a deletion: the customers with a crossed threshold in a current period.
CREATE INDEX threshold_states_crossed ON threshold_states (account_id, period_end)
    WHERE crossed;

-- A deleted customer's states go with it, in the statement that deletes it.
CREATE FUNCTION drop_customer_threshold_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM threshold_states
    WHERE account_id = OLD.account_id AND customer_id = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER customers_drop_threshold_states AFTER DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION drop_customer_threshold_states();

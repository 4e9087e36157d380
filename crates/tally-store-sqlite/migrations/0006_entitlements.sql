-- Features and entitlements (docs/entitlements.md; docs/storage.md). Never edit
-- once landed: add a migration.
--
-- A feature is addressed by its code, unique in its account and never
-- changed, so entitlements refer to it by code. Values are text: `true`,
-- `false`, `unlimited` or a decimal; `threshold_percents` a JSON array of
-- decimals (percent of a usage limit).
CREATE TABLE features (
    account_id            TEXT NOT NULL,
    code                  TEXT NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT,
    value_type            TEXT NOT NULL,
    default_value         TEXT NOT NULL,
    resolution_strategy   TEXT,
    aggregator_id         TEXT,
    aggregator_filter_id  TEXT,
    threshold_percents    TEXT NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL,
    PRIMARY KEY (account_id, code)
) STRICT;

CREATE INDEX features_created ON features (account_id, created_at, code);

CREATE TABLE product_entitlements (
    account_id    TEXT NOT NULL,
    product_id    TEXT NOT NULL,
    feature_code  TEXT NOT NULL,
    value         TEXT NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, product_id, feature_code)
) STRICT;

CREATE TABLE customer_entitlements (
    account_id    TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    feature_code  TEXT NOT NULL,
    value         TEXT NOT NULL,
    reason        TEXT,
    expires_at    INTEGER,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account_id, customer_id, feature_code)
) STRICT;

-- A product's or a customer's entitlements go with it, in the statement that
-- deletes it.
CREATE TRIGGER products_drop_entitlements AFTER DELETE ON products
BEGIN
    DELETE FROM product_entitlements
    WHERE account_id = old.account_id AND product_id = old.id;
END;

CREATE TRIGGER customers_drop_entitlements AFTER DELETE ON customers
BEGIN
    DELETE FROM customer_entitlements
    WHERE account_id = old.account_id AND customer_id = old.id;
END;

-- Features and entitlements (docs/entitlements.md; docs/storage.md). Conventions as
-- in 0001 (text keys COLLATE "C", BIGINT milliseconds). Never edit once
-- landed: add a migration.
--
-- A feature is addressed by its code, unique in its account and never
-- changed, so entitlements refer to it by code. Values are text: `true`,
-- `false`, `unlimited` or a decimal; `threshold_percents` a JSON array of
-- decimals (percent of a usage limit).
CREATE TABLE features (
    account_id            TEXT COLLATE "C" NOT NULL,
    code                  TEXT COLLATE "C" NOT NULL,
    name                  TEXT NOT NULL,
    description           TEXT,
    value_type            TEXT NOT NULL CHECK (value_type IN ('boolean', 'number')),
    default_value         TEXT NOT NULL,
    resolution_strategy   TEXT CHECK (resolution_strategy IN ('maximum', 'sum')),
    aggregator_id         TEXT COLLATE "C",
    aggregator_filter_id  TEXT COLLATE "C",
    threshold_percents    TEXT NOT NULL,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL,
    CONSTRAINT features_pkey PRIMARY KEY (account_id, code)
);
CREATE INDEX features_created ON features (account_id, created_at, code);

CREATE TABLE product_entitlements (
    account_id    TEXT COLLATE "C" NOT NULL,
    product_id    TEXT COLLATE "C" NOT NULL,
    feature_code  TEXT COLLATE "C" NOT NULL,
    value         TEXT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, product_id, feature_code)
);

CREATE TABLE customer_entitlements (
    account_id    TEXT COLLATE "C" NOT NULL,
    customer_id   TEXT COLLATE "C" NOT NULL,
    feature_code  TEXT COLLATE "C" NOT NULL,
    value         TEXT NOT NULL,
    reason        TEXT,
    expires_at    BIGINT,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (account_id, customer_id, feature_code)
);

-- A product's or a customer's entitlements go with it, in the statement that
-- deletes it.
CREATE FUNCTION drop_product_entitlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM product_entitlements
    WHERE account_id = OLD.account_id AND product_id = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER products_drop_entitlements AFTER DELETE ON products
    FOR EACH ROW EXECUTE FUNCTION drop_product_entitlements();

CREATE FUNCTION drop_customer_entitlements() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM customer_entitlements
    WHERE account_id = OLD.account_id AND customer_id = OLD.id;
    RETURN NULL;
END;
$$;
CREATE TRIGGER customers_drop_entitlements AFTER DELETE ON customers
    FOR EACH ROW EXECUTE FUNCTION drop_customer_entitlements();

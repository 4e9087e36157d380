//! Catalog documents read back typed and written again keep the text stored
//! before records were typed (no migration rewrites them), and a row that no
//! longer parses is `Corrupt`, naming its record.

use sqlx::sqlite::SqliteConnectOptions;
use tally_event::Timestamp;
use tally_store::{
    Account, AccountId, AccountStore, AggregatorId, CatalogStore, ProductId, StoreError,
};
use tally_store_sqlite::SqliteStore;

const ACCOUNT: &str = "acc_AAAAAAAAAAAAAAAAAAAAAA";
const AGGREGATOR: &str = "agg_AAAAAAAAAAAAAAAAAAAAAA";
const PRODUCT: &str = "itm_AAAAAAAAAAAAAAAAAAAAAA";
const DEFINITION: &str = r#"{"allow_negative_values":false,"custom_event_name":null,"event_type":"calls","exposed_event_keys":null,"filters":[{"id":"agf_AAAAAAAAAAAAAAAAAAAAAA","name":"premium","where":null}],"formula":null,"name":"API calls","operation":"sum","property":"amount","type":"metered","unit_name":null,"where":{"conditional":"and","fields":[{"operator":"greater_than","property":"weight","value":12345678901234567890.5}]}}"#;
const PRICE_GROUPS: &str = r#"[{"aggregator_filter_id":"agf_AAAAAAAAAAAAAAAAAAAAAA","id":"grp_AAAAAAAAAAAAAAAAAAAAAA","name":"premium","price":{"tiers":[{"flat_amount":"0","unit_amount":"0.0015","up_to":"1000"},{"flat_amount":"500.00","unit_amount":"0.0010","up_to":null}],"type":"graduated"}}]"#;
const PRICE_VERSIONS: &str = r#"[{"created_at":"2024-11-01T00:00:00.000Z","effective_from":null,"max_amount":"100000","min_amount":null,"price_groups":[{"aggregator_filter_id":"agf_AAAAAAAAAAAAAAAAAAAAAA","id":"grp_AAAAAAAAAAAAAAAAAAAAAA","name":"premium","price":{"tiers":[{"flat_amount":"0","unit_amount":"0.0015","up_to":"1000"},{"flat_amount":"500.00","unit_amount":"0.0010","up_to":null}],"type":"graduated"}}],"version":1}]"#;

type Row = (
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
);

const STORED: &str = "\
SELECT a.definition, p.price_groups, p.price_versions, p.min_amount, p.max_amount, p.currency
FROM aggregators a JOIN products p ON p.aggregator_id = a.id";

async fn raw_pool(path: &std::path::Path) -> sqlx::SqlitePool {
    let options = SqliteConnectOptions::new().filename(path);
    sqlx::SqlitePool::connect_with(options).await.unwrap()
}

#[tokio::test]
async fn catalog_documents_keep_their_stored_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tally.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let account = AccountId::parse(ACCOUNT).unwrap();
    let created_at = Timestamp::from_millis(0).unwrap();
    let settings = serde_json::json!({});
    let tenant = Account {
        id: account.clone(),
        name: "acme".into(),
        settings,
        created_at,
    };
    store.create_account(&tenant).await.unwrap();
    let pool = raw_pool(&path).await;
    let statements = [
        format!(
            "INSERT INTO aggregators (account_id, id, name, event_type, definition, created_at) \
             VALUES ('{ACCOUNT}', '{AGGREGATOR}', 'API calls', 'calls', '{DEFINITION}', 1)"
        ),
        format!(
            "INSERT INTO products (account_id, id, name, kind, aggregator_id, currency, \
             min_amount, max_amount, price_groups, created_at, price_versions) \
             VALUES ('{ACCOUNT}', '{PRODUCT}', 'API calls', 'usage', '{AGGREGATOR}', 'EUR', \
             NULL, '100000', '{PRICE_GROUPS}', 2, '{PRICE_VERSIONS}')"
        ),
    ];
    for statement in &statements {
        sqlx::query(statement).execute(&pool).await.unwrap();
    }
    let before: Row = sqlx::query_as(STORED).fetch_one(&pool).await.unwrap();

    let aggregator_id = AggregatorId::parse(AGGREGATOR).unwrap();
    let aggregator = store
        .get_aggregator(&account, &aggregator_id)
        .await
        .unwrap();
    store
        .update_aggregator(&account, &aggregator)
        .await
        .unwrap();
    let product_id = ProductId::parse(PRODUCT).unwrap();
    let product = store.get_product(&account, &product_id).await.unwrap();
    assert_eq!(product.bounds.max_amount(), Some(100_000));
    store.update_product(&account, &product).await.unwrap();

    let after: Row = sqlx::query_as(STORED).fetch_one(&pool).await.unwrap();
    assert_eq!(after, before);
    assert_eq!(after.0, DEFINITION);
    assert_eq!(
        (after.1.as_str(), after.2.as_str()),
        (PRICE_GROUPS, PRICE_VERSIONS)
    );
}

#[tokio::test]
async fn a_price_that_no_longer_parses_is_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tally.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let account = AccountId::parse(ACCOUNT).unwrap();
    let tenant = Account {
        id: account.clone(),
        name: "acme".into(),
        settings: serde_json::json!({}),
        created_at: Timestamp::from_millis(0).unwrap(),
    };
    store.create_account(&tenant).await.unwrap();
    let negative = PRICE_GROUPS.replace("\"0.0015\"", "\"-1\"");
    let insert = format!(
        "INSERT INTO products (account_id, id, name, kind, aggregator_id, currency, \
         min_amount, max_amount, price_groups, created_at, price_versions) \
         VALUES ('{ACCOUNT}', '{PRODUCT}', 'Fee', 'fee', NULL, 'EUR', NULL, NULL, \
         '{negative}', 2, '[]')"
    );
    let pool = raw_pool(&path).await;
    sqlx::query(&insert).execute(&pool).await.unwrap();
    let product_id = ProductId::parse(PRODUCT).unwrap();
    match store.get_product(&account, &product_id).await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains(PRODUCT), "{message}"),
        other => panic!("expected corrupt, got {other:?}"),
    }
}

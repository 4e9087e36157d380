//! `CatalogStore` for SQLite: aggregators and products.

use async_trait::async_trait;
use tally_event::EventType;
use tally_store::documents::{bound_columns, to_document};
use tally_store::{
    AccountId, AggregatorId, AggregatorRecord, CatalogStore, Page, PageRequest, Product, ProductId,
    StoreResult,
};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::rows::{AggregatorRow, ProductRow, decimal_text};
use crate::scoped::one_row;

const INSERT_AGGREGATOR: &str = "\
INSERT INTO aggregators (account_id, id, name, event_type, definition, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const AGGREGATOR_BY_ID: &str = "\
SELECT id, name, event_type, definition, created_at FROM aggregators
WHERE account_id = ?1 AND id = ?2";
const AGGREGATORS_OF_TYPE: &str = "\
SELECT id, name, event_type, definition, created_at FROM aggregators
WHERE account_id = ?1 AND event_type = ?2 ORDER BY created_at, id";
const COUNT_AGGREGATORS: &str = "SELECT COUNT(*) FROM aggregators WHERE account_id = ?1";
const AGGREGATOR_PAGE: &str = "\
SELECT id, name, event_type, definition, created_at FROM aggregators
WHERE account_id = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3";
const UPDATE_AGGREGATOR: &str = "\
UPDATE aggregators SET name = ?3, event_type = ?4, definition = ?5
WHERE account_id = ?1 AND id = ?2";
const DELETE_AGGREGATOR: &str = "DELETE FROM aggregators WHERE account_id = ?1 AND id = ?2";

const INSERT_PRODUCT: &str = "\
INSERT INTO products (account_id, id, name, kind, aggregator_id, currency, min_amount,
                      max_amount, price_groups, created_at, price_versions)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
const PRODUCT_BY_ID: &str = "\
SELECT id, name, kind, aggregator_id, currency, min_amount, max_amount, price_groups, created_at,
       price_versions
FROM products WHERE account_id = ?1 AND id = ?2";
const COUNT_PRODUCTS: &str = "SELECT COUNT(*) FROM products WHERE account_id = ?1";
const PRODUCT_PAGE: &str = "\
SELECT id, name, kind, aggregator_id, currency, min_amount, max_amount, price_groups, created_at,
       price_versions
FROM products WHERE account_id = ?1 ORDER BY created_at, id LIMIT ?2 OFFSET ?3";
const UPDATE_PRODUCT: &str = "\
UPDATE products SET name = ?3, kind = ?4, aggregator_id = ?5, currency = ?6, min_amount = ?7,
                    max_amount = ?8, price_groups = ?9, price_versions = ?10
WHERE account_id = ?1 AND id = ?2";
const DELETE_PRODUCT: &str = "DELETE FROM products WHERE account_id = ?1 AND id = ?2";

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn create_aggregator(
        &self,
        account: &AccountId,
        a: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        sqlx::query(INSERT_AGGREGATOR)
            .bind(account.as_str())
            .bind(a.id.as_str())
            .bind(&a.name)
            .bind(a.event_type.as_str())
            .bind(to_document(&a.definition)?.to_string())
            .bind(a.created_at.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err("aggregator"))?;
        Ok(a.clone())
    }

    async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &AggregatorId,
    ) -> StoreResult<AggregatorRecord> {
        self.fetch_scoped::<AggregatorRow, _>(AGGREGATOR_BY_ID, account, id.as_str(), "aggregator")
            .await
    }

    async fn list_aggregators(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<AggregatorRecord>> {
        let sql = (COUNT_AGGREGATORS, AGGREGATOR_PAGE);
        self.page_scoped::<AggregatorRow, _>(sql, account, page, "aggregator")
            .await
    }

    async fn aggregators_for_event_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
    ) -> StoreResult<Vec<AggregatorRecord>> {
        let rows: Vec<AggregatorRow> = sqlx::query_as(AGGREGATORS_OF_TYPE)
            .bind(account.as_str())
            .bind(event_type.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("aggregator"))?;
        rows.into_iter().map(AggregatorRecord::try_from).collect()
    }

    async fn update_aggregator(
        &self,
        account: &AccountId,
        a: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        let done = sqlx::query(UPDATE_AGGREGATOR)
            .bind(account.as_str())
            .bind(a.id.as_str())
            .bind(&a.name)
            .bind(a.event_type.as_str())
            .bind(to_document(&a.definition)?.to_string())
            .execute(&self.writer)
            .await
            .map_err(db_err("aggregator"))?;
        one_row(done.rows_affected(), "aggregator")?;
        self.get_aggregator(account, &a.id).await
    }

    async fn delete_aggregator(&self, account: &AccountId, id: &AggregatorId) -> StoreResult<()> {
        self.delete_scoped(DELETE_AGGREGATOR, account, id.as_str(), "aggregator")
            .await
    }

    async fn create_product(&self, account: &AccountId, p: &Product) -> StoreResult<Product> {
        let (min_amount, max_amount) = bound_columns(p.bounds);
        sqlx::query(INSERT_PRODUCT)
            .bind(account.as_str())
            .bind(p.id.as_str())
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(p.aggregator_id.as_ref().map(|a| a.as_str()))
            .bind(p.currency.code())
            .bind(decimal_text(min_amount))
            .bind(decimal_text(max_amount))
            .bind(to_document(&p.price_groups)?.to_string())
            .bind(p.created_at.as_millis())
            .bind(to_document(&p.price_versions)?.to_string())
            .execute(&self.writer)
            .await
            .map_err(db_err("product"))?;
        Ok(p.clone())
    }

    async fn get_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<Product> {
        self.fetch_scoped::<ProductRow, _>(PRODUCT_BY_ID, account, id.as_str(), "product")
            .await
    }

    async fn list_products(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Product>> {
        let sql = (COUNT_PRODUCTS, PRODUCT_PAGE);
        self.page_scoped::<ProductRow, _>(sql, account, page, "product")
            .await
    }

    async fn update_product(&self, account: &AccountId, p: &Product) -> StoreResult<Product> {
        let (min_amount, max_amount) = bound_columns(p.bounds);
        let done = sqlx::query(UPDATE_PRODUCT)
            .bind(account.as_str())
            .bind(p.id.as_str())
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(p.aggregator_id.as_ref().map(|a| a.as_str()))
            .bind(p.currency.code())
            .bind(decimal_text(min_amount))
            .bind(decimal_text(max_amount))
            .bind(to_document(&p.price_groups)?.to_string())
            .bind(to_document(&p.price_versions)?.to_string())
            .execute(&self.writer)
            .await
            .map_err(db_err("product"))?;
        one_row(done.rows_affected(), "product")?;
        self.get_product(account, &p.id).await
    }

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<()> {
        self.delete_scoped(DELETE_PRODUCT, account, id.as_str(), "product")
            .await
    }
}

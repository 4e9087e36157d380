//! `CatalogStore`: aggregators and products.

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value as Json;
use tally_event::EventType;
use tally_store::documents::{self, bound_columns, to_document};
use tally_store::{
    AccountId, AggregatorId, AggregatorRecord, CatalogStore, Page, PageRequest, Product, ProductId,
    ProductKind, StoreError, StoreResult,
};

use crate::rows::{corrupt, parse, parse_opt, timestamp};
use crate::scoped::found;
use crate::{PgStore, map_sqlx_error};

const INSERT_AGGREGATOR: &str = "INSERT INTO aggregators \
     (account_id, id, name, event_type, definition, created_at) VALUES ($1, $2, $3, $4, $5::json, $6)";
const GET_AGGREGATOR: &str = "SELECT id, name, event_type, definition, created_at \
     FROM aggregators WHERE account_id = $1 AND id = $2";
const LIST_AGGREGATORS: &str = "SELECT id, name, event_type, definition, created_at \
     FROM aggregators WHERE account_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3";
const COUNT_AGGREGATORS: &str = "SELECT count(*) FROM aggregators WHERE account_id = $1";
const AGGREGATORS_FOR_TYPE: &str = "SELECT id, name, event_type, definition, created_at \
     FROM aggregators WHERE account_id = $1 AND event_type = $2 ORDER BY created_at, id";
const UPDATE_AGGREGATOR: &str = "UPDATE aggregators SET name = $3, event_type = $4, \
     definition = $5::json WHERE account_id = $1 AND id = $2 \
     RETURNING id, name, event_type, definition, created_at";
const DELETE_AGGREGATOR: &str = "DELETE FROM aggregators WHERE account_id = $1 AND id = $2";

const INSERT_PRODUCT: &str = "INSERT INTO products (account_id, id, name, kind, aggregator_id, \
     currency, min_amount, max_amount, price_groups, price_versions, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::json, $10::json, $11)";
const GET_PRODUCT: &str = "SELECT id, name, kind, aggregator_id, currency, min_amount, \
     max_amount, price_groups, price_versions, created_at FROM products \
     WHERE account_id = $1 AND id = $2";
const LIST_PRODUCTS: &str = "SELECT id, name, kind, aggregator_id, currency, min_amount, \
     max_amount, price_groups, price_versions, created_at FROM products WHERE account_id = $1 \
     ORDER BY created_at, id LIMIT $2 OFFSET $3";
const COUNT_PRODUCTS: &str = "SELECT count(*) FROM products WHERE account_id = $1";
const UPDATE_PRODUCT: &str = "UPDATE products SET name = $3, kind = $4, aggregator_id = $5, \
     currency = $6, min_amount = $7, max_amount = $8, price_groups = $9::json, \
     price_versions = $10::json WHERE account_id = $1 AND id = $2 \
     RETURNING id, name, kind, aggregator_id, currency, min_amount, max_amount, price_groups, \
     price_versions, created_at";
const DELETE_PRODUCT: &str = "DELETE FROM products WHERE account_id = $1 AND id = $2";

#[derive(sqlx::FromRow)]
struct AggregatorRow {
    id: String,
    name: String,
    event_type: String,
    definition: Json,
    created_at: i64,
}

impl TryFrom<AggregatorRow> for AggregatorRecord {
    type Error = StoreError;

    fn try_from(row: AggregatorRow) -> StoreResult<Self> {
        let id = parse(row.id, "aggregators.id")?;
        Ok(AggregatorRecord {
            definition: documents::aggregator_definition(&id, row.definition)?,
            id,
            name: row.name,
            event_type: parse(row.event_type, "aggregators.event_type")?,
            created_at: timestamp(row.created_at, "aggregators.created_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProductRow {
    id: String,
    name: String,
    kind: String,
    aggregator_id: Option<String>,
    currency: String,
    min_amount: Option<Decimal>,
    max_amount: Option<Decimal>,
    price_groups: Json,
    price_versions: Json,
    created_at: i64,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(row: ProductRow) -> StoreResult<Self> {
        let id = parse(row.id, "products.id")?;
        let kind =
            ProductKind::parse(&row.kind).ok_or_else(|| corrupt("products.kind", &row.kind))?;
        Ok(Product {
            name: row.name,
            kind,
            aggregator_id: parse_opt(row.aggregator_id, "products.aggregator_id")?,
            currency: documents::currency(&id, &row.currency)?,
            bounds: documents::bounds(&id, row.min_amount, row.max_amount)?,
            price_groups: documents::price_groups(&id, row.price_groups)?,
            price_versions: documents::price_versions(&id, row.price_versions)?,
            created_at: timestamp(row.created_at, "products.created_at")?,
            id,
        })
    }
}

#[async_trait]
impl CatalogStore for PgStore {
    async fn create_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        sqlx::query(INSERT_AGGREGATOR)
            .bind(account.as_str())
            .bind(aggregator.id.as_str())
            .bind(&aggregator.name)
            .bind(aggregator.event_type.as_str())
            .bind(to_document(&aggregator.definition)?.to_string())
            .bind(aggregator.created_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(aggregator.clone())
    }

    async fn get_aggregator(
        &self,
        account: &AccountId,
        id: &AggregatorId,
    ) -> StoreResult<AggregatorRecord> {
        self.fetch_scoped::<AggregatorRow, _>(GET_AGGREGATOR, account, id.as_str(), "aggregator")
            .await
    }

    async fn list_aggregators(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<AggregatorRecord>> {
        let sql = (COUNT_AGGREGATORS, LIST_AGGREGATORS);
        self.page_scoped::<AggregatorRow, _>(sql, account, &[], page)
            .await
    }

    async fn aggregators_for_event_type(
        &self,
        account: &AccountId,
        event_type: &EventType,
    ) -> StoreResult<Vec<AggregatorRecord>> {
        let rows: Vec<AggregatorRow> = sqlx::query_as(AGGREGATORS_FOR_TYPE)
            .bind(account.as_str())
            .bind(event_type.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    async fn update_aggregator(
        &self,
        account: &AccountId,
        aggregator: &AggregatorRecord,
    ) -> StoreResult<AggregatorRecord> {
        let row: Option<AggregatorRow> = sqlx::query_as(UPDATE_AGGREGATOR)
            .bind(account.as_str())
            .bind(aggregator.id.as_str())
            .bind(&aggregator.name)
            .bind(aggregator.event_type.as_str())
            .bind(to_document(&aggregator.definition)?.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        found(row, "aggregator")
    }

    async fn delete_aggregator(&self, account: &AccountId, id: &AggregatorId) -> StoreResult<()> {
        self.delete_scoped(DELETE_AGGREGATOR, account, id.as_str(), "aggregator")
            .await
    }

    async fn create_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        self.write_product(
            INSERT_PRODUCT,
            account,
            product,
            Some(product.created_at.as_millis()),
        )
        .await?;
        Ok(product.clone())
    }

    async fn get_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<Product> {
        self.fetch_scoped::<ProductRow, _>(GET_PRODUCT, account, id.as_str(), "product")
            .await
    }

    async fn list_products(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Product>> {
        let sql = (COUNT_PRODUCTS, LIST_PRODUCTS);
        self.page_scoped::<ProductRow, _>(sql, account, &[], page)
            .await
    }

    async fn update_product(&self, account: &AccountId, product: &Product) -> StoreResult<Product> {
        let row = self
            .write_product(UPDATE_PRODUCT, account, product, None)
            .await?;
        found(row, "product")
    }

    async fn delete_product(&self, account: &AccountId, id: &ProductId) -> StoreResult<()> {
        self.delete_scoped(DELETE_PRODUCT, account, id.as_str(), "product")
            .await
    }
}

impl PgStore {
    /// Binds a product's columns in table order ($1..$10), plus `created_at` as
    /// $11 for an insert; returns the row an update's `RETURNING` gives.
    async fn write_product(
        &self,
        sql: &str,
        account: &AccountId,
        p: &Product,
        created_at: Option<i64>,
    ) -> StoreResult<Option<ProductRow>> {
        let (min_amount, max_amount) = bound_columns(p.bounds);
        let mut query = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(p.id.as_str())
            .bind(&p.name)
            .bind(p.kind.as_str())
            .bind(p.aggregator_id.as_ref().map(AggregatorId::as_str))
            .bind(p.currency.code())
            .bind(min_amount)
            .bind(max_amount)
            .bind(to_document(&p.price_groups)?.to_string())
            .bind(to_document(&p.price_versions)?.to_string());
        if let Some(created_at) = created_at {
            query = query.bind(created_at);
        }
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)
    }
}

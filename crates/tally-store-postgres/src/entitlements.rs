//! `EntitlementStore`: features, product and customer entitlements (migration
//! 0006; a deleted product or customer takes its entitlements with it by
//! trigger).

use async_trait::async_trait;
use tally_store::{
    AccountId, AggregatorFilterId, AggregatorId, CustomerEntitlement, CustomerId, EntitlementStore,
    Feature, FeatureValue, FeatureValueType, Page, PageRequest, ProductEntitlement, ProductId,
    ResolutionStrategy, StoreError, StoreResult,
};

use tally_store::entitlements::{percents_from_text, percents_to_text};

use crate::rows::{corrupt, parse, parse_opt, timestamp, timestamp_opt};
use crate::scoped::found;
use crate::{PgStore, map_sqlx_error};

const FEATURE_COLUMNS: &str = "code, name, description, value_type, default_value, \
     resolution_strategy, aggregator_id, aggregator_filter_id, created_at, updated_at, \
     threshold_percents";
const INSERT_FEATURE: &str = "INSERT INTO features (account_id, code, name, description, \
     value_type, default_value, resolution_strategy, aggregator_id, aggregator_filter_id, \
     created_at, updated_at, threshold_percents) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
const UPDATE_FEATURE: &str = "UPDATE features SET name = $3, description = $4, \
     default_value = $5, resolution_strategy = $6, aggregator_id = $7, \
     aggregator_filter_id = $8, updated_at = $9, threshold_percents = $10 \
     WHERE account_id = $1 AND code = $2 \
     RETURNING code, name, description, value_type, default_value, resolution_strategy, \
     aggregator_id, aggregator_filter_id, created_at, updated_at, threshold_percents";
const COUNT_FEATURES: &str = "SELECT count(*) FROM features WHERE account_id = $1";

const PUT_PRODUCT_ENTITLEMENT: &str = "INSERT INTO product_entitlements \
     (account_id, product_id, feature_code, value, updated_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (account_id, product_id, feature_code) \
     DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at";
const DELETE_PRODUCT_ENTITLEMENT: &str = "DELETE FROM product_entitlements \
     WHERE account_id = $1 AND product_id = $2 AND feature_code = $3";
const PRODUCT_ENTITLEMENTS: &str = "SELECT product_id, feature_code, value, updated_at \
     FROM product_entitlements WHERE account_id = $1 AND product_id = ANY($2) \
     ORDER BY product_id, feature_code";

const PUT_CUSTOMER_ENTITLEMENT: &str = "INSERT INTO customer_entitlements \
     (account_id, customer_id, feature_code, value, reason, expires_at, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (account_id, customer_id, feature_code) \
     DO UPDATE SET value = EXCLUDED.value, reason = EXCLUDED.reason, \
     expires_at = EXCLUDED.expires_at, updated_at = EXCLUDED.updated_at";
const DELETE_CUSTOMER_ENTITLEMENT: &str = "DELETE FROM customer_entitlements \
     WHERE account_id = $1 AND customer_id = $2 AND feature_code = $3";
const CUSTOMER_ENTITLEMENTS: &str = "SELECT customer_id, feature_code, value, reason, \
     expires_at, updated_at FROM customer_entitlements \
     WHERE account_id = $1 AND customer_id = $2 ORDER BY feature_code";

#[derive(sqlx::FromRow)]
struct FeatureRow {
    code: String,
    name: String,
    description: Option<String>,
    value_type: String,
    default_value: String,
    resolution_strategy: Option<String>,
    aggregator_id: Option<String>,
    aggregator_filter_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    threshold_percents: String,
}

impl TryFrom<FeatureRow> for Feature {
    type Error = StoreError;

    fn try_from(row: FeatureRow) -> StoreResult<Self> {
        let value_type = FeatureValueType::parse(&row.value_type)
            .ok_or_else(|| corrupt("value_type", &row.value_type))?;
        let resolution_strategy = row
            .resolution_strategy
            .map(|text| {
                ResolutionStrategy::parse(&text)
                    .ok_or_else(|| corrupt("resolution_strategy", &text))
            })
            .transpose()?;
        Ok(Feature {
            code: row.code,
            name: row.name,
            description: row.description,
            value_type,
            default_value: FeatureValue::from_text(&row.default_value)?,
            resolution_strategy,
            aggregator_id: parse_opt::<AggregatorId>(row.aggregator_id, "aggregator_id")?,
            aggregator_filter_id: parse_opt::<AggregatorFilterId>(
                row.aggregator_filter_id,
                "aggregator_filter_id",
            )?,
            threshold_percents: percents_from_text(&row.threshold_percents)?,
            created_at: timestamp(row.created_at, "created_at")?,
            updated_at: timestamp(row.updated_at, "updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ProductEntitlementRow {
    product_id: String,
    feature_code: String,
    value: String,
    updated_at: i64,
}

impl TryFrom<ProductEntitlementRow> for ProductEntitlement {
    type Error = StoreError;

    fn try_from(row: ProductEntitlementRow) -> StoreResult<Self> {
        Ok(ProductEntitlement {
            product_id: parse::<ProductId>(row.product_id, "product_id")?,
            feature_code: row.feature_code,
            value: FeatureValue::from_text(&row.value)?,
            updated_at: timestamp(row.updated_at, "updated_at")?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CustomerEntitlementRow {
    customer_id: String,
    feature_code: String,
    value: String,
    reason: Option<String>,
    expires_at: Option<i64>,
    updated_at: i64,
}

impl TryFrom<CustomerEntitlementRow> for CustomerEntitlement {
    type Error = StoreError;

    fn try_from(row: CustomerEntitlementRow) -> StoreResult<Self> {
        Ok(CustomerEntitlement {
            customer_id: parse::<CustomerId>(row.customer_id, "customer_id")?,
            feature_code: row.feature_code,
            value: FeatureValue::from_text(&row.value)?,
            reason: row.reason,
            expires_at: timestamp_opt(row.expires_at, "expires_at")?,
            updated_at: timestamp(row.updated_at, "updated_at")?,
        })
    }
}

/// `NotFound` naming `entity` when a statement touched no row.
fn touched(rows: u64, entity: &'static str) -> StoreResult<()> {
    if rows == 0 {
        return Err(StoreError::not_found(entity));
    }
    Ok(())
}

#[async_trait]
impl EntitlementStore for PgStore {
    async fn create_feature(&self, account: &AccountId, f: &Feature) -> StoreResult<Feature> {
        sqlx::query(INSERT_FEATURE)
            .bind(account.as_str())
            .bind(&f.code)
            .bind(&f.name)
            .bind(f.description.as_deref())
            .bind(f.value_type.as_str())
            .bind(f.default_value.to_text())
            .bind(f.resolution_strategy.map(ResolutionStrategy::as_str))
            .bind(f.aggregator_id.as_ref().map(|a| a.as_str()))
            .bind(f.aggregator_filter_id.as_ref().map(|a| a.as_str()))
            .bind(f.created_at.as_millis())
            .bind(f.updated_at.as_millis())
            .bind(percents_to_text(&f.threshold_percents))
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(f.clone())
    }

    async fn get_feature(&self, account: &AccountId, code: &str) -> StoreResult<Feature> {
        let sql =
            format!("SELECT {FEATURE_COLUMNS} FROM features WHERE account_id = $1 AND code = $2");
        self.fetch_scoped::<FeatureRow, _>(&sql, account, code, "feature")
            .await
    }

    async fn list_features(
        &self,
        account: &AccountId,
        page: PageRequest,
    ) -> StoreResult<Page<Feature>> {
        let sql = format!(
            "SELECT {FEATURE_COLUMNS} FROM features WHERE account_id = $1 \
             ORDER BY created_at, code LIMIT $2 OFFSET $3"
        );
        self.page_scoped::<FeatureRow, _>((COUNT_FEATURES, &sql), account, &[], page)
            .await
    }

    async fn update_feature(&self, account: &AccountId, f: &Feature) -> StoreResult<Feature> {
        let row: Option<FeatureRow> = sqlx::query_as(UPDATE_FEATURE)
            .bind(account.as_str())
            .bind(&f.code)
            .bind(&f.name)
            .bind(f.description.as_deref())
            .bind(f.default_value.to_text())
            .bind(f.resolution_strategy.map(ResolutionStrategy::as_str))
            .bind(f.aggregator_id.as_ref().map(|a| a.as_str()))
            .bind(f.aggregator_filter_id.as_ref().map(|a| a.as_str()))
            .bind(f.updated_at.as_millis())
            .bind(percents_to_text(&f.threshold_percents))
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        found(row, "feature")
    }

    async fn put_product_entitlement(
        &self,
        account: &AccountId,
        e: &ProductEntitlement,
    ) -> StoreResult<ProductEntitlement> {
        sqlx::query(PUT_PRODUCT_ENTITLEMENT)
            .bind(account.as_str())
            .bind(e.product_id.as_str())
            .bind(&e.feature_code)
            .bind(e.value.to_text())
            .bind(e.updated_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(e.clone())
    }

    async fn delete_product_entitlement(
        &self,
        account: &AccountId,
        product: &ProductId,
        feature_code: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(DELETE_PRODUCT_ENTITLEMENT)
            .bind(account.as_str())
            .bind(product.as_str())
            .bind(feature_code)
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        touched(done.rows_affected(), "entitlement")
    }

    async fn product_entitlements(
        &self,
        account: &AccountId,
        products: &[ProductId],
    ) -> StoreResult<Vec<ProductEntitlement>> {
        if products.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = products.iter().map(ProductId::as_str).collect();
        let rows: Vec<ProductEntitlementRow> = sqlx::query_as(PRODUCT_ENTITLEMENTS)
            .bind(account.as_str())
            .bind(&ids)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter().map(ProductEntitlement::try_from).collect()
    }

    async fn put_customer_entitlement(
        &self,
        account: &AccountId,
        e: &CustomerEntitlement,
    ) -> StoreResult<CustomerEntitlement> {
        sqlx::query(PUT_CUSTOMER_ENTITLEMENT)
            .bind(account.as_str())
            .bind(e.customer_id.as_str())
            .bind(&e.feature_code)
            .bind(e.value.to_text())
            .bind(e.reason.as_deref())
            .bind(e.expires_at.map(|at| at.as_millis()))
            .bind(e.updated_at.as_millis())
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(e.clone())
    }

    async fn delete_customer_entitlement(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        feature_code: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(DELETE_CUSTOMER_ENTITLEMENT)
            .bind(account.as_str())
            .bind(customer.as_str())
            .bind(feature_code)
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        touched(done.rows_affected(), "entitlement")
    }

    async fn customer_entitlements(
        &self,
        account: &AccountId,
        customer: &CustomerId,
    ) -> StoreResult<Vec<CustomerEntitlement>> {
        let rows: Vec<CustomerEntitlementRow> = sqlx::query_as(CUSTOMER_ENTITLEMENTS)
            .bind(account.as_str())
            .bind(customer.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter()
            .map(CustomerEntitlement::try_from)
            .collect()
    }
}

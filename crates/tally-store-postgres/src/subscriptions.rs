//! `SubscriptionStore`.

use async_trait::async_trait;
use rust_decimal::Decimal;
use tally_store::{
    AccountId, BillingInterval, CustomerId, IntervalUnit, Page, ProductId, StoreError, StoreResult,
    Subscription, SubscriptionId, SubscriptionQuery, SubscriptionStore,
};

use crate::rows::{corrupt, parse, timestamp};
use crate::scoped::found;
use crate::{PgStore, map_sqlx_error};

const INSERT: &str = "INSERT INTO subscriptions (account_id, id, customer_id, product_ids, \
     starts_at, interval_unit, interval_count, tax_rate, currency, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const GET: &str = "SELECT id, customer_id, product_ids, starts_at, interval_unit, \
     interval_count, tax_rate, currency, created_at \
     FROM subscriptions WHERE account_id = $1 AND id = $2";
const LIST: &str = "SELECT id, customer_id, product_ids, starts_at, interval_unit, \
     interval_count, tax_rate, currency, created_at FROM subscriptions \
     WHERE account_id = $1 AND ($2::text IS NULL OR customer_id = $2) \
     ORDER BY created_at, id LIMIT $3 OFFSET $4";
const COUNT: &str = "SELECT count(*) FROM subscriptions \
     WHERE account_id = $1 AND ($2::text IS NULL OR customer_id = $2)";
const UPDATE: &str = "UPDATE subscriptions SET customer_id = $3, product_ids = $4, \
     starts_at = $5, interval_unit = $6, interval_count = $7, tax_rate = $8, currency = $9 \
     WHERE account_id = $1 AND id = $2 \
     RETURNING id, customer_id, product_ids, starts_at, interval_unit, interval_count, \
     tax_rate, currency, created_at";
const DELETE: &str = "DELETE FROM subscriptions WHERE account_id = $1 AND id = $2";

#[derive(sqlx::FromRow)]
struct SubscriptionRow {
    id: String,
    customer_id: String,
    product_ids: Vec<String>,
    starts_at: i64,
    interval_unit: String,
    interval_count: i64,
    tax_rate: Option<Decimal>,
    currency: String,
    created_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(row: SubscriptionRow) -> StoreResult<Self> {
        let unit = IntervalUnit::parse(&row.interval_unit)
            .ok_or_else(|| corrupt("subscriptions.interval_unit", &row.interval_unit))?;
        let count = u32::try_from(row.interval_count)
            .map_err(|err| corrupt("subscriptions.interval_count", err))?;
        let product_ids = row
            .product_ids
            .into_iter()
            .map(|id| parse(id, "subscriptions.product_ids"))
            .collect::<StoreResult<Vec<ProductId>>>()?;
        Ok(Subscription {
            id: parse(row.id, "subscriptions.id")?,
            customer_id: parse(row.customer_id, "subscriptions.customer_id")?,
            product_ids,
            starts_at: timestamp(row.starts_at, "subscriptions.starts_at")?,
            billing_interval: BillingInterval { unit, count },
            tax_rate: row.tax_rate,
            currency: row.currency,
            created_at: timestamp(row.created_at, "subscriptions.created_at")?,
        })
    }
}

impl PgStore {
    /// Binds a subscription's columns in table order ($1..$9), plus `created_at`
    /// as $10 for an insert.
    async fn write_subscription(
        &self,
        sql: &str,
        account: &AccountId,
        s: &Subscription,
        created_at: Option<i64>,
    ) -> StoreResult<Option<SubscriptionRow>> {
        let product_ids: Vec<&str> = s.product_ids.iter().map(ProductId::as_str).collect();
        let mut query = sqlx::query_as(sql)
            .bind(account.as_str())
            .bind(s.id.as_str())
            .bind(s.customer_id.as_str())
            .bind(product_ids)
            .bind(s.starts_at.as_millis())
            .bind(s.billing_interval.unit.as_str())
            .bind(i64::from(s.billing_interval.count))
            .bind(s.tax_rate)
            .bind(&s.currency);
        if let Some(created_at) = created_at {
            query = query.bind(created_at);
        }
        query
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)
    }
}

#[async_trait]
impl SubscriptionStore for PgStore {
    async fn create_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        let created_at = Some(subscription.created_at.as_millis());
        self.write_subscription(INSERT, account, subscription, created_at)
            .await?;
        Ok(subscription.clone())
    }

    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Subscription> {
        self.fetch_scoped::<SubscriptionRow, _>(GET, account, id.as_str(), "subscription")
            .await
    }

    async fn list_subscriptions(
        &self,
        account: &AccountId,
        query: &SubscriptionQuery,
    ) -> StoreResult<Page<Subscription>> {
        let customer = query.customer_id.as_ref().map(CustomerId::as_str);
        self.page_scoped::<SubscriptionRow, _>((COUNT, LIST), account, &[customer], query.page)
            .await
    }

    async fn update_subscription(
        &self,
        account: &AccountId,
        subscription: &Subscription,
    ) -> StoreResult<Subscription> {
        let row = self
            .write_subscription(UPDATE, account, subscription, None)
            .await?;
        found(row, "subscription")
    }

    async fn delete_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<()> {
        self.delete_scoped(DELETE, account, id.as_str(), "subscription")
            .await
    }
}

//! `SubscriptionStore` for SQLite.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use tally_store::{
    AccountId, Page, StoreResult, Subscription, SubscriptionId, SubscriptionQuery,
    SubscriptionStore,
};

use crate::error::db_err;
use crate::open::SqliteStore;
use crate::rows::{SubscriptionRow, decimal_text};
use crate::scoped::one_row;

const INSERT: &str = "\
INSERT INTO subscriptions (account_id, id, customer_id, product_ids, starts_at, interval_unit,
                           interval_count, tax_rate, currency, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
const COLUMNS: &str = "id, customer_id, product_ids, starts_at, interval_unit, interval_count, \
                       tax_rate, currency, created_at";
const BY_ID: &str = "\
SELECT id, customer_id, product_ids, starts_at, interval_unit, interval_count, tax_rate,
       currency, created_at
FROM subscriptions WHERE account_id = ?1 AND id = ?2";
const UPDATE: &str = "\
UPDATE subscriptions SET customer_id = ?3, product_ids = ?4, starts_at = ?5, interval_unit = ?6,
                         interval_count = ?7, tax_rate = ?8, currency = ?9
WHERE account_id = ?1 AND id = ?2";
const DELETE: &str = "DELETE FROM subscriptions WHERE account_id = ?1 AND id = ?2";

fn product_ids_json(s: &Subscription) -> String {
    serde_json::Value::from(
        s.product_ids
            .iter()
            .map(|p| p.as_str().to_owned())
            .collect::<Vec<_>>(),
    )
    .to_string()
}

fn push_filters(
    builder: &mut QueryBuilder<'_, Sqlite>,
    account: &AccountId,
    q: &SubscriptionQuery,
) {
    builder
        .push(" WHERE account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(customer) = &q.customer_id {
        builder
            .push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned());
    }
}

#[async_trait]
impl SubscriptionStore for SqliteStore {
    async fn create_subscription(
        &self,
        account: &AccountId,
        s: &Subscription,
    ) -> StoreResult<Subscription> {
        sqlx::query(INSERT)
            .bind(account.as_str())
            .bind(s.id.as_str())
            .bind(s.customer_id.as_str())
            .bind(product_ids_json(s))
            .bind(s.starts_at.as_millis())
            .bind(s.billing_interval.unit.as_str())
            .bind(i64::from(s.billing_interval.count))
            .bind(decimal_text(s.tax_rate))
            .bind(&s.currency)
            .bind(s.created_at.as_millis())
            .execute(&self.writer)
            .await
            .map_err(db_err("subscription"))?;
        Ok(s.clone())
    }

    async fn get_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> StoreResult<Subscription> {
        self.fetch_scoped::<SubscriptionRow, _>(BY_ID, account, id.as_str(), "subscription")
            .await
    }

    async fn list_subscriptions(
        &self,
        account: &AccountId,
        query: &SubscriptionQuery,
    ) -> StoreResult<Page<Subscription>> {
        let (limit, offset) = query.page.limit_offset()?;
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM subscriptions");
        push_filters(&mut count, account, query);
        let mut select = QueryBuilder::new(format!("SELECT {COLUMNS} FROM subscriptions"));
        push_filters(&mut select, account, query);
        select
            .push(" ORDER BY created_at, id LIMIT ")
            .push_bind(limit);
        select.push(" OFFSET ").push_bind(offset);
        self.page_built::<SubscriptionRow, _>(count, select, "subscription")
            .await
    }

    async fn update_subscription(
        &self,
        account: &AccountId,
        s: &Subscription,
    ) -> StoreResult<Subscription> {
        let done = sqlx::query(UPDATE)
            .bind(account.as_str())
            .bind(s.id.as_str())
            .bind(s.customer_id.as_str())
            .bind(product_ids_json(s))
            .bind(s.starts_at.as_millis())
            .bind(s.billing_interval.unit.as_str())
            .bind(i64::from(s.billing_interval.count))
            .bind(decimal_text(s.tax_rate))
            .bind(&s.currency)
            .execute(&self.writer)
            .await
            .map_err(db_err("subscription"))?;
        one_row(done.rows_affected(), "subscription")?;
        self.get_subscription(account, &s.id).await
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

//! `InvoiceStore` for SQLite, with the gapless per-account number sequence.

use async_trait::async_trait;
use sqlx::{QueryBuilder, Sqlite};
use tally_event::Period;
use tally_store::{
    AccountId, EventSeq, INVOICE_PERIOD_TAKEN, Invoice, InvoiceEvents, InvoiceId, InvoiceNumber,
    InvoiceQuery, InvoiceStatus, InvoiceStore, InvoiceUpdate, NewInvoice, Page, StoreError,
    StoreResult, SubscriptionId,
};

use crate::error::corrupt;
use crate::error::db_err;
use crate::open::SqliteStore;
use crate::rows::InvoiceRow;
use crate::webhooks::outbox::insert_webhook_events;

/// Takes the account's next number. It runs in the transaction that inserts the
/// invoice, under SQLite's single write lock: numbers are handed out one at a
/// time, and a failed insert rolls its number back.
const NEXT_NUMBER: &str = "\
INSERT INTO invoice_sequences (account_id, last_number) VALUES (?1, 1)
ON CONFLICT (account_id) DO UPDATE SET last_number = last_number + 1
RETURNING last_number";
const INSERT: &str = "\
INSERT INTO invoices (account_id, id, number, subscription_id, customer_id, status,
                      period_start, period_end, currency, lines, totals, created_at, finalized_at,
                      known_seq, basis)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";
const COLUMNS: &str = "id, number, subscription_id, customer_id, status, period_start, \
                       period_end, currency, lines, totals, created_at, finalized_at, \
                       known_seq, basis";
const BY_ID: &str = "\
SELECT id, number, subscription_id, customer_id, status, period_start, period_end, currency,
       lines, totals, created_at, finalized_at, known_seq, basis
FROM invoices WHERE account_id = ?1 AND id = ?2";
/// The `invoices_subscription_period` unique index answers it.
const BY_PERIOD: &str = "\
SELECT id, number, subscription_id, customer_id, status, period_start, period_end, currency,
       lines, totals, created_at, finalized_at, known_seq, basis
FROM invoices WHERE account_id = ?1 AND subscription_id = ?2 AND period_start = ?3
  AND period_end = ?4";
const STATUS: &str = "SELECT status FROM invoices WHERE account_id = ?1 AND id = ?2";
const UPDATE: &str = "\
UPDATE invoices SET status = ?3, lines = ?4, totals = ?5, finalized_at = ?6, known_seq = ?7,
                    basis = ?8
WHERE account_id = ?1 AND id = ?2";

/// Whether the subscription period already has an invoice.
const PERIOD_TAKEN: &str = "\
SELECT 1 FROM invoices WHERE account_id = ?1 AND subscription_id = ?2 AND period_start = ?3
  AND period_end = ?4";

/// Takes the account's next number and inserts the invoice with it and its
/// webhook events, on the caller's write transaction.
async fn insert_invoice(
    conn: &mut sqlx::SqliteConnection,
    account: &AccountId,
    new: &NewInvoice,
    events: InvoiceEvents<'_>,
) -> StoreResult<Invoice> {
    let number: i64 = sqlx::query_scalar(NEXT_NUMBER)
        .bind(account.as_str())
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err("invoice"))?;
    let number = InvoiceNumber(u64::try_from(number).map_err(|e| corrupt("number", e))?);
    let invoice = Invoice::from_new(new, number);
    sqlx::query(INSERT)
        .bind(account.as_str())
        .bind(invoice.id.as_str())
        .bind(i64::try_from(number.0).map_err(|e| corrupt("number", e))?)
        .bind(invoice.subscription_id.as_ref().map(|s| s.as_str()))
        .bind(invoice.customer_id.as_str())
        .bind(invoice.status.as_str())
        .bind(invoice.period.start().as_millis())
        .bind(invoice.period.end().as_millis())
        .bind(&invoice.currency)
        .bind(invoice.lines.to_string())
        .bind(invoice.totals.to_string())
        .bind(invoice.created_at.as_millis())
        .bind(invoice.finalized_at.map(|t| t.as_millis()))
        .bind(invoice.known_seq.map(EventSeq::get))
        .bind(invoice.basis.as_ref().map(ToString::to_string))
        .execute(&mut *conn)
        .await
        .map_err(db_err("invoice"))?;
    insert_webhook_events(conn, account, &events(&invoice)).await?;
    Ok(invoice)
}

fn push_filters(builder: &mut QueryBuilder<'_, Sqlite>, account: &AccountId, q: &InvoiceQuery) {
    builder
        .push(" WHERE account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(sub) = &q.subscription_id {
        builder
            .push(" AND subscription_id = ")
            .push_bind(sub.as_str().to_owned());
    }
    if let Some(customer) = &q.customer_id {
        builder
            .push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned());
    }
}

#[async_trait]
impl InvoiceStore for SqliteStore {
    async fn create_invoice_with_events(
        &self,
        account: &AccountId,
        new: &NewInvoice,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        let mut tx = self.begin_write().await?;
        let invoice = insert_invoice(&mut tx, account, new, events).await?;
        tx.commit().await.map_err(db_err("invoice"))?;
        Ok(invoice)
    }

    /// One write transaction, one durable commit: under SQLite's single
    /// write lock, the period check before each insert cannot race.
    async fn create_invoices_with_events(
        &self,
        account: &AccountId,
        invoices: &[NewInvoice],
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Vec<StoreResult<Invoice>>> {
        let mut tx = self.begin_write().await?;
        let mut created = Vec::with_capacity(invoices.len());
        for new in invoices {
            if let Some(subscription) = &new.subscription_id {
                let taken: Option<i64> = sqlx::query_scalar(PERIOD_TAKEN)
                    .bind(account.as_str())
                    .bind(subscription.as_str())
                    .bind(new.period.start().as_millis())
                    .bind(new.period.end().as_millis())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err("invoice"))?;
                if taken.is_some() {
                    created.push(Err(StoreError::Conflict {
                        entity: "invoice",
                        reason: INVOICE_PERIOD_TAKEN.to_owned(),
                    }));
                    continue;
                }
            }
            created.push(Ok(insert_invoice(&mut tx, account, new, events).await?));
        }
        tx.commit().await.map_err(db_err("invoice"))?;
        Ok(created)
    }

    async fn get_invoice(&self, account: &AccountId, id: &InvoiceId) -> StoreResult<Invoice> {
        self.fetch_scoped::<InvoiceRow, _>(BY_ID, account, id.as_str(), "invoice")
            .await
    }

    async fn find_invoice(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> StoreResult<Option<Invoice>> {
        let row: Option<InvoiceRow> = sqlx::query_as(BY_PERIOD)
            .bind(account.as_str())
            .bind(subscription.as_str())
            .bind(period.start().as_millis())
            .bind(period.end().as_millis())
            .fetch_optional(&self.reader)
            .await
            .map_err(db_err("invoice"))?;
        row.map(Invoice::try_from).transpose()
    }

    async fn list_invoices(
        &self,
        account: &AccountId,
        query: &InvoiceQuery,
    ) -> StoreResult<Page<Invoice>> {
        let (limit, offset) = query.page.limit_offset()?;
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM invoices");
        push_filters(&mut count, account, query);
        let mut select = QueryBuilder::new(format!("SELECT {COLUMNS} FROM invoices"));
        push_filters(&mut select, account, query);
        select.push(" ORDER BY number DESC LIMIT ").push_bind(limit);
        select.push(" OFFSET ").push_bind(offset);
        self.page_built::<InvoiceRow, _>(count, select, "invoice")
            .await
    }

    async fn update_invoice_with_events(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        let mut tx = self.begin_write().await?;
        let status: String = sqlx::query_scalar(STATUS)
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("invoice"))?;
        if status == InvoiceStatus::Finalized.as_str() {
            return Err(StoreError::conflict(
                "invoice",
                "finalized invoices are frozen",
            ));
        }
        sqlx::query(UPDATE)
            .bind(account.as_str())
            .bind(id.as_str())
            .bind(update.status.as_str())
            .bind(update.lines.to_string())
            .bind(update.totals.to_string())
            .bind(update.finalized_at.map(|t| t.as_millis()))
            .bind(update.known_seq.map(EventSeq::get))
            .bind(update.basis.as_ref().map(ToString::to_string))
            .execute(&mut *tx)
            .await
            .map_err(db_err("invoice"))?;
        let row: InvoiceRow = sqlx::query_as(BY_ID)
            .bind(account.as_str())
            .bind(id.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("invoice"))?;
        let updated = Invoice::try_from(row)?;
        insert_webhook_events(&mut tx, account, &events(&updated)).await?;
        tx.commit().await.map_err(db_err("invoice"))?;
        Ok(updated)
    }
}

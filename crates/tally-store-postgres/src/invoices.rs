//! `InvoiceStore`, with the per-account gapless numbering.

use async_trait::async_trait;
use serde_json::Value as Json;
use sqlx::{Postgres, Transaction};
use tally_event::Period;
use tally_store::{
    AccountId, CustomerId, EventSeq, INVOICE_PERIOD_TAKEN, Invoice, InvoiceEvents, InvoiceId,
    InvoiceNumber, InvoiceQuery, InvoiceStatus, InvoiceStore, InvoiceUpdate, NewInvoice, Page,
    StoreError, StoreResult, SubscriptionId,
};

use crate::rows::{corrupt, parse, parse_opt, timestamp, timestamp_opt};
use crate::webhooks::outbox::insert_webhook_events;
use crate::{PgStore, map_sqlx_error};

/// Takes the account's next number. The counter row stays locked until the
/// invoice's transaction ends, so concurrent creators (in any process) queue
/// here, and a rolled-back invoice gives its number back.
const NEXT_NUMBER: &str = "INSERT INTO invoice_sequences AS c (account_id, last_number) \
     VALUES ($1, 1) ON CONFLICT (account_id) DO UPDATE SET last_number = c.last_number + 1 \
     RETURNING last_number";
const INSERT: &str = "INSERT INTO invoices (account_id, id, number, subscription_id, \
     customer_id, status, period_start, period_end, currency, lines, totals, created_at, \
     finalized_at, known_seq, basis) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::json, $11::json, $12, $13, $14, $15::json)";
const GET: &str = "SELECT id, number, subscription_id, customer_id, status, period_start, \
     period_end, currency, lines, totals, created_at, finalized_at, known_seq, basis \
     FROM invoices WHERE account_id = $1 AND id = $2";
/// The `invoices_subscription_period` unique index answers it.
const BY_PERIOD: &str = "SELECT id, number, subscription_id, customer_id, status, period_start, \
     period_end, currency, lines, totals, created_at, finalized_at, known_seq, basis FROM invoices \
     WHERE account_id = $1 AND subscription_id = $2 AND period_start = $3 AND period_end = $4";
const LIST: &str = "SELECT id, number, subscription_id, customer_id, status, period_start, \
     period_end, currency, lines, totals, created_at, finalized_at, known_seq, basis FROM invoices \
     WHERE account_id = $1 AND ($2::text IS NULL OR subscription_id = $2) \
     AND ($3::text IS NULL OR customer_id = $3) \
     ORDER BY number DESC LIMIT $4 OFFSET $5";
const COUNT: &str = "SELECT count(*) FROM invoices WHERE account_id = $1 \
     AND ($2::text IS NULL OR subscription_id = $2) AND ($3::text IS NULL OR customer_id = $3)";
/// Only a draft changes; finalized invoices are frozen.
const UPDATE_DRAFT: &str = "UPDATE invoices SET status = $3, lines = $4::json, totals = $5::json, \
     finalized_at = $6, known_seq = $7, basis = $8::json WHERE account_id = $1 AND id = $2 AND status = 'draft' \
     RETURNING id, number, subscription_id, customer_id, status, period_start, period_end, \
     currency, lines, totals, created_at, finalized_at, known_seq, basis";

/// Locks the account's counter row (creating it at 0) without taking a
/// number: a batch holds it from its first check to its commit.
const LOCK_NUMBERS: &str = "INSERT INTO invoice_sequences AS c (account_id, last_number) \
     VALUES ($1, 0) ON CONFLICT (account_id) DO UPDATE SET last_number = c.last_number";
/// Whether the subscription period already has an invoice.
const PERIOD_TAKEN: &str = "SELECT 1 FROM invoices \
     WHERE account_id = $1 AND subscription_id = $2 AND period_start = $3 AND period_end = $4";

/// Takes the account's next number and inserts the invoice with it and its
/// webhook events, on the caller's transaction.
async fn insert_invoice(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    invoice: &NewInvoice,
    events: InvoiceEvents<'_>,
) -> StoreResult<Invoice> {
    let number: i64 = sqlx::query_scalar(NEXT_NUMBER)
        .bind(account.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    let created = Invoice::from_new(
        invoice,
        InvoiceNumber(u64::try_from(number).map_err(|e| corrupt("invoice_sequences", e))?),
    );
    sqlx::query(INSERT)
        .bind(account.as_str())
        .bind(invoice.id.as_str())
        .bind(number)
        .bind(invoice.subscription_id.as_ref().map(SubscriptionId::as_str))
        .bind(invoice.customer_id.as_str())
        .bind(invoice.status.as_str())
        .bind(invoice.period.start().as_millis())
        .bind(invoice.period.end().as_millis())
        .bind(&invoice.currency)
        .bind(invoice.lines.to_string())
        .bind(invoice.totals.to_string())
        .bind(invoice.created_at.as_millis())
        .bind(created.finalized_at.map(|t| t.as_millis()))
        .bind(invoice.known_seq.map(EventSeq::get))
        .bind(invoice.basis.as_ref().map(ToString::to_string))
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    insert_webhook_events(tx, account, &events(&created)).await?;
    Ok(created)
}

#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: String,
    number: i64,
    subscription_id: Option<String>,
    customer_id: String,
    status: String,
    period_start: i64,
    period_end: i64,
    currency: String,
    lines: Json,
    totals: Json,
    created_at: i64,
    finalized_at: Option<i64>,
    known_seq: Option<i64>,
    basis: Option<Json>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = StoreError;

    fn try_from(row: InvoiceRow) -> StoreResult<Self> {
        let status = InvoiceStatus::parse(&row.status)
            .ok_or_else(|| corrupt("invoices.status", &row.status))?;
        let number = u64::try_from(row.number).map_err(|e| corrupt("invoices.number", e))?;
        let start = timestamp(row.period_start, "invoices.period_start")?;
        let end = timestamp(row.period_end, "invoices.period_end")?;
        let period = Period::new(start, end).map_err(|e| corrupt("invoices.period", e))?;
        Ok(Invoice {
            id: parse(row.id, "invoices.id")?,
            number: InvoiceNumber(number),
            subscription_id: parse_opt(row.subscription_id, "invoices.subscription_id")?,
            customer_id: parse(row.customer_id, "invoices.customer_id")?,
            status,
            period,
            currency: row.currency,
            lines: row.lines,
            totals: row.totals,
            known_seq: row.known_seq.map(EventSeq::new).transpose()?,
            basis: row.basis,
            created_at: timestamp(row.created_at, "invoices.created_at")?,
            finalized_at: timestamp_opt(row.finalized_at, "invoices.finalized_at")?,
        })
    }
}

#[async_trait]
impl InvoiceStore for PgStore {
    async fn create_invoice_with_events(
        &self,
        account: &AccountId,
        invoice: &NewInvoice,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let created = insert_invoice(&mut tx, account, invoice, events).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(created)
    }

    /// One transaction, one commit. The account's counter row is locked
    /// first, as every creator locks it before inserting: the period check
    /// before each insert then sees every invoice committed before, and no
    /// other creator inserts until the batch ends.
    async fn create_invoices_with_events(
        &self,
        account: &AccountId,
        invoices: &[NewInvoice],
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Vec<StoreResult<Invoice>>> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        sqlx::query(LOCK_NUMBERS)
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        let mut created = Vec::with_capacity(invoices.len());
        for invoice in invoices {
            if let Some(subscription) = &invoice.subscription_id {
                let taken: Option<i32> = sqlx::query_scalar(PERIOD_TAKEN)
                    .bind(account.as_str())
                    .bind(subscription.as_str())
                    .bind(invoice.period.start().as_millis())
                    .bind(invoice.period.end().as_millis())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_sqlx_error)?;
                if taken.is_some() {
                    created.push(Err(StoreError::Conflict {
                        entity: "invoice",
                        reason: INVOICE_PERIOD_TAKEN.to_owned(),
                    }));
                    continue;
                }
            }
            created.push(Ok(insert_invoice(&mut tx, account, invoice, events).await?));
        }
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(created)
    }

    async fn get_invoice(&self, account: &AccountId, id: &InvoiceId) -> StoreResult<Invoice> {
        self.fetch_scoped::<InvoiceRow, _>(GET, account, id.as_str(), "invoice")
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
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.map(Invoice::try_from).transpose()
    }

    async fn list_invoices(
        &self,
        account: &AccountId,
        query: &InvoiceQuery,
    ) -> StoreResult<Page<Invoice>> {
        let filters = [
            query.subscription_id.as_ref().map(SubscriptionId::as_str),
            query.customer_id.as_ref().map(CustomerId::as_str),
        ];
        self.page_scoped::<InvoiceRow, _>((COUNT, LIST), account, &filters, query.page)
            .await
    }

    async fn update_invoice_with_events(
        &self,
        account: &AccountId,
        id: &InvoiceId,
        update: &InvoiceUpdate,
        events: InvoiceEvents<'_>,
    ) -> StoreResult<Invoice> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let row: Option<InvoiceRow> = sqlx::query_as(UPDATE_DRAFT)
            .bind(account.as_str())
            .bind(id.as_str())
            .bind(update.status.as_str())
            .bind(update.lines.to_string())
            .bind(update.totals.to_string())
            .bind(update.finalized_at.map(|t| t.as_millis()))
            .bind(update.known_seq.map(EventSeq::get))
            .bind(update.basis.as_ref().map(ToString::to_string))
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        match row {
            Some(row) => {
                let updated = Invoice::try_from(row)?;
                insert_webhook_events(&mut tx, account, &events(&updated)).await?;
                tx.commit().await.map_err(map_sqlx_error)?;
                Ok(updated)
            }
            // Either no such invoice, or a finalized one (which never thaws).
            None => {
                self.get_invoice(account, id).await?;
                Err(StoreError::conflict(
                    "invoice",
                    "finalized invoices are frozen",
                ))
            }
        }
    }
}

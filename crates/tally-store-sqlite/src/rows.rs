//! Row structs (what a query returns) and their `TryFrom` conversions to
//! domain types.
//!
//! Conversions check everything they read: a row that does not decode is
//! reported as `StoreError::Corrupt`, never turned into a wrong value or a panic.

use std::str::FromStr;

use rust_decimal::Decimal;
use tally_event::{EventType, Period, Timestamp, record_from_stored_json};
use tally_store::{
    Account, AggregatorRecord, ApiKey, ApiKeyHash, BillingInterval, Customer, CustomerType,
    EventSeq, EventVersion, IntervalUnit, Invoice, InvoiceNumber, InvoiceStatus, Product,
    ProductKind, StoreError, StoreResult, StoredEvent, Subscription, documents,
};

use crate::error::corrupt;

pub(crate) fn id<T, E: std::fmt::Display>(
    text: &str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> StoreResult<T> {
    parse(text).map_err(|err| corrupt("id", err))
}

pub(crate) fn ts(ms: i64) -> StoreResult<Timestamp> {
    Timestamp::from_millis(ms).map_err(|err| corrupt("timestamp", err))
}

pub(crate) fn decimal(text: Option<&str>) -> StoreResult<Option<Decimal>> {
    text.map(|t| Decimal::from_str(t).map_err(|err| corrupt("decimal", err)))
        .transpose()
}

pub(crate) fn json(text: &str) -> StoreResult<serde_json::Value> {
    serde_json::from_str(text).map_err(|err| corrupt("json", err))
}

pub(crate) fn decimal_text(value: Option<Decimal>) -> Option<String> {
    value.map(|d| d.to_string())
}

#[derive(sqlx::FromRow)]
pub(crate) struct AccountRow {
    id: String,
    name: String,
    settings: String,
    created_at: i64,
}

impl TryFrom<AccountRow> for Account {
    type Error = StoreError;

    fn try_from(row: AccountRow) -> StoreResult<Self> {
        Ok(Account {
            id: id(&row.id, tally_store::AccountId::parse)?,
            name: row.name,
            settings: json(&row.settings)?,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiKeyRow {
    id: String,
    account_id: String,
    hash: String,
    created_at: i64,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;

    fn try_from(row: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: id(&row.id, tally_store::ApiKeyId::parse)?,
            account_id: id(&row.account_id, tally_store::AccountId::parse)?,
            hash: id(&row.hash, ApiKeyHash::parse_hex)?,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct CustomerRow {
    id: String,
    external_id: Option<String>,
    name: Option<String>,
    #[sqlx(rename = "type")]
    customer_type: String,
    currency: Option<String>,
    tax_rate: Option<String>,
    created_at: i64,
}

impl TryFrom<CustomerRow> for Customer {
    type Error = StoreError;

    fn try_from(row: CustomerRow) -> StoreResult<Self> {
        let customer_type = CustomerType::parse(&row.customer_type)
            .ok_or_else(|| corrupt("customer type", &row.customer_type))?;
        Ok(Customer {
            id: id(&row.id, tally_store::CustomerId::parse)?,
            external_id: row.external_id,
            name: row.name,
            customer_type,
            currency: row.currency,
            tax_rate: decimal(row.tax_rate.as_deref())?,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AggregatorRow {
    id: String,
    name: String,
    event_type: String,
    definition: String,
    created_at: i64,
}

impl TryFrom<AggregatorRow> for AggregatorRecord {
    type Error = StoreError;

    fn try_from(row: AggregatorRow) -> StoreResult<Self> {
        let aggregator_id = id(&row.id, tally_store::AggregatorId::parse)?;
        Ok(AggregatorRecord {
            definition: documents::aggregator_definition(&aggregator_id, json(&row.definition)?)?,
            id: aggregator_id,
            name: row.name,
            event_type: id(&row.event_type, EventType::parse)?,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ProductRow {
    id: String,
    name: String,
    kind: String,
    aggregator_id: Option<String>,
    currency: String,
    min_amount: Option<String>,
    max_amount: Option<String>,
    price_groups: String,
    created_at: i64,
    price_versions: String,
}

impl TryFrom<ProductRow> for Product {
    type Error = StoreError;

    fn try_from(row: ProductRow) -> StoreResult<Self> {
        let product_id = id(&row.id, tally_store::ProductId::parse)?;
        let kind = ProductKind::parse(&row.kind).ok_or_else(|| corrupt("kind", &row.kind))?;
        let aggregator_id = row
            .aggregator_id
            .as_deref()
            .map(|text| id(text, tally_store::AggregatorId::parse))
            .transpose()?;
        let bounds = documents::bounds(
            &product_id,
            decimal(row.min_amount.as_deref())?,
            decimal(row.max_amount.as_deref())?,
        )?;
        Ok(Product {
            currency: documents::currency(&product_id, &row.currency)?,
            price_groups: documents::price_groups(&product_id, json(&row.price_groups)?)?,
            price_versions: documents::price_versions(&product_id, json(&row.price_versions)?)?,
            id: product_id,
            name: row.name,
            kind,
            aggregator_id,
            bounds,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct SubscriptionRow {
    id: String,
    customer_id: String,
    product_ids: String,
    starts_at: i64,
    interval_unit: String,
    interval_count: i64,
    tax_rate: Option<String>,
    currency: String,
    created_at: i64,
}

impl TryFrom<SubscriptionRow> for Subscription {
    type Error = StoreError;

    fn try_from(row: SubscriptionRow) -> StoreResult<Self> {
        let product_ids: Vec<String> =
            serde_json::from_str(&row.product_ids).map_err(|err| corrupt("product ids", err))?;
        let unit = IntervalUnit::parse(&row.interval_unit)
            .ok_or_else(|| corrupt("interval unit", &row.interval_unit))?;
        let count =
            u32::try_from(row.interval_count).map_err(|err| corrupt("interval count", err))?;
        Ok(Subscription {
            id: id(&row.id, tally_store::SubscriptionId::parse)?,
            customer_id: id(&row.customer_id, tally_store::CustomerId::parse)?,
            product_ids: product_ids
                .iter()
                .map(|p| id(p, tally_store::ProductId::parse))
                .collect::<StoreResult<_>>()?,
            starts_at: ts(row.starts_at)?,
            billing_interval: BillingInterval { unit, count },
            tax_rate: decimal(row.tax_rate.as_deref())?,
            currency: row.currency,
            created_at: ts(row.created_at)?,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct InvoiceRow {
    id: String,
    number: i64,
    subscription_id: Option<String>,
    customer_id: String,
    status: String,
    period_start: i64,
    period_end: i64,
    currency: String,
    lines: String,
    totals: String,
    created_at: i64,
    finalized_at: Option<i64>,
    known_seq: Option<i64>,
    basis: Option<String>,
}

impl TryFrom<InvoiceRow> for Invoice {
    type Error = StoreError;

    fn try_from(row: InvoiceRow) -> StoreResult<Self> {
        let status =
            InvoiceStatus::parse(&row.status).ok_or_else(|| corrupt("status", &row.status))?;
        let period = Period::new(ts(row.period_start)?, ts(row.period_end)?)
            .map_err(|err| corrupt("period", err))?;
        let number = u64::try_from(row.number).map_err(|err| corrupt("number", err))?;
        Ok(Invoice {
            id: id(&row.id, tally_store::InvoiceId::parse)?,
            number: InvoiceNumber(number),
            subscription_id: row
                .subscription_id
                .as_deref()
                .map(|s| id(s, tally_store::SubscriptionId::parse))
                .transpose()?,
            customer_id: id(&row.customer_id, tally_store::CustomerId::parse)?,
            status,
            period,
            currency: row.currency,
            lines: json(&row.lines)?,
            totals: json(&row.totals)?,
            known_seq: row.known_seq.map(EventSeq::new).transpose()?,
            basis: row.basis.as_deref().map(json).transpose()?,
            created_at: ts(row.created_at)?,
            finalized_at: row.finalized_at.map(ts).transpose()?,
        })
    }
}

/// A stored version, as `event_history` and the key lookups read it.
#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    pub(crate) id: String,
    pub(crate) event_type: String,
    pub(crate) customer_id: String,
    pub(crate) ts: i64,
    pub(crate) record: String,
    pub(crate) ingested_at: i64,
    pub(crate) seq: i64,
    pub(crate) current_until: Option<i64>,
    pub(crate) deleted_seq: Option<i64>,
}

impl TryFrom<EventRow> for EventVersion {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        let record = record_from_stored_json(&json(&row.record)?)
            .ok_or_else(|| corrupt("record", "not a flat record with an id"))?;
        Ok(EventVersion {
            event: StoredEvent {
                id: id(&row.id, tally_store::EventId::parse)?,
                event_type: id(&row.event_type, EventType::parse)?,
                customer_id: id(&row.customer_id, tally_store::CustomerId::parse)?,
                timestamp: ts(row.ts)?,
                record,
                ingested_at: ts(row.ingested_at)?,
                seq: EventSeq::new(row.seq)?,
            },
            current_until: row.current_until.map(EventSeq::new).transpose()?,
            deleted_at: row.deleted_seq.map(EventSeq::new).transpose()?,
        })
    }
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        EventVersion::try_from(row).map(|version| version.event)
    }
}

/// An event row inside a stream page's JSON text (`events::UsageScan`):
/// `[id, event_type, customer_id, ts, record_id, record, ingested_at, seq]`,
/// the record already parsed.
#[derive(serde::Deserialize)]
pub(crate) struct PagedEvent(
    String,
    String,
    String,
    i64,
    String,
    serde_json::Value,
    i64,
    i64,
);

impl PagedEvent {
    /// The stream order: (timestamp, record id as bytes).
    pub(crate) fn order_key(&self) -> (i64, &str) {
        (self.3, &self.4)
    }
}

impl TryFrom<PagedEvent> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: PagedEvent) -> StoreResult<Self> {
        let PagedEvent(event_id, event_type, customer_id, at, _, record, ingested_at, seq) = row;
        let record = record_from_stored_json(&record)
            .ok_or_else(|| corrupt("record", "not a flat record with an id"))?;
        Ok(StoredEvent {
            id: id(&event_id, tally_store::EventId::parse)?,
            event_type: id(&event_type, EventType::parse)?,
            customer_id: id(&customer_id, tally_store::CustomerId::parse)?,
            timestamp: ts(at)?,
            record,
            ingested_at: ts(ingested_at)?,
            seq: EventSeq::new(seq)?,
        })
    }
}

//! Catalog records: accounts, customers, aggregators, products, subscriptions and
//! invoices, as stored.
//!
//! Parts whose shape another crate owns are held typed: an aggregator's
//! definition (`tally-aggregate`'s `AggregatorDef`), a price group's validated
//! price model, a product's currency and bounds (`tally-pricing`). Backends store
//! them as JSON documents and parse each once, when a row becomes a record
//! ([`crate::documents`]). An invoice's lines, totals and basis stay JSON the
//! store never interprets (`tally-billing` shapes them). Every record here
//! belongs to the account its call is scoped by, which is why none carries an
//! account id.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_aggregate::AggregatorDef;
use tally_event::{CustomerRef, EventType, Period, Timestamp};
use tally_pricing::{Currency, PriceModel, ProductBounds};

use crate::ids::{
    AccountId, AggregatorFilterId, AggregatorId, CustomerId, InvoiceId, PriceGroupId, ProductId,
    SubscriptionId,
};
use crate::price_versions::PriceVersion;
use crate::versions::EventSeq;

/// A tenant. `name` is unique (`tally keys create --account NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// The account's id (`acc_…`), the scope of every other store call.
    pub id: AccountId,
    /// Unique across the store.
    pub name: String,
    /// Per-account settings (PII policy, auto-create policy), owned by the API layer.
    pub settings: serde_json::Value,
    /// When the account was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// How a customer came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerType {
    /// A company (the default).
    Corporate,
    /// A natural person.
    Person,
    /// Created on the fly by an event naming an unknown customer.
    AutomaticallyCreated,
}

impl CustomerType {
    /// The wire name: `corporate`, `person` or `automatically_created`.
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerType::Corporate => "corporate",
            CustomerType::Person => "person",
            CustomerType::AutomaticallyCreated => "automatically_created",
        }
    }

    /// The type a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "corporate" => Some(CustomerType::Corporate),
            "person" => Some(CustomerType::Person),
            "automatically_created" => Some(CustomerType::AutomaticallyCreated),
            _ => None,
        }
    }
}

/// A customer. `external_id` is unique within its account when set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    /// The customer's id (`cus_…`).
    pub id: CustomerId,
    /// The caller's own id for the customer, unique in the account when set; events may name
    /// the customer by it.
    pub external_id: Option<String>,
    /// A display name.
    pub name: Option<String>,
    /// How the customer came to exist.
    pub customer_type: CustomerType,
    /// ISO 4217 code, validated by the billing layer.
    pub currency: Option<String>,
    /// Percent, e.g. `20` for 20 %.
    pub tax_rate: Option<Decimal>,
    /// When the customer was created (UTC milliseconds).
    pub created_at: Timestamp,
}

impl Customer {
    /// The customer an event naming the unknown `reference` creates: its external
    /// id is the reference, its type `automatically_created`.
    pub fn automatic(id: CustomerId, reference: &str, created_at: Timestamp) -> Self {
        Customer {
            id,
            external_id: Some(reference.to_owned()),
            name: None,
            customer_type: CustomerType::AutomaticallyCreated,
            currency: None,
            tax_rate: None,
            created_at,
        }
    }
}

/// What `resolve_or_create_customer` found or made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedCustomer {
    /// The customer the reference names.
    pub customer: Customer,
    /// Whether this call created it.
    pub created: bool,
}

/// An aggregator. The store indexes `event_type` (to find the aggregators an event
/// feeds) and keeps `definition`, the whole `AggregatorDef` including its filters
/// and their `agf_` ids, as a JSON document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorRecord {
    /// The aggregator's id (`agg_…`).
    pub id: AggregatorId,
    /// A display name (not unique).
    pub name: String,
    /// The type of the events it aggregates, copied out of `definition` so the store can index it.
    pub event_type: EventType,
    /// The definition as sent, filters with their `agf_` ids. It compiled when
    /// it was written; `tally-billing` compiles it where it evaluates.
    pub definition: AggregatorDef,
    /// When the aggregator was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// Whether a product bills usage (through an aggregator) or a fixed fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKind {
    /// Priced from an aggregator's quantity over the period.
    Usage,
    /// A fixed amount per period; no aggregator.
    Fee,
}

impl ProductKind {
    /// The wire name: `usage` or `fee`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Usage => "usage",
            ProductKind::Fee => "fee",
        }
    }

    /// The kind a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "usage" => Some(ProductKind::Usage),
            "fee" => Some(ProductKind::Fee),
            _ => None,
        }
    }
}

/// One price of a product, optionally restricted to an aggregator filter. Its
/// serde form, `{id, name, aggregator_filter_id, price}`, is how products and
/// their price versions store it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceGroup {
    /// The price group's id (`grp_…`), kept across product updates that send it back.
    pub id: PriceGroupId,
    /// A display name, e.g. `verified`.
    pub name: String,
    /// The filter of the product's aggregator whose events this group prices; `None`: every
    /// event of the aggregator.
    pub aggregator_filter_id: Option<AggregatorFilterId>,
    /// The price, validated when it was written; stored as its definition.
    pub price: PriceModel,
}

/// A product and its price groups (stored together, replaced together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// The product's id (`itm_…`).
    pub id: ProductId,
    /// A display name, also the file name of its CSV export.
    pub name: String,
    /// Usage or fee.
    pub kind: ProductKind,
    /// The aggregator a usage product is priced from; `None` exactly for fee products.
    pub aggregator_id: Option<AggregatorId>,
    /// Every price group is in it.
    pub currency: Currency,
    /// `min_amount` / `max_amount` in whole minor units per period: the product's
    /// total is raised or capped to them by an adjustment line.
    pub bounds: ProductBounds,
    /// The prices, in the order invoice lines list them (at least one): the
    /// latest version's.
    pub price_groups: Vec<PriceGroup>,
    /// Every version of the prices, oldest first; empty for a product stored
    /// before versions were kept (`tally-billing` picks the one in effect).
    pub price_versions: Vec<PriceVersion>,
    /// When the product was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// The unit of a billing interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalUnit {
    /// Calendar days (UTC).
    Days,
    /// Weeks of seven days.
    Weeks,
    /// Calendar months; a period starting on the 31st ends on the last day of shorter months
    /// (`tally-billing`'s `period`).
    Months,
    /// Calendar years.
    Years,
}

impl IntervalUnit {
    /// The wire name: `days`, `weeks`, `months` or `years`.
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Days => "days",
            IntervalUnit::Weeks => "weeks",
            IntervalUnit::Months => "months",
            IntervalUnit::Years => "years",
        }
    }

    /// The unit a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "days" => Some(IntervalUnit::Days),
            "weeks" => Some(IntervalUnit::Weeks),
            "months" => Some(IntervalUnit::Months),
            "years" => Some(IntervalUnit::Years),
            _ => None,
        }
    }
}

/// `{period: months, count: 1}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BillingInterval {
    /// What the interval counts.
    pub unit: IntervalUnit,
    /// How many units one period lasts (at least 1).
    pub count: u32,
}

/// A subscription of a customer to products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The subscription's id (`sub_…`).
    pub id: SubscriptionId,
    /// The customer billed.
    pub customer_id: CustomerId,
    /// The products billed, in invoice line order; all in `currency`.
    pub product_ids: Vec<ProductId>,
    /// Start of the first period; periods follow back to back from it.
    pub starts_at: Timestamp,
    /// The length of each period.
    pub billing_interval: BillingInterval,
    /// Percent (`20` for 20 %), 0..=100; `None`: the customer's rate, else no tax.
    pub tax_rate: Option<Decimal>,
    /// ISO 4217 code of every amount billed.
    pub currency: String,
    /// When the subscription was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// Filters of a subscription list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionQuery {
    /// Only this customer's subscriptions.
    pub customer_id: Option<CustomerId>,
    /// Which page, oldest first.
    pub page: crate::page::PageRequest,
}

/// An invoice number, gapless per account: `INV-1`, `INV-2`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct InvoiceNumber(pub u64);

impl fmt::Display for InvoiceNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INV-{}", self.0)
    }
}

/// Where an invoice is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// Recomputed on read; lines and totals may still change.
    Draft,
    /// Frozen: the store refuses any further change.
    Finalized,
}

impl InvoiceStatus {
    /// The wire name: `draft` or `finalized`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Finalized => "finalized",
        }
    }

    /// The status a wire name names; `None` for an unknown one.
    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "draft" => Some(InvoiceStatus::Draft),
            "finalized" => Some(InvoiceStatus::Finalized),
            _ => None,
        }
    }
}

/// The `Conflict` reason of a create whose subscription already has an invoice
/// for the same period: every backend says this, whatever its constraint is
/// called.
pub const INVOICE_PERIOD_TAKEN: &str = "an invoice already covers this subscription period";

/// An invoice to create; the store assigns its number in the same transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    /// The invoice's id (`inv_…`).
    pub id: InvoiceId,
    /// The subscription billed (`None` only for invoices not tied to a subscription).
    pub subscription_id: Option<SubscriptionId>,
    /// The customer billed, fixed when the invoice is created.
    pub customer_id: CustomerId,
    /// Draft, or finalized when created frozen.
    pub status: InvoiceStatus,
    /// The billing period, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Line items as `tally-billing` shapes them.
    pub lines: serde_json::Value,
    /// Totals as `tally-billing` shapes them.
    pub totals: serde_json::Value,
    /// The ingestion sequence the lines were read at, when created frozen.
    pub known_seq: Option<EventSeq>,
    /// What priced the lines, as `tally-billing` shapes it, when created frozen.
    pub basis: Option<serde_json::Value>,
    /// When the invoice was created (UTC milliseconds).
    pub created_at: Timestamp,
}

/// A stored invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    /// The invoice's id (`inv_…`).
    pub id: InvoiceId,
    /// Gapless per account, assigned by the store.
    pub number: InvoiceNumber,
    /// The subscription billed, if any.
    pub subscription_id: Option<SubscriptionId>,
    /// The customer billed.
    pub customer_id: CustomerId,
    /// Draft or finalized.
    pub status: InvoiceStatus,
    /// The billing period, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Line items as `tally-billing` shapes them (opaque here).
    pub lines: serde_json::Value,
    /// Totals as `tally-billing` shapes them (opaque here).
    pub totals: serde_json::Value,
    /// Set when finalized: the account's ingestion sequence the lines were
    /// read at, so every later read of its events can be as of it. `None` for
    /// drafts and for invoices finalized before stores recorded it.
    pub known_seq: Option<EventSeq>,
    /// Set when finalized: what priced the lines (opaque here).
    pub basis: Option<serde_json::Value>,
    /// When the invoice was created (UTC milliseconds).
    pub created_at: Timestamp,
    /// When it was finalized; `None` while a draft.
    pub finalized_at: Option<Timestamp>,
}

impl Invoice {
    /// The stored form of `new` under the number the store assigned; finalized at creation when
    /// created frozen.
    pub fn from_new(new: &NewInvoice, number: InvoiceNumber) -> Self {
        Invoice {
            id: new.id.clone(),
            number,
            subscription_id: new.subscription_id.clone(),
            customer_id: new.customer_id.clone(),
            status: new.status,
            period: new.period,
            currency: new.currency.clone(),
            lines: new.lines.clone(),
            totals: new.totals.clone(),
            known_seq: new.known_seq,
            basis: new.basis.clone(),
            created_at: new.created_at,
            finalized_at: (new.status == InvoiceStatus::Finalized).then_some(new.created_at),
        }
    }
}

/// What `update_invoice` may change: a draft's content, or finalizing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceUpdate {
    /// The new status; `Finalized` is final.
    pub status: InvoiceStatus,
    /// The new line items.
    pub lines: serde_json::Value,
    /// The new totals.
    pub totals: serde_json::Value,
    /// Set when `status` becomes `Finalized`: the ingestion sequence the lines were read at.
    pub known_seq: Option<EventSeq>,
    /// Set when `status` becomes `Finalized`: what priced the lines.
    pub basis: Option<serde_json::Value>,
    /// Set when `status` becomes `Finalized`.
    pub finalized_at: Option<Timestamp>,
}

/// Filters of an invoice list, newest number first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceQuery {
    /// Only this subscription's invoices.
    pub subscription_id: Option<SubscriptionId>,
    /// Only this customer's invoices.
    pub customer_id: Option<CustomerId>,
    /// Which page.
    pub page: crate::page::PageRequest,
}

/// Which of `candidates` each reference names, as `find_customer` decides it:
/// the customer with that `cus_` id, otherwise the one with that external id.
/// For backends that fetch every candidate of many references in one query.
pub fn match_references(
    references: &[CustomerRef],
    candidates: Vec<Customer>,
) -> Vec<(CustomerRef, Customer)> {
    let by_id: std::collections::HashMap<&str, &Customer> =
        candidates.iter().map(|c| (c.id.as_str(), c)).collect();
    let by_external: std::collections::HashMap<&str, &Customer> = candidates
        .iter()
        .filter_map(|c| c.external_id.as_deref().map(|e| (e, c)))
        .collect();
    references
        .iter()
        .filter_map(|reference| {
            let text = reference.as_str();
            let found = by_id.get(text).or_else(|| by_external.get(text))?;
            Some((reference.clone(), (*found).clone()))
        })
        .collect()
}

//! Catalog records: accounts, customers, aggregators, products, subscriptions and
//! invoices, as stored.
//!
//! Parts whose shape another crate owns are kept as JSON the store never
//! interprets: an aggregator's definition (`tally-aggregate`'s `AggregatorDef`), a
//! price group's price model (`tally-pricing`), an invoice's lines and totals
//! (`tally-billing`). Every record here belongs to the account its call is scoped
//! by, which is why none carries an account id.

use std::fmt;

use rust_decimal::Decimal;
use tally_event::{EventType, Period, Timestamp};

use crate::ids::{
    AccountId, AggregatorFilterId, AggregatorId, CustomerId, InvoiceId, PriceGroupId, ProductId,
    SubscriptionId,
};

/// A tenant. `name` is unique (`tally keys create --account NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    /// Per-account settings (PII policy, auto-create policy), owned by the API layer.
    pub settings: serde_json::Value,
    pub created_at: Timestamp,
}

/// How a customer came to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CustomerType {
    Corporate,
    Person,
    /// Created on the fly by an event naming an unknown customer.
    AutomaticallyCreated,
}

impl CustomerType {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerType::Corporate => "corporate",
            CustomerType::Person => "person",
            CustomerType::AutomaticallyCreated => "automatically_created",
        }
    }

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
    pub id: CustomerId,
    pub external_id: Option<String>,
    pub name: Option<String>,
    pub customer_type: CustomerType,
    /// ISO 4217 code, validated by the billing layer.
    pub currency: Option<String>,
    /// Percent, e.g. `20` for 20 %.
    pub tax_rate: Option<Decimal>,
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
    pub customer: Customer,
    /// Whether this call created it.
    pub created: bool,
}

/// An aggregator. The store indexes `event_type` (to find the aggregators an event
/// feeds) and keeps `definition`, the whole `AggregatorDef` JSON including its
/// filters and their `agf_` ids, as an opaque document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorRecord {
    pub id: AggregatorId,
    pub name: String,
    pub event_type: EventType,
    pub definition: serde_json::Value,
    pub created_at: Timestamp,
}

/// Whether a product bills usage (through an aggregator) or a fixed fee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProductKind {
    Usage,
    Fee,
}

impl ProductKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductKind::Usage => "usage",
            ProductKind::Fee => "fee",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "usage" => Some(ProductKind::Usage),
            "fee" => Some(ProductKind::Fee),
            _ => None,
        }
    }
}

/// One price of a product, optionally restricted to an aggregator filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceGroup {
    pub id: PriceGroupId,
    pub name: String,
    pub aggregator_filter_id: Option<AggregatorFilterId>,
    /// The price model definition as `tally-pricing` serializes it.
    pub price: serde_json::Value,
}

/// A product and its price groups (stored together, replaced together).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub name: String,
    pub kind: ProductKind,
    pub aggregator_id: Option<AggregatorId>,
    pub currency: String,
    /// Minor units per period.
    pub min_amount: Option<Decimal>,
    pub max_amount: Option<Decimal>,
    pub price_groups: Vec<PriceGroup>,
    pub created_at: Timestamp,
}

/// The unit of a billing interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IntervalUnit {
    Days,
    Weeks,
    Months,
    Years,
}

impl IntervalUnit {
    pub fn as_str(self) -> &'static str {
        match self {
            IntervalUnit::Days => "days",
            IntervalUnit::Weeks => "weeks",
            IntervalUnit::Months => "months",
            IntervalUnit::Years => "years",
        }
    }

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
    pub unit: IntervalUnit,
    pub count: u32,
}

/// A subscription of a customer to products.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub customer_id: CustomerId,
    pub product_ids: Vec<ProductId>,
    pub starts_at: Timestamp,
    pub billing_interval: BillingInterval,
    pub tax_rate: Option<Decimal>,
    pub currency: String,
    pub created_at: Timestamp,
}

/// Filters of a subscription list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SubscriptionQuery {
    pub customer_id: Option<CustomerId>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// Recomputed on read; lines and totals may still change.
    Draft,
    /// Frozen: the store refuses any further change.
    Finalized,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Finalized => "finalized",
        }
    }

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
    pub id: InvoiceId,
    pub subscription_id: Option<SubscriptionId>,
    pub customer_id: CustomerId,
    pub status: InvoiceStatus,
    pub period: Period,
    pub currency: String,
    /// Line items as `tally-billing` shapes them.
    pub lines: serde_json::Value,
    /// Totals as `tally-billing` shapes them.
    pub totals: serde_json::Value,
    pub created_at: Timestamp,
}

/// A stored invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: InvoiceId,
    pub number: InvoiceNumber,
    pub subscription_id: Option<SubscriptionId>,
    pub customer_id: CustomerId,
    pub status: InvoiceStatus,
    pub period: Period,
    pub currency: String,
    pub lines: serde_json::Value,
    pub totals: serde_json::Value,
    pub created_at: Timestamp,
    pub finalized_at: Option<Timestamp>,
}

impl Invoice {
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
            created_at: new.created_at,
            finalized_at: (new.status == InvoiceStatus::Finalized).then_some(new.created_at),
        }
    }
}

/// What `update_invoice` may change: a draft's content, or finalizing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceUpdate {
    pub status: InvoiceStatus,
    pub lines: serde_json::Value,
    pub totals: serde_json::Value,
    /// Set when `status` becomes `Finalized`.
    pub finalized_at: Option<Timestamp>,
}

/// Filters of an invoice list, newest number first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvoiceQuery {
    pub subscription_id: Option<SubscriptionId>,
    pub customer_id: Option<CustomerId>,
    pub page: crate::page::PageRequest,
}

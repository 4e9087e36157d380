//! Invoices: one per subscription and billing period, numbered `INV-n` per
//! account without gaps (the store takes the number in the creating
//! transaction).
//!
//! - `create_invoice` stores a `draft` for the period containing `at` (default
//!   now); a second invoice for the same subscription and period is a
//!   `Conflict` naming the existing one. The lookup before the insert gives the
//!   usual answer; the store's unique (subscription, period) rule decides when
//!   two creates race, and the loser gets the same `Conflict`.
//! - Reading a draft (`get_invoice`, `list_invoices`) recomputes its lines from
//!   the current events and returns them without writing: a read never writes,
//!   and the stored lines of a draft are those of its creation.
//! - `finalize_invoice` recomputes once more, stores the lines and totals with
//!   the [`fingerprint`]s of the events they came from, and freezes the invoice
//!   (the store refuses any later change: `Conflict`).

pub mod fingerprint;
pub mod lines;

pub use fingerprint::ProductFingerprint;
pub use lines::{BreakdownEntry, InvoiceLine, InvoiceTotals, LineGroup, LineType};

use serde::{Deserialize, Serialize};
use tally_event::{Period, Timestamp};
use tally_store::{
    AccountId, CustomerId, INVOICE_PERIOD_TAKEN, Invoice, InvoiceId, InvoiceNumber, InvoiceQuery,
    InvoiceStatus, InvoiceUpdate, NewInvoice, Page, PageRequest, Product, ProductId, StoreError,
    Subscription, SubscriptionId, ids::random_base62,
};

use crate::error::{BillingError, BillingResult};
use crate::input::Pagination;
use crate::period::period_containing;
use crate::service::Billing;

/// An invoice as the use cases return it: a draft's lines as of now, a
/// finalized invoice's as frozen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceView {
    /// The invoice's id (`inv_…`).
    pub id: InvoiceId,
    /// Gapless per account: `INV-1`, `INV-2`, …
    pub number: InvoiceNumber,
    /// Draft (recomputed on every read) or finalized (frozen).
    pub status: InvoiceStatus,
    /// The subscription billed.
    pub subscription_id: Option<SubscriptionId>,
    /// The customer billed, fixed at creation.
    pub customer_id: CustomerId,
    /// The billing period, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// In order: per product, its price groups' lines, then its adjustment.
    pub lines: Vec<InvoiceLine>,
    /// Sums of the lines, in minor units.
    pub totals: InvoiceTotals,
    /// Set once finalized: what the lines were computed from.
    pub fingerprints: Vec<ProductFingerprint>,
    /// When the invoice was created (UTC milliseconds).
    pub created_at: Timestamp,
    /// When it was finalized; `None` for a draft.
    pub finalized_at: Option<Timestamp>,
}

/// Narrows `list_invoices`: a `sub_` id, a customer (`cus_` id or external id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvoiceFilter {
    /// Only this subscription's invoices (`sub_…`; one that does not parse matches nothing).
    pub subscription_id: Option<String>,
    /// Only this customer's invoices (`cus_` id or external id; an unknown one matches
    /// nothing).
    pub customer_id: Option<String>,
}

/// The `totals` column: sums, and once finalized the fingerprints. Spelled
/// out rather than `#[serde(flatten)]`, which buffers numbers and does not
/// mix with `arbitrary_precision` (docs/decisions.md).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoredTotals {
    amount_excluding_tax: i64,
    tax_amount: i64,
    total_amount: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fingerprints: Vec<ProductFingerprint>,
}

impl StoredTotals {
    fn new(totals: InvoiceTotals, fingerprints: Vec<ProductFingerprint>) -> Self {
        StoredTotals {
            amount_excluding_tax: totals.amount_excluding_tax,
            tax_amount: totals.tax_amount,
            total_amount: totals.total_amount,
            fingerprints,
        }
    }

    fn totals(&self) -> InvoiceTotals {
        InvoiceTotals {
            amount_excluding_tax: self.amount_excluding_tax,
            tax_amount: self.tax_amount,
            total_amount: self.total_amount,
        }
    }
}

impl Billing {
    /// A draft for the subscription's period containing `at` (default now).
    pub async fn create_invoice(
        &self,
        account: &AccountId,
        subscription_id: &str,
        at: Option<Timestamp>,
    ) -> BillingResult<InvoiceView> {
        let subscription = self.get_subscription(account, subscription_id).await?;
        let period = period_containing(&subscription, at.unwrap_or_else(|| self.now()))
            .map_err(|e| BillingError::invalid("/at", "no_billing_period", e.to_string()))?;
        if let Some(existing) = self.invoice_for(account, &subscription.id, period).await? {
            return Err(period_taken(&existing));
        }
        let lines = self.invoice_lines(account, &subscription, period).await?;
        let totals = InvoiceTotals::of(&lines)?;
        let random = self
            .ids
            .with(|rng| random_base62(rng, tally_store::ids::RANDOM_PART_LEN));
        let id = InvoiceId::parse(&format!("inv_{random}"))
            .map_err(|e| BillingError::Evaluation(e.to_string()))?;
        let new = NewInvoice {
            id,
            subscription_id: Some(subscription.id.clone()),
            customer_id: subscription.customer_id.clone(),
            status: InvoiceStatus::Draft,
            period,
            currency: subscription.currency.clone(),
            lines: to_json(&lines)?,
            totals: to_json(&StoredTotals::new(totals, Vec::new()))?,
            created_at: self.now(),
        };
        match self.store.create_invoice(account, &new).await {
            Ok(stored) => view(stored),
            Err(StoreError::Conflict { reason, .. }) if reason == INVOICE_PERIOD_TAKEN => {
                Err(self.lost_race(account, &subscription.id, period).await)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A concurrent create took the period between the check and the insert;
    /// the store's unique index refused ours. Names the winner, as the check
    /// does.
    async fn lost_race(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> BillingError {
        match self.invoice_for(account, subscription, period).await {
            Ok(Some(existing)) => period_taken(&existing),
            // Not seen while invoices are never deleted; still the same conflict.
            Ok(None) => BillingError::conflict("invoice", INVOICE_PERIOD_TAKEN),
            Err(error) => error,
        }
    }

    /// The invoice; a draft's lines are recomputed from the current events.
    pub async fn get_invoice(&self, account: &AccountId, id: &str) -> BillingResult<InvoiceView> {
        let invoice = self.stored_invoice(account, id).await?;
        self.current(account, invoice).await
    }

    /// Invoices, highest number first; drafts recomputed. A subscription or
    /// customer filter naming nothing of this account gives an empty page.
    pub async fn list_invoices(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        page: Pagination,
    ) -> BillingResult<Page<InvoiceView>> {
        let page = page.to_page_request()?;
        let Some(query) = self.invoice_query(account, filter, page).await? else {
            return Ok(Page {
                total: 0,
                items: Vec::new(),
            });
        };
        let stored = self.store.list_invoices(account, &query).await?;
        let mut items = Vec::with_capacity(stored.items.len());
        for invoice in stored.items {
            items.push(self.current(account, invoice).await?);
        }
        Ok(Page {
            total: stored.total,
            items,
        })
    }

    /// The store query of a filter; `None` when it names nothing.
    async fn invoice_query(
        &self,
        account: &AccountId,
        filter: &InvoiceFilter,
        page: PageRequest,
    ) -> BillingResult<Option<InvoiceQuery>> {
        let subscription_id = match filter.subscription_id.as_deref() {
            None => None,
            Some(id) => match SubscriptionId::parse(id) {
                Ok(id) => Some(id),
                Err(_) => return Ok(None),
            },
        };
        let customer_id = match filter.customer_id.as_deref() {
            None => None,
            Some(reference) => match self.find_customer(account, reference).await {
                Ok(customer) => Some(customer.id),
                Err(BillingError::NotFound { .. }) => return Ok(None),
                Err(error) => return Err(error),
            },
        };
        Ok(Some(InvoiceQuery {
            subscription_id,
            customer_id,
            page,
        }))
    }

    /// Freezes a draft with its lines as of now; `Conflict` once finalized.
    pub async fn finalize_invoice(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<InvoiceView> {
        let invoice = self.stored_invoice(account, id).await?;
        if invoice.status == InvoiceStatus::Finalized {
            return Err(BillingError::conflict("invoice", "already finalized"));
        }
        let draft = self.current(account, invoice).await?;
        let products = self.line_products(account, &draft.lines).await?;
        let fingerprints = self
            .fingerprints(account, &draft.customer_id, draft.period, &products)
            .await?;
        let update = InvoiceUpdate {
            status: InvoiceStatus::Finalized,
            lines: to_json(&draft.lines)?,
            totals: to_json(&StoredTotals::new(draft.totals, fingerprints))?,
            finalized_at: Some(self.now()),
        };
        let stored = self
            .store
            .update_invoice(account, &draft.id, &update)
            .await?;
        view(stored)
    }

    /// Whether the events under a finalized invoice changed since; `None` for
    /// a draft (always current).
    pub async fn events_changed_since_finalization(
        &self,
        account: &AccountId,
        invoice: &InvoiceView,
    ) -> BillingResult<Option<bool>> {
        if invoice.status != InvoiceStatus::Finalized {
            return Ok(None);
        }
        let products = self.line_products(account, &invoice.lines).await?;
        let now = self
            .fingerprints(account, &invoice.customer_id, invoice.period, &products)
            .await?;
        Ok(Some(now != invoice.fingerprints))
    }

    pub(crate) async fn stored_invoice(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<Invoice> {
        let id = InvoiceId::parse(id).map_err(|_| BillingError::not_found("invoice"))?;
        Ok(self.store.get_invoice(account, &id).await?)
    }

    /// A finalized invoice as stored; a draft with its lines recomputed (as
    /// stored when its subscription is gone).
    pub(crate) async fn current(
        &self,
        account: &AccountId,
        invoice: Invoice,
    ) -> BillingResult<InvoiceView> {
        let subscription = match (&invoice.status, &invoice.subscription_id) {
            (InvoiceStatus::Draft, Some(id)) => self.live_subscription(account, id).await?,
            _ => None,
        };
        let period = invoice.period;
        let mut view = view(invoice)?;
        if let Some(subscription) = subscription {
            view.lines = self.invoice_lines(account, &subscription, period).await?;
            view.totals = InvoiceTotals::of(&view.lines)?;
        }
        Ok(view)
    }

    async fn live_subscription(
        &self,
        account: &AccountId,
        id: &SubscriptionId,
    ) -> BillingResult<Option<Subscription>> {
        match self.store.get_subscription(account, id).await {
            Ok(subscription) => Ok(Some(subscription)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// The subscription's invoice for exactly this period, if any.
    async fn invoice_for(
        &self,
        account: &AccountId,
        subscription: &SubscriptionId,
        period: Period,
    ) -> BillingResult<Option<Invoice>> {
        Ok(self
            .store
            .find_invoice(account, subscription, period)
            .await?)
    }

    /// The products the lines name, those still stored, in line order.
    async fn line_products(
        &self,
        account: &AccountId,
        lines: &[InvoiceLine],
    ) -> BillingResult<Vec<Product>> {
        let mut products: Vec<Product> = Vec::new();
        for line in lines {
            let Ok(id) = ProductId::parse(&line.product_id) else {
                continue;
            };
            if products.iter().any(|p| p.id == id) {
                continue;
            }
            match self.store.get_product(account, &id).await {
                Ok(product) => products.push(product),
                Err(StoreError::NotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        Ok(products)
    }
}

/// The conflict of a create for a period `existing` already covers.
fn period_taken(existing: &Invoice) -> BillingError {
    BillingError::conflict(
        "invoice",
        format!(
            "invoice {} ({}) already covers this period",
            existing.id, existing.number
        ),
    )
}

fn to_json<T: Serialize>(value: &T) -> BillingResult<serde_json::Value> {
    serde_json::to_value(value).map_err(|e| BillingError::Evaluation(e.to_string()))
}

fn view(invoice: Invoice) -> BillingResult<InvoiceView> {
    let corrupt = |what: &str, e: serde_json::Error| {
        BillingError::Store(StoreError::Corrupt(format!(
            "invoice {} {what}: {e}",
            invoice.id
        )))
    };
    let lines: Vec<InvoiceLine> =
        serde_json::from_value(invoice.lines.clone()).map_err(|e| corrupt("lines", e))?;
    let totals: StoredTotals =
        serde_json::from_value(invoice.totals.clone()).map_err(|e| corrupt("totals", e))?;
    Ok(InvoiceView {
        id: invoice.id,
        number: invoice.number,
        status: invoice.status,
        subscription_id: invoice.subscription_id,
        customer_id: invoice.customer_id,
        period: invoice.period,
        currency: invoice.currency,
        lines,
        totals: totals.totals(),
        fingerprints: totals.fingerprints,
        created_at: invoice.created_at,
        finalized_at: invoice.finalized_at,
    })
}

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
//!   the current events and the live catalog and returns them without writing:
//!   a read never writes, and the stored lines of a draft are those of its
//!   creation.
//! - `finalize_invoice` reads the account's ingestion sequence, computes the
//!   lines from the events as known at it, and stores them with that sequence
//!   and the [`basis`] that priced them; the store refuses any later change
//!   (`Conflict`). Every later read of a finalized invoice's events (its
//!   consumption, CSV, ZIP and [`changes`]) is as of that sequence and priced
//!   by that basis, so it adds up to the lines forever (docs/billing.md,
//!   "Finalization").
//! - Invoices finalized before sequences were recorded keep the
//!   [`fingerprint`]s of their events instead.
//! - Creation and finalization write their webhook event (`invoice.created`,
//!   `invoice.finalized`, data [`crate::webhooks::invoice_summary`]) in the
//!   store transaction that writes the invoice.

pub mod basis;
pub mod batch;
pub mod changes;
pub mod fingerprint;
pub mod lines;
pub mod preview;

pub use basis::{InvoiceBasis, PricedProduct, Pricing};
pub use batch::{BatchInvoice, MAX_BATCH_INVOICES};
use changes::Stop;
pub use changes::{EventChange, EventChangeKind, InvoiceChanges, LineChange};
pub use fingerprint::ProductFingerprint;
pub use lines::{
    BreakdownEntry, InvoiceLine, InvoiceTotals, LineDiagnostics, LineGroup, LineType, line_item_id,
};
pub use preview::PeriodPreview;

use serde::{Deserialize, Serialize};
use tally_event::{Period, Timestamp};
use tally_store::{
    AccountId, CustomerId, EventSeq, INVOICE_PERIOD_TAKEN, Invoice, InvoiceId, InvoiceNumber,
    InvoiceQuery, InvoiceStatus, InvoiceUpdate, NewInvoice, Page, PageRequest, Product, StoreError,
    Subscription, SubscriptionId, WebhookEventType, ids::random_base62,
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
    /// Invoices finalized before sequences were recorded: what their lines
    /// were computed from. Empty otherwise.
    pub fingerprints: Vec<ProductFingerprint>,
    /// Set once finalized: the ingestion sequence the lines were read at.
    pub known_seq: Option<EventSeq>,
    /// Set once finalized: what priced the lines.
    pub basis: Option<InvoiceBasis>,
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

/// The `totals` column: sums, and for invoices finalized before sequences
/// were kept, the fingerprints. Spelled
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
    /// New invoices store no fingerprint: a finalized one has its sequence.
    fn new(totals: InvoiceTotals) -> Self {
        StoredTotals {
            amount_excluding_tax: totals.amount_excluding_tax,
            tax_amount: totals.tax_amount,
            total_amount: totals.total_amount,
            fingerprints: Vec::new(),
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
        let (lines, totals) = self.draft_lines(account, &subscription, period).await?;
        let new = self.new_draft(&subscription, period, &lines, totals)?;
        // `invoice.created` is written in the invoice's own transaction.
        let events = self.invoice_event(WebhookEventType::InvoiceCreated);
        match self
            .store
            .create_invoice_with_events(account, &new, &events)
            .await
        {
            Ok(stored) => view(stored),
            Err(StoreError::Conflict { reason, .. }) if reason == INVOICE_PERIOD_TAKEN => {
                Err(self.lost_race(account, &subscription.id, period).await)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The draft to store for a subscription period priced as `lines`.
    fn new_draft(
        &self,
        subscription: &Subscription,
        period: Period,
        lines: &[InvoiceLine],
        totals: InvoiceTotals,
    ) -> BillingResult<NewInvoice> {
        let random = self
            .ids
            .with(|rng| random_base62(rng, tally_store::ids::RANDOM_PART_LEN));
        let id = InvoiceId::parse(&format!("inv_{random}"))
            .map_err(|e| BillingError::Evaluation(e.to_string()))?;
        Ok(NewInvoice {
            id,
            subscription_id: Some(subscription.id.clone()),
            customer_id: subscription.customer_id.clone(),
            status: InvoiceStatus::Draft,
            period,
            currency: subscription.currency.clone(),
            lines: to_json(&lines)?,
            totals: to_json(&StoredTotals::new(totals))?,
            known_seq: None,
            basis: None,
            created_at: self.now(),
        })
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

    /// Freezes a draft: its lines from the events as known at the account's
    /// current ingestion sequence, priced by the live catalog, stored with
    /// that sequence and a snapshot of the catalog. `Conflict` once finalized.
    /// A draft whose subscription was deleted is frozen as stored, without a
    /// sequence (it has nothing left to price it with).
    pub async fn finalize_invoice(
        &self,
        account: &AccountId,
        id: &str,
    ) -> BillingResult<InvoiceView> {
        let invoice = self.stored_invoice(account, id).await?;
        if invoice.status == InvoiceStatus::Finalized {
            return Err(BillingError::conflict("invoice", "already finalized"));
        }
        let subscription = match &invoice.subscription_id {
            Some(id) => self.live_subscription(account, id).await?,
            None => None,
        };
        let update = match subscription {
            Some(subscription) => {
                // Read first: every event the lines see was committed by then,
                // and any read as of it sees exactly those.
                let known = self.store.latest_seq(account).await?;
                let pricing = self
                    .live_pricing(account, &subscription, invoice.period.start())
                    .await?;
                let lines = self
                    .priced_lines(
                        account,
                        &invoice.customer_id,
                        invoice.period,
                        &pricing,
                        Some(known),
                    )
                    .await?;
                let totals = InvoiceTotals::of(&lines)?;
                InvoiceUpdate {
                    status: InvoiceStatus::Finalized,
                    lines: to_json(&lines)?,
                    totals: to_json(&StoredTotals::new(totals))?,
                    known_seq: Some(known),
                    basis: Some(to_json(&InvoiceBasis::from(&pricing))?),
                    finalized_at: Some(self.now()),
                }
            }
            None => InvoiceUpdate {
                status: InvoiceStatus::Finalized,
                lines: invoice.lines.clone(),
                totals: invoice.totals.clone(),
                known_seq: None,
                basis: None,
                finalized_at: Some(self.now()),
            },
        };
        let events = self.invoice_event(WebhookEventType::InvoiceFinalized);
        let stored = self
            .store
            .update_invoice_with_events(account, &invoice.id, &update, &events)
            .await?;
        view(stored)
    }

    /// Whether the events under a finalized invoice changed since: some event
    /// of its period was added, changed or deleted ([`Billing::invoice_changes`]).
    /// `None` for a draft (always current).
    pub async fn events_changed_since_finalization(
        &self,
        account: &AccountId,
        invoice: &InvoiceView,
    ) -> BillingResult<Option<bool>> {
        if invoice.status != InvoiceStatus::Finalized {
            return Ok(None);
        }
        if let (Some(known), Some(basis)) = (invoice.known_seq, &invoice.basis) {
            let pricing = basis.to_pricing()?;
            let now = self.store.latest_seq(account).await?;
            let changed = self
                .event_changes(account, invoice, &pricing, (known, now), Stop::AtFirst)
                .await?;
            return Ok(Some(!changed.is_empty()));
        }
        if invoice.fingerprints.is_empty() {
            // Frozen without a sequence or a fingerprint (a draft whose
            // subscription was deleted): nothing to compare with.
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
        let mut view = view(invoice)?;
        if let Some(subscription) = subscription {
            let pricing = self
                .live_pricing(account, &subscription, view.period.start())
                .await?;
            view.lines = self
                .priced_lines(account, &view.customer_id, view.period, &pricing, None)
                .await?;
            view.totals = InvoiceTotals::of(&view.lines)?;
        }
        Ok(view)
    }

    pub(crate) async fn live_subscription(
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
        for id in lines::line_product_ids(lines) {
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
    let basis: Option<InvoiceBasis> = invoice
        .basis
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| corrupt("basis", e))?;
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
        known_seq: invoice.known_seq,
        basis,
        created_at: invoice.created_at,
        finalized_at: invoice.finalized_at,
    })
}

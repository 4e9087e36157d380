//! The explorer's pages: per usage product and price group, the line and one
//! page of its events with their amounts.

use rust_decimal::Decimal;
use tally_event::{Period, Timestamp};
use tally_pricing::AttributionRule;
use tally_store::{
    AccountId, CustomerId, EventId, InvoiceId, InvoiceNumber, InvoiceStatus, PageRequest,
    ProductKind, SubscriptionId,
};

use super::{ConsumptionScope, GroupConsumption, ProductConsumption};
use crate::error::BillingResult;
use crate::input::{DateRange, Pagination};
use crate::invoice::{InvoiceLine, InvoiceView};
use crate::service::Billing;
use crate::simulate::PriceGroupRef;

/// Which period (subscriptions only) and which page of each group's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumptionQuery {
    /// Subscriptions only: the range priced as one period; empty means the period containing
    /// now.
    pub range: DateRange,
    /// Which page of each price group's events (at most 100).
    pub page: Pagination,
}

/// The invoice a view explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRef {
    /// The invoice's id (`inv_…`).
    pub id: InvoiceId,
    /// Its number (`INV-1`).
    pub number: InvoiceNumber,
    /// Draft or finalized.
    pub status: InvoiceStatus,
}

/// What each event of a subscription period or an invoice was billed, per usage product and
/// price group: the explorer's page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionView {
    /// The subscription explained.
    pub subscription_id: SubscriptionId,
    /// The customer billed.
    pub customer_id: CustomerId,
    /// Set when the view explains an invoice.
    pub invoice: Option<InvoiceRef>,
    /// The period priced, `[start, end)`.
    pub period: Period,
    /// ISO 4217 code of every amount.
    pub currency: String,
    /// Invoices only: whether events under a finalized invoice changed since
    /// (`None` for drafts and subscriptions, which are always current).
    pub events_changed_since_finalization: Option<bool>,
    /// One per usage product, in the subscription's (or the invoice's) order; fee products have
    /// no events and are left out.
    pub products: Vec<ProductView>,
}

/// One usage product's price groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    /// The product's id (`itm_…`).
    pub product_id: String,
    /// The product's name.
    pub name: String,
    /// One per price group, in the product's order.
    pub groups: Vec<GroupView>,
}

/// One price group: its quantity, its amount and one page of its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The price group, named.
    pub price_group: PriceGroupRef,
    /// How the amount is spread over the events.
    pub rule: AttributionRule,
    /// The priced quantity over the period.
    pub quantity: Decimal,
    /// The subtotal of the current events: `unattributed + Σ amount` over
    /// every page.
    pub amount_excluding_tax: i64,
    /// Minor units no event carries (a flat fee, a tier's flat amount).
    pub unattributed: i64,
    /// Invoices only: the line's amount on the invoice (frozen once finalized).
    pub invoice_line_amount: Option<i64>,
    /// Events of the group over every page.
    pub total: u64,
    /// Events on this page.
    pub taken: u64,
    /// Events skipped before this page.
    pub skipped: u64,
    /// This page's events, in (timestamp, record id) order.
    pub events: Vec<ConsumedEvent>,
}

/// One event and what it was billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedEvent {
    /// The stored event's id (`evt_…`).
    pub id: EventId,
    /// The aggregator's `custom_event_name`, else `"{event_type} {record.id}"`.
    pub name: String,
    /// When the event happened (UTC milliseconds).
    pub timestamp: Timestamp,
    /// What it adds to the quantity; `None` when the aggregation is not additive (`min`, `max`,
    /// `avg`, `latest`, formulas).
    pub quantity: Option<Decimal>,
    /// Minor units billed for this event; the page's amounts, the other pages' and
    /// `unattributed` add up to the group's `amount_excluding_tax`.
    pub amount: i64,
    /// The stored record.
    pub payload: serde_json::Value,
}

impl Billing {
    /// A subscription's consumption: the current period, or `range`.
    pub async fn subscription_consumption(
        &self,
        account: &AccountId,
        subscription_id: &str,
        query: &ConsumptionQuery,
    ) -> BillingResult<ConsumptionView> {
        let page = query.page.to_page_request()?;
        let scope = self
            .subscription_scope(account, subscription_id, &query.range)
            .await?;
        self.explain(account, &scope, page, &[]).await
    }

    /// An invoice's consumption over its period, with each line's amount on
    /// the invoice and, once finalized, whether events changed since.
    pub async fn invoice_consumption(
        &self,
        account: &AccountId,
        invoice_id: &str,
        page: Pagination,
    ) -> BillingResult<ConsumptionView> {
        let page = page.to_page_request()?;
        let (invoice, scope) = self.explained_invoice(account, invoice_id, None).await?;
        let mut view = self.explain(account, &scope, page, &invoice.lines).await?;
        view.events_changed_since_finalization = self
            .events_changed_since_finalization(account, &invoice)
            .await?;
        view.invoice = Some(invoice_ref(&invoice));
        Ok(view)
    }

    async fn explain(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        page: PageRequest,
        lines: &[InvoiceLine],
    ) -> BillingResult<ConsumptionView> {
        let mut products = Vec::new();
        for priced in &scope.products {
            if priced.product.kind != ProductKind::Usage {
                continue;
            }
            let planned = self
                .product_consumption(account, scope, priced.product.id.as_str())
                .await?;
            products.push(self.product_view(account, &planned, page, lines).await?);
        }
        Ok(ConsumptionView {
            subscription_id: scope.subscription_id.clone(),
            customer_id: scope.customer_id.clone(),
            invoice: None,
            period: scope.period,
            currency: scope.currency.clone(),
            events_changed_since_finalization: None,
            products,
        })
    }

    async fn product_view(
        &self,
        account: &AccountId,
        planned: &ProductConsumption,
        page: PageRequest,
        lines: &[InvoiceLine],
    ) -> BillingResult<ProductView> {
        let mut groups = Vec::with_capacity(planned.groups.len());
        for (index, group) in planned.groups.iter().enumerate() {
            let events = self
                .events_page(account, planned, index, None, page)
                .await?;
            groups.push(group_view(planned, group, page, events.events, lines));
        }
        Ok(ProductView {
            product_id: planned.product.id.to_string(),
            name: planned.product.name.clone(),
            groups,
        })
    }
}

fn group_view(
    planned: &ProductConsumption,
    group: &GroupConsumption,
    page: PageRequest,
    events: Vec<ConsumedEvent>,
    lines: &[InvoiceLine],
) -> GroupView {
    let group_id = group.price_group.id.to_string();
    let invoice_line_amount = lines
        .iter()
        .find(|line| {
            line.product_id == planned.product.id.as_str()
                && line.price_group.as_ref().is_some_and(|g| g.id == group_id)
        })
        .map(|line| line.amount_excluding_tax);
    GroupView {
        price_group: group.price_group.clone(),
        rule: group.rule,
        quantity: group.quantity,
        amount_excluding_tax: group.subtotal,
        unattributed: group.unattributed,
        invoice_line_amount,
        total: group.events,
        taken: events.len() as u64,
        skipped: page.skip,
        events,
    }
}

fn invoice_ref(invoice: &InvoiceView) -> InvoiceRef {
    InvoiceRef {
        id: invoice.id.clone(),
        number: invoice.number,
        status: invoice.status,
    }
}

//! The explorer's pages: per usage product and price group, the line and one
//! page of its events with their amounts.

use futures::StreamExt;
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
    pub range: DateRange,
    pub page: Pagination,
}

/// The invoice a view explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRef {
    pub id: InvoiceId,
    pub number: InvoiceNumber,
    pub status: InvoiceStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionView {
    pub subscription_id: SubscriptionId,
    pub customer_id: CustomerId,
    pub invoice: Option<InvoiceRef>,
    pub period: Period,
    pub currency: String,
    /// Invoices only: whether events under a finalized invoice changed since
    /// (`None` for drafts and subscriptions, which are always current).
    pub events_changed_since_finalization: Option<bool>,
    pub products: Vec<ProductView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductView {
    pub product_id: String,
    pub name: String,
    pub groups: Vec<GroupView>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    pub price_group: PriceGroupRef,
    pub rule: AttributionRule,
    pub quantity: Decimal,
    /// The subtotal of the current events: `unattributed + Σ amount` over
    /// every page.
    pub amount_excluding_tax: i64,
    pub unattributed: i64,
    /// Invoices only: the line's amount on the invoice (frozen once finalized).
    pub invoice_line_amount: Option<i64>,
    pub total: u64,
    pub taken: u64,
    pub skipped: u64,
    pub events: Vec<ConsumedEvent>,
}

/// One event and what it was billed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedEvent {
    pub id: EventId,
    pub name: String,
    pub timestamp: Timestamp,
    pub quantity: Option<Decimal>,
    pub amount: i64,
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
        let invoice = self.get_invoice(account, invoice_id).await?;
        let scope = self.invoice_scope(account, invoice_id).await?;
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
        for product_id in &scope.product_ids {
            let product = match self.store.get_product(account, product_id).await {
                Ok(product) if product.kind == ProductKind::Usage => product,
                Ok(_) | Err(tally_store::StoreError::NotFound { .. }) => continue,
                Err(error) => return Err(error.into()),
            };
            let planned = self
                .product_consumption(account, scope, product.id.as_str())
                .await?;
            products.push(self.product_view(account, &planned, page, lines).await?);
        }
        Ok(ConsumptionView {
            subscription_id: scope.subscription.id.clone(),
            customer_id: scope.customer_id.clone(),
            invoice: None,
            period: scope.period,
            currency: scope.subscription.currency.clone(),
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
            let events = self.page_of(account, planned, index, page).await?;
            groups.push(group_view(planned, group, page, events, lines));
        }
        Ok(ProductView {
            product_id: planned.product.id.to_string(),
            name: planned.product.name.clone(),
            groups,
        })
    }

    /// One page of a group's rows; stops reading once the page is full.
    async fn page_of(
        &self,
        account: &AccountId,
        planned: &ProductConsumption,
        group: usize,
        page: PageRequest,
    ) -> BillingResult<Vec<ConsumedEvent>> {
        let mut rows = self.consumption_rows(account, planned, group)?;
        let last = page.skip.saturating_add(u64::from(page.take));
        let mut index = 0u64;
        let mut events = Vec::new();
        while index < last {
            let Some(row) = rows.next().await else {
                break;
            };
            let row = row?;
            if index >= page.skip {
                events.push(ConsumedEvent {
                    name: planned.event_name(&row.event),
                    id: row.event.id.clone(),
                    timestamp: row.event.timestamp,
                    quantity: row.quantity,
                    amount: row.amount,
                    payload: row.event.record.to_json(),
                });
            }
            index += 1;
        }
        Ok(events)
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

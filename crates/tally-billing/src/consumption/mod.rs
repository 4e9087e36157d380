//! The consumption explorer: for a subscription's period or an invoice, each
//! usage product's price groups with the events behind them and the amount
//! billed for each (docs/pricing.md attribution), adding up exactly to the line.
//!
//! The API for readers of every event (the explorer's pages, CSV and ZIP
//! exports):
//!
//! 1. a [`ConsumptionScope`] names the customer, period and products
//!    ([`Billing::subscription_scope`], [`Billing::invoice_scope`]);
//! 2. [`Billing::product_consumption`] plans each price group of one product
//!    (the totals, from the usage read when it gives them exactly, else a
//!    streamed pass; then a pass for the residue plan) and returns a
//!    [`ProductConsumption`] with each group's quantity, subtotal and
//!    unattributed part;
//! 3. [`Billing::consumption_rows`] streams one group's [`ConsumptionRow`]s in
//!    (timestamp, record id) order: `'static`, so it can feed a response body.
//!
//! Memory does not grow with the number of events (see [`select`]), except
//! for `unique_count`, which keeps its distinct values as the aggregation
//! itself does. `Σ amount + unattributed == subtotal` for every group, and
//! the subtotal equals the invoice line's while the events are unchanged.

mod explore;
pub mod plan;
pub mod select;
mod view;
mod walk;

pub use explore::EventsPage;
pub use view::{
    ConsumedEvent, ConsumptionQuery, ConsumptionView, GroupView, InvoiceRef, ProductView,
};
pub use walk::ConsumptionRow;

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Operation};
use tally_event::Period;
use tally_pricing::AttributionRule;
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventSeq, Invoice, Product, ProductKind, StoreError,
    StoredEvent, Subscription, SubscriptionId,
};

use crate::error::{BillingError, BillingResult};
use crate::export::KeySet;
use crate::input::DateRange;
use crate::invoice::lines::line_product_ids;
use crate::invoice::{InvoiceLine, InvoiceView, PricedProduct};
use crate::service::{Billing, compile_stored};
use crate::simulate::PriceGroupRef;
use crate::usage::{calendar_month, range_or_invalid};
use plan::{Plan, PlanBuilder, Planning, Totals};
use walk::{Judge, RowWalker};

/// Whose events, over which period, priced by what, as known when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionScope {
    /// The subscription whose products are explained.
    pub subscription_id: SubscriptionId,
    /// ISO 4217 code of every amount: the invoice's, else the subscription's.
    pub currency: String,
    /// The customer whose events count (an invoice's own customer for an invoice scope).
    pub customer_id: CustomerId,
    /// The period priced as one, `[start, end)`.
    pub period: Period,
    /// The products to explain, in the subscription's (or invoice's) order,
    /// as the live catalog has them, or as a finalized invoice's basis froze
    /// them.
    pub products: Vec<PricedProduct>,
    /// `None`: the events as known now; a finalized invoice's: as known at
    /// its sequence.
    pub known_at: Option<EventSeq>,
    /// Set when the scope is an invoice's.
    pub invoice: Option<Invoice>,
}

/// One product's price groups, planned.
#[derive(Debug, Clone)]
pub struct ProductConsumption {
    /// The usage product explained.
    pub product: Product,
    /// The compiled aggregator (event names, exposed keys).
    pub aggregator: Arc<Aggregator>,
    /// The customer whose events count.
    pub customer_id: CustomerId,
    /// The period priced, `[start, end)`.
    pub period: Period,
    /// The events as known now (`None`) or at this sequence.
    pub known_at: Option<EventSeq>,
    /// One per price group of the product, in its order; the index is the `group` of
    /// [`Billing::consumption_rows`].
    pub groups: Vec<GroupConsumption>,
}

/// One price group: its line and how its amount is spread.
#[derive(Debug, Clone)]
pub struct GroupConsumption {
    /// The price group, named.
    pub price_group: PriceGroupRef,
    /// How the line's amount is spread over the events (marginal, pro rata, own fee, equal
    /// shares).
    pub rule: AttributionRule,
    /// The priced quantity over the period (as on the invoice line).
    pub quantity: Decimal,
    /// The line's subtotal (minor units).
    pub subtotal: i64,
    /// What no event carries (a flat amount, a first tier's flat amount, a
    /// volume price over no quantity).
    pub unattributed: i64,
    /// Events listed (selected by the group, whether behind the quantity or not).
    pub events: u64,
    /// The record keys of those events (up to the export's column limit);
    /// empty when the aggregator exposes keys of its own.
    pub record_keys: KeySet,
    judge: Judge,
    plan: Plan,
}

impl Billing {
    /// The scope of a subscription's period: the one containing now, or the
    /// `start_date`/`end_date` range (any range, priced as one period), priced
    /// by the live catalog over the events as known now.
    pub async fn subscription_scope(
        &self,
        account: &AccountId,
        subscription_id: &str,
        range: &DateRange,
    ) -> BillingResult<ConsumptionScope> {
        let subscription = self.get_subscription(account, subscription_id).await?;
        let period = self.explored_period(&subscription, range)?;
        let pricing = self
            .live_pricing(account, &subscription, period.start())
            .await?;
        Ok(ConsumptionScope {
            subscription_id: subscription.id.clone(),
            currency: subscription.currency.clone(),
            customer_id: subscription.customer_id.clone(),
            products: pricing.products,
            period,
            known_at: None,
            invoice: None,
        })
    }

    /// The scope of an invoice: its customer and period. A finalized
    /// invoice's is priced by its basis over the events as known at its
    /// sequence, so it adds up to its lines whatever changed since; a draft's
    /// (and one finalized before sequences were recorded) by the live catalog
    /// over the events as known now.
    pub async fn invoice_scope(
        &self,
        account: &AccountId,
        invoice_id: &str,
    ) -> BillingResult<ConsumptionScope> {
        Ok(self.explained_invoice(account, invoice_id, None).await?.1)
    }

    /// The invoice as [`Billing::get_invoice`] reads it (a draft
    /// recomputed) and its scope, from one recomputation. With `customer`,
    /// another customer's invoice is `NotFound`, found out before anything
    /// is recomputed.
    pub async fn explained_invoice(
        &self,
        account: &AccountId,
        invoice_id: &str,
        customer: Option<&CustomerId>,
    ) -> BillingResult<(InvoiceView, ConsumptionScope)> {
        let invoice = self.stored_invoice(account, invoice_id).await?;
        if customer.is_some_and(|customer| invoice.customer_id != *customer) {
            return Err(BillingError::not_found("invoice"));
        }
        let subscription_id = invoice.subscription_id.clone().ok_or_else(|| {
            BillingError::Store(StoreError::Corrupt(format!(
                "invoice {} has no subscription",
                invoice.id
            )))
        })?;
        let view = self.current(account, invoice.clone()).await?;
        let (products, known_at) = match (&view.basis, view.known_seq) {
            (Some(basis), Some(known)) => (basis.to_pricing()?.products, Some(known)),
            _ => {
                let subscription = self
                    .store
                    .get_subscription(account, &subscription_id)
                    .await?;
                let live = self
                    .live_pricing(account, &subscription, view.period.start())
                    .await?;
                (lined_products(live.products, &view.lines), None)
            }
        };
        let scope = ConsumptionScope {
            subscription_id,
            currency: invoice.currency.clone(),
            customer_id: invoice.customer_id.clone(),
            products,
            period: invoice.period,
            known_at,
            invoice: Some(invoice),
        };
        Ok((view, scope))
    }

    /// Plans every price group of one usage product of the scope. A product
    /// outside the scope is `NotFound`; a fee product is `Invalid`
    /// (`/product_id`: `not_usage_product`): it has no events.
    pub async fn product_consumption(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        product_id: &str,
    ) -> BillingResult<ProductConsumption> {
        let Some(priced) = scope
            .products
            .iter()
            .find(|priced| priced.product.id.as_str() == product_id)
        else {
            return Err(BillingError::not_found("product"));
        };
        let product = priced.product.clone();
        let record = match (&product.kind, &priced.aggregator) {
            (ProductKind::Usage, Some(record)) => record,
            _ => {
                return Err(BillingError::invalid(
                    "/product_id",
                    "not_usage_product",
                    "only usage products have events",
                ));
            }
        };
        let aggregator = Arc::new(compile_stored(record)?);
        let mut groups = Vec::with_capacity(product.price_groups.len());
        for group in &product.price_groups {
            let judge = Judge::new(
                aggregator.clone(),
                aggregator.window(scope.period),
                group.aggregator_filter_id.as_ref().map(ToString::to_string),
                group.price.clone(),
            );
            let price_group = PriceGroupRef {
                id: group.id.clone(),
                name: group.name.clone(),
            };
            groups.push(self.plan_group(account, scope, price_group, judge).await?);
        }
        Ok(ProductConsumption {
            product,
            aggregator,
            customer_id: scope.customer_id.clone(),
            period: scope.period,
            known_at: scope.known_at,
            groups,
        })
    }

    /// One price group's events with their amounts, in (timestamp, record id)
    /// order. `NotFound` (`price_group`) for an index past the product's groups.
    pub fn consumption_rows(
        &self,
        account: &AccountId,
        product: &ProductConsumption,
        group: usize,
    ) -> BillingResult<BoxStream<'static, BillingResult<ConsumptionRow>>> {
        let planned = product
            .groups
            .get(group)
            .ok_or(BillingError::not_found("price_group"))?;
        let mut walker = RowWalker::new(group, planned.judge.clone(), &planned.plan);
        let events = self.window_events(
            account,
            &product.customer_id,
            &product.aggregator,
            planned.judge.window,
            product.known_at,
        );
        Ok(events
            .filter_map(move |stored| futures::future::ready(walker.step(stored).transpose()))
            .boxed())
    }

    /// The totals (from the usage read where it gives them, else a pass over
    /// the group's events), then a pass for the residue plan.
    async fn plan_group(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        price_group: PriceGroupRef,
        judge: Judge,
    ) -> BillingResult<GroupConsumption> {
        let totals = match self.stored_totals(account, scope, &judge).await? {
            Some(totals) => totals,
            None => self.scanned_totals(account, scope, &judge).await?,
        };
        let mut builder = PlanBuilder::new(&judge.model, judge.rule(), totals)?;
        let mut second = judge.clone();
        // The keys of the events the group lists, for an export's columns:
        // gathered here rather than in a pass of their own.
        let mut record_keys = judge
            .aggregator
            .exposed_event_keys()
            .is_none()
            .then(KeySet::new);
        let mut events = self.group_events(account, scope, &judge);
        while let Some(stored) = events.next().await {
            let event = stored?.into_event()?;
            if let Some(judged) = second.judge(&event)? {
                builder.push(judged)?;
                if let Some(keys) = record_keys.as_mut() {
                    keys.add(&event.record);
                }
            }
        }
        let plan = self
            .refine(account, scope, &judge, builder.finish()?)
            .await?;
        Ok(GroupConsumption {
            price_group,
            rule: plan.rule,
            quantity: plan.quantity.normalize(),
            subtotal: plan.subtotal,
            unattributed: plan.unattributed,
            events: plan.rows,
            record_keys: record_keys.unwrap_or_default(),
            judge,
            plan,
        })
    }

    /// The first pass's totals without reading the events, where the usage
    /// read gives them exactly: for `count`, `sum` and `unique_count` under a
    /// price that is not a percentage, the quantity and the events behind it
    /// are the aggregation's result (`event_count` counts exactly the events
    /// the judge finds behind the quantity), served from rollups when they
    /// are ready. `None` for every other case.
    async fn stored_totals(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        judge: &Judge,
    ) -> BillingResult<Option<Totals>> {
        let operation = judge.aggregator.operation();
        let additive = matches!(
            operation,
            Operation::Count | Operation::Sum | Operation::UniqueCount
        );
        if !additive || judge.model.percentage_property().is_some() {
            return Ok(None);
        }
        let filter = judge
            .filter
            .as_deref()
            .map(AggregatorFilterId::parse)
            .transpose()
            .map_err(|_| BillingError::not_found("aggregator filter"))?;
        let result = self
            .window_quantity(
                account,
                &judge.aggregator,
                filter.as_ref(),
                &scope.customer_id,
                judge.window,
                scope.known_at,
            )
            .await?;
        Ok(Some(Totals {
            quantity: result.quantity,
            behind: result.event_count,
            fees: Decimal::ZERO,
        }))
    }

    /// The first pass over the group's events: the quantity, the events
    /// behind it and, for a percentage, the exact sum of the fees.
    async fn scanned_totals(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        judge: &Judge,
    ) -> BillingResult<Totals> {
        let mut totals = Totals::default();
        let mut accumulator = judge
            .aggregator
            .accumulator(judge.window, judge.filter.as_deref())?;
        let mut first = judge.clone();
        let mut events = self.group_events(account, scope, judge);
        while let Some(stored) = events.next().await {
            let event = stored?.into_event()?;
            accumulator.push(&event);
            if let Some(judged) = first.judge(&event)? {
                totals.push(&judge.model, judged)?;
            }
        }
        if judge.model.percentage_property().is_none() {
            totals.quantity = accumulator.finish()?.quantity;
        }
        Ok(totals)
    }

    /// Further passes while the residue's threshold needs them (rare: only
    /// with more distinct fractional shares than `select::EXACT_LIMIT`).
    async fn refine(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        judge: &Judge,
        mut planning: Planning,
    ) -> BillingResult<Plan> {
        loop {
            let mut refiner = match planning {
                Planning::Done(plan) => return Ok(*plan),
                Planning::Refine(refiner) => refiner,
            };
            let mut again = judge.clone();
            let mut events = self.group_events(account, scope, judge);
            while let Some(stored) = events.next().await {
                if let Some(judged) = again.judge(&stored?.into_event()?)? {
                    refiner.push(judged)?;
                }
            }
            planning = refiner.finish()?;
        }
    }

    fn group_events(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        judge: &Judge,
    ) -> BoxStream<'static, tally_store::StoreResult<StoredEvent>> {
        self.window_events(
            account,
            &scope.customer_id,
            &judge.aggregator,
            judge.window,
            scope.known_at,
        )
    }

    fn explored_period(
        &self,
        subscription: &Subscription,
        range: &DateRange,
    ) -> BillingResult<Period> {
        if range.start_date.is_some() && range.end_date.is_some() {
            return range_or_invalid(range, calendar_month(self.now())?);
        }
        let current = crate::period::period_containing(subscription, self.now())
            .map_err(|e| BillingError::conflict("subscription", e.to_string()))?;
        range_or_invalid(range, current)
    }
}

/// The live products a draft's lines name, in line order (a product added to
/// the subscription since the draft was created is explained too: its lines
/// are recomputed on every read).
fn lined_products(products: Vec<PricedProduct>, lines: &[InvoiceLine]) -> Vec<PricedProduct> {
    line_product_ids(lines)
        .into_iter()
        .filter_map(|id| products.iter().find(|p| p.product.id == id).cloned())
        .collect()
}

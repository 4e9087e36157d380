//! Pricing one event: simulate (nothing stored) and ingest-and-price.
//!
//! An event is priced as the change it makes (docs/billing.md,
//! "Simulation"): for each of the customer's subscriptions whose period
//! contains it, each of their usage products whose aggregator has its type,
//! and each price group that its version before or after the change counts in
//! (the aggregator's `where` and the group's filter),
//! `subtotal(after) − subtotal(before)` over the period: for a percentage
//! price, the key's own fee after minus before; for any other model, the
//! group's quantity priced with the key's version swapped. The upsert rule
//! decides the version after: the event replaces the current version unless
//! it is older (metered), or the version valid at the period's end when it
//! is dated before the end and not before that version (licensed). So a new
//! event prices its marginal amount, a no-op update 0, a soft deletion the
//! negative amount it removes, a stale event 0 (metered). An update that moves
//! a metered event out of another period of the subscription prices that
//! period too.

use std::fmt;

use futures::StreamExt;
use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, AggregatorKind, Contribution, Retraction, Scope, Window};
use tally_event::{Event, EventKey, Period, Timestamp, parse_event};
use tally_pricing::{PriceModel, TaxRate, Taxed, price, price_events};
use tally_store::{
    AccountId, AsOf, Customer, CustomerId, EventSeq, NewWebhookEvent, PriceGroup, PriceGroupId,
    Product, ProductId, ProductKind, Subscription, SubscriptionId, WebhookEventType,
    ids::random_base62,
};

use tally_store::rollups::window_partial;

use crate::catalog::price_versions::product_at;
use crate::error::{BillingError, BillingResult};
use crate::ingest::{IngestedEvent, customer_not_found, event_problems};
use crate::period::period_containing;
use crate::service::{Billing, compile_stored};
use crate::usage::event_window;

/// `product_id`, `subscription_id` (narrow the result) and `include_tax`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulateOptions {
    /// Only this product's lines (`itm_…`); an unknown one is `NotFound`.
    pub product_id: Option<String>,
    /// Only this subscription's lines (`sub_…`); an unknown one is `NotFound`.
    pub subscription_id: Option<String>,
    /// Whether to add tax at the subscription's (else the customer's) rate.
    pub include_tax: bool,
}

/// The id of a calculation: `cal_` and 22 random base62 characters. Calculations
/// are not stored.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CalculationId(String);

impl CalculationId {
    /// The whole id, `cal_` included.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CalculationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A price group, named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceGroupRef {
    /// The price group's id (`grp_…`).
    pub id: PriceGroupId,
    /// Its name.
    pub name: String,
}

/// One priced line: amounts in minor units of `currency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    /// The customer the event belongs to.
    pub customer_id: CustomerId,
    /// The subscription whose period contains the event.
    pub subscription_id: SubscriptionId,
    /// The usage product priced.
    pub product_id: ProductId,
    /// The price group the event counts in (before or after the change).
    pub price_group: PriceGroupRef,
    /// The subscription's period the amount moves, `[start, end)`.
    pub period: Period,
    /// Minor units: what the event adds to the group's subtotal.
    pub amount_excluding_tax: i64,
    /// 0 unless `include_tax`.
    pub tax_amount: i64,
    /// `amount_excluding_tax + tax_amount`.
    pub total_amount: i64,
    /// ISO 4217 code of the amounts.
    pub currency: String,
}

/// The result of pricing an event (seed 003).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calculation {
    /// A fresh id for this calculation.
    pub id: CalculationId,
    /// One line per subscription, product and price group the event counts in; empty when it
    /// counts in none.
    pub result: Vec<PricedLine>,
}

/// Ingest-and-price: what the upsert did, and the event's prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedEvent {
    /// What the upsert did.
    pub event: IngestedEvent,
    /// The change the event made, priced (0 where it changed nothing).
    pub calculation: Calculation,
}

impl Billing {
    /// Prices an event without storing it. The customer must exist
    /// (`/customer_id`: `customer_not_found`, never created); an unknown
    /// `product_id` or `subscription_id` is `NotFound`.
    pub async fn simulate_prices(
        &self,
        account: &AccountId,
        event: &serde_json::Value,
        options: &SimulateOptions,
    ) -> BillingResult<Calculation> {
        self.check_options(account, options).await?;
        let settings = self.account_settings(account).await?;
        let parsed = parse_event(event, &settings.validation_config(), self.now())
            .map_err(|errors| BillingError::Invalid(event_problems(errors)))?;
        let customer = self
            .store
            .find_customer(account, &parsed.event.customer)
            .await?
            .ok_or_else(|| BillingError::Invalid(vec![customer_not_found()]))?;
        let result = self
            .price_event(account, &customer, parsed.event, options, None)
            .await?;
        Ok(self.calculation(result))
    }

    /// Stores the event (as `ingest_event` does, customers auto-created per the
    /// account's settings), then prices the change it made against what was
    /// known just before its version. A stale or unchanged event prices 0
    /// where it counts (no metered amount moves).
    pub async fn ingest_and_price(
        &self,
        account: &AccountId,
        event: &serde_json::Value,
        options: &SimulateOptions,
    ) -> BillingResult<PricedEvent> {
        self.check_options(account, options).await?;
        let settings = self.account_settings(account).await?;
        let parsed = parse_event(event, &settings.validation_config(), self.now())
            .map_err(|errors| BillingError::Invalid(event_problems(errors)))?;
        let mut outcome = self
            .store_validated(account, &settings, vec![Ok(parsed.clone())])
            .await?;
        if let Some(rejected) = outcome.rejected.pop() {
            return Err(BillingError::Invalid(rejected.errors));
        }
        let Some(accepted) = outcome.accepted.pop() else {
            return Err(BillingError::Store(tally_store::StoreError::Internal(
                "event neither accepted nor rejected".into(),
            )));
        };
        let ingested = accepted.event;
        // Priced against what was known just before its version: the change
        // it made, whatever was ingested since. An unchanged event stored
        // nothing and is priced against now (every amount 0).
        let known_at = ingested
            .seq
            .map(|seq| EventSeq::new(seq.get() - 1))
            .transpose()?;
        let customer = self
            .store
            .get_customer(account, &ingested.customer_id)
            .await?;
        let key = parsed.event.key();
        let result = self
            .price_event(account, &customer, parsed.event, options, known_at)
            .await?;
        let priced = PricedEvent {
            event: ingested,
            calculation: self.calculation(result),
        };
        // After the event's own commit: this use case has no one transaction
        // to share. A failure here fails the request; sent again, the event
        // is `unchanged`, priced 0, and announced again.
        let announced = NewWebhookEvent {
            id: self.webhook_event_id(),
            event_type: WebhookEventType::EventPriceCalculated,
            data: price_calculated(&priced, &key),
            created_at: self.now(),
        };
        self.store.record_webhook_event(account, &announced).await?;
        Ok(priced)
    }

    fn calculation(&self, result: Vec<PricedLine>) -> Calculation {
        let random = self
            .ids
            .with(|rng| random_base62(rng, tally_store::ids::RANDOM_PART_LEN));
        Calculation {
            id: CalculationId(format!("cal_{random}")),
            result,
        }
    }

    /// Unknown product or subscription ids are `NotFound`, whoever they belong to.
    async fn check_options(
        &self,
        account: &AccountId,
        options: &SimulateOptions,
    ) -> BillingResult<()> {
        if let Some(id) = &options.product_id {
            self.get_product(account, id).await?;
        }
        if let Some(id) = &options.subscription_id {
            self.get_subscription(account, id).await?;
        }
        Ok(())
    }

    /// The lines of `event`'s change, for its customer, against what the
    /// account knew at `known_at` (`None`: now).
    async fn price_event(
        &self,
        account: &AccountId,
        customer: &Customer,
        mut event: Event,
        options: &SimulateOptions,
        known_at: Option<EventSeq>,
    ) -> BillingResult<Vec<PricedLine>> {
        // Stored events name their customer by `cus_` id; so does the priced one.
        event.customer = tally_event::CustomerRef::parse(customer.id.as_str())
            .map_err(|e| BillingError::Evaluation(e.to_string()))?;
        let key = EventKey {
            event_type: event.event_type.clone(),
            record_id: event.record.id().clone(),
        };
        // The customer's current version of the key: an update may move it
        // out of a period (even of a subscription the event is not in).
        let current = AsOf {
            known_at,
            valid_at: None,
        };
        let replaced_at = self
            .store
            .get_event_as_of(account, &key, current)
            .await?
            .filter(|r| r.customer_id == customer.id)
            .map(|r| r.timestamp);
        let change = Change {
            key,
            event: &event,
            customer: &customer.id,
            known_at,
            replaced_at,
        };
        let mut subscriptions = self
            .active_subscriptions(account, &customer.id, event.timestamp)
            .await?;
        if let Some(at) = replaced_at {
            for subscription in self.active_subscriptions(account, &customer.id, at).await? {
                if subscriptions.iter().all(|s| s.id != subscription.id) {
                    subscriptions.push(subscription);
                }
            }
        }
        let mut lines = Vec::new();
        for subscription in subscriptions.iter().filter(|s| {
            options
                .subscription_id
                .as_deref()
                .is_none_or(|id| s.id.as_str() == id)
        }) {
            for product_id in subscription.product_ids.iter().filter(|id| {
                options
                    .product_id
                    .as_deref()
                    .is_none_or(|wanted| id.as_str() == wanted)
            }) {
                let context = LineContext {
                    customer,
                    subscription,
                    include_tax: options.include_tax,
                };
                lines.extend(
                    self.price_product(account, &context, product_id, &change)
                        .await?,
                );
            }
        }
        Ok(lines)
    }

    async fn price_product(
        &self,
        account: &AccountId,
        context: &LineContext<'_>,
        product_id: &ProductId,
        change: &Change<'_>,
    ) -> BillingResult<Vec<PricedLine>> {
        let stored = match self.store.get_product(account, product_id).await {
            Ok(product) => product,
            Err(tally_store::StoreError::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let Some(aggregator_id) = stored
            .aggregator_id
            .as_ref()
            .filter(|_| stored.kind == ProductKind::Usage)
        else {
            return Ok(Vec::new());
        };
        let record = self.store.get_aggregator(account, aggregator_id).await?;
        let aggregator = compile_stored(&record)?;
        if aggregator.event_type() != &change.event.event_type {
            return Ok(Vec::new());
        }
        let mut lines = Vec::new();
        for period in Self::affected_periods(context.subscription, &aggregator, change) {
            // Each period is priced with the price version in effect at its start.
            let product = product_at(&stored, period.start());
            let probe = self.probe(account, &aggregator, period, change).await?;
            for group in &product.price_groups {
                let filter = group.aggregator_filter_id.as_ref().map(|id| id.as_str());
                let scope = aggregator.scope(probe.window, filter)?;
                let counts = |event: Option<&Event>| {
                    event.is_some_and(|e| {
                        !matches!(
                            scope.contribution(e),
                            Contribution::NotMatched | Contribution::Skipped(_)
                        )
                    })
                };
                if !counts(probe.before.as_ref()) && !counts(probe.after.as_ref()) {
                    continue;
                }
                let Some(subtotal) = self
                    .marginal(account, &probe, &scope, filter, &group.price)
                    .await?
                else {
                    continue;
                };
                lines.push(priced_line(context, &product, group, period, subtotal)?);
            }
        }
        Ok(lines)
    }

    /// The periods of `subscription` the change moves: the one containing the
    /// event, and for a metered aggregator the one containing the version it
    /// replaces (an update may move an event to another period).
    fn affected_periods(
        subscription: &Subscription,
        aggregator: &Aggregator,
        change: &Change<'_>,
    ) -> Vec<Period> {
        let mut periods: Vec<Period> = period_containing(subscription, change.event.timestamp)
            .into_iter()
            .collect();
        if aggregator.kind() == AggregatorKind::Metered
            && let Some(at) = change.replaced_at
            && let Ok(period) = period_containing(subscription, at)
            && !periods.contains(&period)
        {
            periods.push(period);
        }
        periods
    }

    /// The key's version in the customer's read of `period` before the
    /// change, and after it: the upsert rule decides whether the event
    /// becomes the version the read sees (docs/billing.md, "Simulation").
    async fn probe<'c>(
        &self,
        account: &AccountId,
        aggregator: &'c Aggregator,
        period: Period,
        change: &'c Change<'c>,
    ) -> BillingResult<Probe<'c>> {
        let window = aggregator.window(period);
        let as_of = AsOf::for_window(event_window(window), change.known_at);
        let seen = self
            .store
            .get_event_as_of(account, &change.key, as_of)
            .await?;
        let new = change.event;
        let takes_over = match (aggregator.kind(), &seen) {
            (_, None) => true,
            // The current version: replaced unless the event is older (stale).
            (AggregatorKind::Metered, Some(seen)) => new.timestamp >= seen.timestamp,
            // The version valid at the window's end: replaced by a version
            // dated before the end and not before it.
            (AggregatorKind::Licensed, Some(seen)) => {
                window.contains(new.timestamp) && new.timestamp >= seen.timestamp
            }
        };
        let before = seen
            .filter(|s| s.customer_id == *change.customer)
            .map(|s| s.to_event())
            .transpose()?;
        let after = if takes_over {
            Some(new.clone())
        } else {
            before.clone()
        };
        Ok(Probe {
            aggregator,
            window,
            customer: change.customer,
            key: &change.key,
            known_at: change.known_at,
            before,
            after,
        })
    }

    /// The group's subtotal after the change minus before it. A percentage
    /// price bills each event its own fee, so only the key's fees differ
    /// (`None` when neither version has a usable value: nothing to price);
    /// any other model prices the group's quantity with and without it.
    async fn marginal(
        &self,
        account: &AccountId,
        probe: &Probe<'_>,
        scope: &Scope<'_>,
        filter: Option<&str>,
        model: &PriceModel,
    ) -> BillingResult<Option<i64>> {
        if let Some(property) = model.percentage_property() {
            let value = |event: Option<&Event>| {
                event
                    .filter(|e| scope.selects(e))
                    .and_then(|e| e.record.get(property))
                    .and_then(|v| v.as_decimal())
            };
            let fee = |value: Option<Decimal>| -> BillingResult<i64> {
                match value {
                    Some(value) => Ok(price_events(model, &[value])?.subtotal),
                    None => Ok(0),
                }
            };
            let (before, after) = (value(probe.before.as_ref()), value(probe.after.as_ref()));
            if before.is_none() && after.is_none() {
                return Ok(None);
            }
            return Ok(Some(difference(fee(after)?, fee(before)?)?));
        }
        let (before, after) = self.quantities(account, probe, filter).await?;
        Ok(Some(difference(
            price(model, after)?.subtotal,
            price(model, before)?.subtotal,
        )?))
    }

    /// The group's quantity before and after the change: one read of the
    /// customer's events, the key's version swapped (from the rollups when
    /// they can answer). Quantities below zero (aggregators allowing them)
    /// are priced as zero.
    async fn quantities(
        &self,
        account: &AccountId,
        probe: &Probe<'_>,
        filter: Option<&str>,
    ) -> BillingResult<(Decimal, Decimal)> {
        if let Some(quantities) = self.quantities_from_rollups(account, probe, filter).await? {
            return Ok(quantities);
        }
        let mut before = probe.aggregator.accumulator(probe.window, filter)?;
        let mut after = probe.aggregator.accumulator(probe.window, filter)?;
        let mut events = self.window_events(
            account,
            probe.customer,
            probe.aggregator,
            probe.window,
            probe.known_at,
        );
        while let Some(stored) = events.next().await {
            let stored = stored?;
            let event = stored.to_event()?;
            before.push(&event);
            let is_key = stored.event_type == probe.key.event_type
                && *stored.record_id() == probe.key.record_id;
            if !is_key {
                after.push(&event);
            }
        }
        if let Some(event) = &probe.after {
            after.push(event);
        }
        let before = before.result()?.quantity.max(Decimal::ZERO);
        let after = after.result()?.quantity.max(Decimal::ZERO);
        Ok((before, after))
    }
}

impl Billing {
    /// [`Billing::quantities`] from the aggregator's rollup: the partial of
    /// the window before, then with the key's version retracted and the
    /// new one added. `None` when the rollup cannot answer (a read as of a
    /// sequence, not ready, a retracted extreme, a licensed period ending
    /// inside an hour): the caller reads the events.
    async fn quantities_from_rollups(
        &self,
        account: &AccountId,
        probe: &Probe<'_>,
        filter: Option<&str>,
    ) -> BillingResult<Option<(Decimal, Decimal)>> {
        if probe.known_at.is_some() {
            return Ok(None);
        }
        // A filter id that does not parse: the events' path reports it.
        let Ok(filter_id) = filter
            .map(tally_store::AggregatorFilterId::parse)
            .transpose()
        else {
            return Ok(None);
        };
        let Some(before) = window_partial(
            self.store.as_ref(),
            account,
            probe.aggregator,
            filter_id.as_ref(),
            probe.customer,
            probe.window,
        )
        .await?
        else {
            return Ok(None);
        };
        let scope = probe.aggregator.rollup_scope(filter)?;
        let in_window = |e: &&Event| probe.window.contains(e.timestamp);
        let contribution = |e: &Event| scope.partial_of(&e.event_type, e.timestamp, &e.record);
        let mut after = before.clone();
        if let Some(old) = probe
            .before
            .as_ref()
            .filter(in_window)
            .and_then(contribution)
            && after.retract(&old) == Retraction::Recompute
        {
            return Ok(None);
        }
        if let Some(new) = probe
            .after
            .as_ref()
            .filter(in_window)
            .and_then(contribution)
        {
            after.add(&new);
        }
        let (Some(before), Some(after)) = (scope.finish(&before)?, scope.finish(&after)?) else {
            return Ok(None);
        };
        let floor = |q: Decimal| q.max(Decimal::ZERO);
        Ok(Some((floor(before.quantity), floor(after.quantity))))
    }
}

/// An event to price: its key and customer, and what it is priced against.
struct Change<'a> {
    key: EventKey,
    event: &'a Event,
    customer: &'a CustomerId,
    known_at: Option<EventSeq>,
    /// The timestamp of the customer's current version of the key, if any.
    replaced_at: Option<Timestamp>,
}

/// One period's read of the key: its version before the change and after it
/// (`None`: the key does not count in this customer's read).
struct Probe<'a> {
    aggregator: &'a Aggregator,
    window: Window,
    customer: &'a CustomerId,
    key: &'a EventKey,
    known_at: Option<EventSeq>,
    before: Option<Event>,
    after: Option<Event>,
}

struct LineContext<'a> {
    customer: &'a Customer,
    subscription: &'a Subscription,
    include_tax: bool,
}

fn priced_line(
    context: &LineContext<'_>,
    product: &Product,
    group: &PriceGroup,
    period: Period,
    subtotal: i64,
) -> BillingResult<PricedLine> {
    let taxed = if context.include_tax {
        let percent = context
            .subscription
            .tax_rate
            .or(context.customer.tax_rate)
            .unwrap_or(Decimal::ZERO);
        Taxed::compute(subtotal, TaxRate::new(percent)?)?
    } else {
        Taxed {
            subtotal,
            tax: 0,
            total: subtotal,
        }
    };
    Ok(PricedLine {
        customer_id: context.customer.id.clone(),
        subscription_id: context.subscription.id.clone(),
        product_id: product.id.clone(),
        price_group: PriceGroupRef {
            id: group.id.clone(),
            name: group.name.clone(),
        },
        period,
        amount_excluding_tax: taxed.subtotal,
        tax_amount: taxed.tax,
        total_amount: taxed.total,
        currency: product.currency.code().to_owned(),
    })
}

/// `after - before`, refusing an overflow rather than wrapping.
fn difference(after: i64, before: i64) -> BillingResult<i64> {
    after
        .checked_sub(before)
        .ok_or_else(|| BillingError::Evaluation("price difference overflows".into()))
}

/// The data of `event.price_calculated`: the event as stored and the
/// calculation, its amounts as `POST /v1/events/prices` answers them.
fn price_calculated(priced: &PricedEvent, key: &EventKey) -> serde_json::Value {
    let lines: Vec<serde_json::Value> = priced
        .calculation
        .result
        .iter()
        .map(|line| {
            serde_json::json!({
                "customer_id": line.customer_id.as_str(),
                "subscription_id": line.subscription_id.as_str(),
                "product_id": line.product_id.as_str(),
                "price_group_id": line.price_group.id.as_str(),
                "period_start": line.period.start().to_rfc3339(),
                "period_end": line.period.end().to_rfc3339(),
                "amount_excluding_tax": line.amount_excluding_tax,
                "tax_amount": line.tax_amount,
                "total_amount": line.total_amount,
                "currency": line.currency,
            })
        })
        .collect();
    serde_json::json!({
        "calculation_id": priced.calculation.id.0,
        "event": {
            "id": priced.event.id.as_str(),
            "event_type": key.event_type.as_str(),
            "record_id": key.record_id.as_str(),
            "customer_id": priced.event.customer_id.as_str(),
            "outcome": priced.event.outcome.as_str(),
        },
        "result": lines,
    })
}

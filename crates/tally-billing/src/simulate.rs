//! Pricing one event: simulate (nothing stored) and ingest-and-price.
//!
//! For each of the customer's subscriptions whose period contains the event,
//! each of their usage products whose aggregator has the event's type, and each
//! price group the event passes (the aggregator's `where` and the group's
//! filter), the event's marginal amount: for every model but percentage,
//! `subtotal(usage so far + this event) − subtotal(usage so far)` over the
//! subscription's period; for percentage, the event's own fee. Usage so far
//! leaves out the stored event with the same key, so re-sending an event (an
//! update) prices it once, not on top of itself.

use std::collections::HashMap;
use std::fmt;

use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Contribution, Window};
use tally_event::{Event, EventKey, parse_event};
use tally_pricing::{PriceModel, PriceModelDef, TaxRate, Taxed, price, price_events};
use tally_store::{
    AccountId, Customer, CustomerId, PriceGroup, PriceGroupId, Product, ProductId, ProductKind,
    Subscription, SubscriptionId, ids::random_base62,
};

use crate::error::{BillingError, BillingResult};
use crate::ingest::{IngestedEvent, customer_not_found, event_problems};
use crate::period::period_containing;
use crate::service::{Billing, compile_stored};

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
    /// The price group the event passes.
    pub price_group: PriceGroupRef,
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
    /// The event's prices (empty when stale).
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
            .price_event(account, &customer, parsed.event, options)
            .await?;
        Ok(self.calculation(result))
    }

    /// Stores the event (as `ingest_event` does, customers auto-created per the
    /// account's settings), then prices it as its marginal amount. A stale event
    /// changed nothing and prices nothing (empty result).
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
        let result = if ingested.outcome.is_written() {
            let customer = self
                .store
                .get_customer(account, &ingested.customer_id)
                .await?;
            self.price_event(account, &customer, parsed.event, options)
                .await?
        } else {
            Vec::new()
        };
        Ok(PricedEvent {
            event: ingested,
            calculation: self.calculation(result),
        })
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

    async fn price_event(
        &self,
        account: &AccountId,
        customer: &Customer,
        mut event: Event,
        options: &SimulateOptions,
    ) -> BillingResult<Vec<PricedLine>> {
        // Stored events name their customer by `cus_` id; so does the priced one.
        event.customer = tally_event::CustomerRef::parse(customer.id.as_str())
            .map_err(|e| BillingError::Evaluation(e.to_string()))?;
        let subscriptions = self
            .active_subscriptions(account, &customer.id, event.timestamp)
            .await?;
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
                    self.price_product(account, &context, product_id, &event)
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
        event: &Event,
    ) -> BillingResult<Vec<PricedLine>> {
        let product = match self.store.get_product(account, product_id).await {
            Ok(product) => product,
            Err(tally_store::StoreError::NotFound { .. }) => return Ok(Vec::new()),
            Err(error) => return Err(error.into()),
        };
        let Some(aggregator_id) = product
            .aggregator_id
            .as_ref()
            .filter(|_| product.kind == ProductKind::Usage)
        else {
            return Ok(Vec::new());
        };
        let record = self.store.get_aggregator(account, aggregator_id).await?;
        let aggregator = compile_stored(&record)?;
        if aggregator.event_type() != &event.event_type {
            return Ok(Vec::new());
        }
        let Ok(period) = period_containing(context.subscription, event.timestamp) else {
            return Ok(Vec::new());
        };
        let mut usage = UsageProbe {
            account,
            customer: &context.customer.id,
            aggregator: &aggregator,
            window: aggregator.window(period),
            event,
            read: HashMap::new(),
        };
        let mut lines = Vec::new();
        for group in &product.price_groups {
            let filter = group.aggregator_filter_id.as_ref().map(|id| id.as_str());
            let scope = aggregator.scope(usage.window, filter)?;
            if matches!(
                scope.contribution(event),
                Contribution::NotMatched | Contribution::Skipped(_)
            ) {
                continue;
            }
            let model = stored_model(group)?;
            let Some(subtotal) = self.marginal(&mut usage, filter, &model).await? else {
                continue;
            };
            lines.push(priced_line(context, &product, group, subtotal)?);
        }
        Ok(lines)
    }

    /// The event's marginal subtotal; `None` when a percentage price finds no
    /// usable value in the event.
    async fn marginal(
        &self,
        usage: &mut UsageProbe<'_>,
        filter: Option<&str>,
        model: &PriceModel,
    ) -> BillingResult<Option<i64>> {
        if let Some(property) = model.percentage_property() {
            let value = usage
                .event
                .record
                .get(property)
                .and_then(|v| v.as_decimal());
            let Some(value) = value else {
                return Ok(None);
            };
            return Ok(Some(price_events(model, &[value])?.subtotal));
        }
        let (before, after) = self.quantities(usage, filter).await?;
        let difference = price(model, after)?.subtotal - price(model, before)?.subtotal;
        Ok(Some(difference))
    }

    /// The quantity without and with the event, read once per named filter.
    /// Quantities below zero (aggregators allowing them) are priced as zero.
    async fn quantities(
        &self,
        usage: &mut UsageProbe<'_>,
        filter: Option<&str>,
    ) -> BillingResult<(Decimal, Decimal)> {
        if let Some(known) = usage.read.get(&filter.map(str::to_owned)) {
            return Ok(*known);
        }
        let event = usage.event;
        let key = EventKey {
            event_type: event.event_type.clone(),
            record_id: event.record.id().clone(),
        };
        let mut accumulator = self
            .accumulate(
                usage.account,
                usage.customer,
                usage.aggregator,
                usage.window,
                filter,
                Some(&key),
            )
            .await?;
        let before = accumulator.result()?.quantity.max(Decimal::ZERO);
        accumulator.push(event);
        let after = accumulator.result()?.quantity.max(Decimal::ZERO);
        usage
            .read
            .insert(filter.map(str::to_owned), (before, after));
        Ok((before, after))
    }
}

/// What pricing one event against one aggregator reads, and the quantities
/// already read (groups sharing a filter share them).
struct UsageProbe<'a> {
    account: &'a AccountId,
    customer: &'a CustomerId,
    aggregator: &'a Aggregator,
    window: Window,
    event: &'a Event,
    read: HashMap<Option<String>, (Decimal, Decimal)>,
}

struct LineContext<'a> {
    customer: &'a Customer,
    subscription: &'a Subscription,
    include_tax: bool,
}

pub(crate) fn stored_model(group: &PriceGroup) -> BillingResult<PriceModel> {
    let corrupt = |message: String| {
        BillingError::Store(tally_store::StoreError::Corrupt(format!(
            "price group {}: {message}",
            group.id
        )))
    };
    let def: PriceModelDef =
        serde_json::from_value(group.price.clone()).map_err(|e| corrupt(e.to_string()))?;
    PriceModel::parse(&def).map_err(|e| corrupt(e.to_string()))
}

fn priced_line(
    context: &LineContext<'_>,
    product: &Product,
    group: &PriceGroup,
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
        amount_excluding_tax: taxed.subtotal,
        tax_amount: taxed.tax,
        total_amount: taxed.total,
        currency: product.currency.clone(),
    })
}

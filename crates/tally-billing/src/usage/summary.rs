//! Quantities of one customer: every aggregator of its subscriptions, or one.

use std::collections::HashSet;

use rust_decimal::Decimal;
use tally_aggregate::Diagnostics;
use tally_event::{Period, Timestamp};
use tally_store::{AccountId, AggregatorFilterId, AggregatorId, CustomerId, ProductKind};

use super::calendar_month;
use super::events::unknown_filter;
use crate::error::{BillingError, BillingResult, Problems};
use crate::input::DateRange;
use crate::period::period_containing;
use crate::service::{Billing, all_pages, compile_stored};

/// One aggregator's quantity for a customer over its current period.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSummary {
    /// The aggregator's id (`agg_…`).
    pub aggregator_id: AggregatorId,
    /// The aggregator's name.
    pub name: String,
    /// The unit of the total (`call`), as defined.
    pub unit_name: Option<String>,
    /// The aggregated quantity: exact, never a float.
    pub total: Decimal,
    /// The number of events behind the total.
    pub count: u64,
    /// The period the total covers.
    pub period: Period,
    /// The events selected, and those skipped because their value was
    /// missing or not a number.
    pub diagnostics: Diagnostics,
}

/// One aggregator's quantity for a customer over a chosen range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorUsage {
    /// The aggregator's id (`agg_…`).
    pub aggregator_id: AggregatorId,
    /// The aggregated quantity: exact, never a float.
    pub total: Decimal,
    /// The number of events behind the total.
    pub count: u64,
    /// Start of the range, inclusive.
    pub period_start: Timestamp,
    /// End of the range, exclusive.
    pub period_end: Timestamp,
    /// The events selected, and those skipped because their value was
    /// missing or not a number.
    pub diagnostics: Diagnostics,
}

impl Billing {
    /// The customer's usage for the current period (`GET
    /// /v1/customers/{id}/usage`). With started subscriptions: each aggregator
    /// their usage products use, once (the oldest subscription's period wins),
    /// in subscription then product order. Without: every aggregator of the
    /// account over the current calendar month (UTC), oldest first.
    pub async fn customer_usage(
        &self,
        account: &AccountId,
        customer: &str,
    ) -> BillingResult<Vec<UsageSummary>> {
        self.customer_usage_of(account, customer, None).await
    }

    /// [`Billing::customer_usage`] narrowed to one aggregator filter: the
    /// one aggregator owning it, over that filter's events. A filter of
    /// none of the customer's usage aggregators is `Invalid`
    /// (`/aggregator_filter_id`: `unknown_filter`).
    pub async fn customer_usage_of(
        &self,
        account: &AccountId,
        customer: &str,
        filter: Option<&str>,
    ) -> BillingResult<Vec<UsageSummary>> {
        let customer = self.find_customer(account, customer).await?;
        let now = self.now();
        let targets = self.usage_targets(account, &customer.id, now).await?;
        let mut summaries = Vec::with_capacity(targets.len());
        for (record, period) in targets {
            let aggregator = compile_stored(&record)?;
            if filter.is_some_and(|id| aggregator.filter(id).is_none()) {
                continue;
            }
            let filter = filter.map(filter_id).transpose()?;
            let window = aggregator.window(period);
            let result = self
                .window_quantity(
                    account,
                    &aggregator,
                    filter.as_ref(),
                    &customer.id,
                    window,
                    None,
                )
                .await?;
            summaries.push(UsageSummary {
                aggregator_id: record.id,
                name: record.name,
                unit_name: aggregator.unit_name().map(str::to_owned),
                total: result.quantity.normalize(),
                count: result.event_count,
                period,
                diagnostics: result.diagnostics,
            });
        }
        if filter.is_some() && summaries.is_empty() {
            return Err(unknown_filter());
        }
        Ok(summaries)
    }

    /// One aggregator's usage over `range` (`GET
    /// /v1/customers/{id}/usage/{aggregator_id}`); a missing bound comes from the
    /// default period (the customer's subscription period using this aggregator,
    /// else the calendar month, at now).
    pub async fn customer_aggregator_usage(
        &self,
        account: &AccountId,
        customer: &str,
        aggregator_id: &str,
        range: &DateRange,
    ) -> BillingResult<AggregatorUsage> {
        self.customer_filter_usage(account, customer, aggregator_id, range, None)
            .await
    }

    /// [`Billing::customer_aggregator_usage`] over one of the aggregator's
    /// filters (`None`: all its events); a filter of another aggregator is
    /// `Invalid` (`/aggregator_filter_id`: `filter_of_another_aggregator`), an
    /// unknown one `unknown_filter`.
    pub async fn customer_filter_usage(
        &self,
        account: &AccountId,
        customer: &str,
        aggregator_id: &str,
        range: &DateRange,
        filter: Option<&str>,
    ) -> BillingResult<AggregatorUsage> {
        let customer = self.find_customer(account, customer).await?;
        let (record, aggregator) = self.load_aggregator(account, aggregator_id).await?;
        let filter = self
            .checked_filter(account, &aggregator, filter)
            .await?
            .map(filter_id)
            .transpose()?;
        let period = self
            .resolve_range(account, &customer.id, &record.id, range)
            .await?;
        let window = aggregator.window(period);
        let result = self
            .window_quantity(
                account,
                &aggregator,
                filter.as_ref(),
                &customer.id,
                window,
                None,
            )
            .await?;
        Ok(AggregatorUsage {
            aggregator_id: record.id,
            total: result.quantity.normalize(),
            count: result.event_count,
            period_start: period.start(),
            period_end: period.end(),
            diagnostics: result.diagnostics,
        })
    }

    /// `range` with its missing bounds from the default period.
    pub(crate) async fn resolve_range(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        aggregator: &AggregatorId,
        range: &DateRange,
    ) -> BillingResult<Period> {
        if range.start_date.is_some() && range.end_date.is_some() {
            return range_or_invalid(range, calendar_month(self.now())?);
        }
        let default = self
            .default_period(account, customer, aggregator, self.now())
            .await?;
        range_or_invalid(range, default)
    }

    /// Aggregators to report for a customer, each with its period.
    async fn usage_targets(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        now: Timestamp,
    ) -> BillingResult<Vec<(tally_store::AggregatorRecord, Period)>> {
        let subscriptions = self.active_subscriptions(account, customer, now).await?;
        if subscriptions.is_empty() {
            let period = calendar_month(now)?;
            let all = self.all_aggregators(account).await?;
            return Ok(all.into_iter().map(|record| (record, period)).collect());
        }
        let mut seen = HashSet::new();
        let mut targets = Vec::new();
        for subscription in &subscriptions {
            let period = period_containing(subscription, now)
                .map_err(|e| BillingError::Evaluation(e.to_string()))?;
            for product_id in &subscription.product_ids {
                let product = match self.store.get_product(account, product_id).await {
                    Ok(product) => product,
                    Err(tally_store::StoreError::NotFound { .. }) => continue,
                    Err(error) => return Err(error.into()),
                };
                let Some(aggregator_id) = product
                    .aggregator_id
                    .filter(|_| product.kind == ProductKind::Usage)
                else {
                    continue;
                };
                if seen.insert(aggregator_id.clone()) {
                    let record = self.store.get_aggregator(account, &aggregator_id).await?;
                    targets.push((record, period));
                }
            }
        }
        Ok(targets)
    }

    /// Every aggregator of the account, oldest first.
    pub(crate) async fn all_aggregators(
        &self,
        account: &AccountId,
    ) -> BillingResult<Vec<tally_store::AggregatorRecord>> {
        all_pages(|page| self.store.list_aggregators(account, page)).await
    }
}

pub(crate) fn range_or_invalid(range: &DateRange, default: Period) -> BillingResult<Period> {
    let mut problems = Problems::default();
    let period = range.resolve(default, &mut problems);
    problems.finish()?;
    period.ok_or_else(|| {
        BillingError::invalid("/start_date", "invalid_timestamp", "invalid date range")
    })
}

/// A filter id known to belong to an aggregator, as the store takes it.
fn filter_id(id: &str) -> BillingResult<AggregatorFilterId> {
    AggregatorFilterId::parse(id).map_err(|_| unknown_filter())
}

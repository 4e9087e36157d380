//! "May this customer use one more?": a feature checked against live usage
//! (docs/entitlements.md, "Usage limits").

use rust_decimal::Decimal;
use tally_event::{Period, Timestamp};
use tally_store::{AccountId, FeatureValue, FeatureValueType};

use super::resolve::{EntitlementSource, Grants, ResolvedFeature, requested_quantity};
use crate::error::{BillingError, BillingResult};
use crate::period::period_containing;
use crate::service::Billing;
use crate::usage::calendar_month;

/// The answer of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitCheck {
    /// The feature checked.
    pub code: String,
    /// Whether the customer may go on: for a boolean feature its value; for a
    /// usage limit, `usage < limit`, or `usage + quantity <= limit` when a
    /// quantity is asked for; always with an unlimited value.
    pub allowed: bool,
    /// The customer's value of the feature (the limit, for a usage limit).
    pub value: FeatureValue,
    /// The usage over the period (usage limits only).
    pub usage: Option<Decimal>,
    /// What is left before the limit, never negative (`None`: unlimited, or
    /// not a usage limit).
    pub remaining: Option<Decimal>,
    /// The quantity asked for, if any.
    pub quantity: Option<Decimal>,
    /// Where the value comes from.
    pub source: EntitlementSource,
    /// The billing period the usage covers (usage limits only).
    pub period: Option<Period>,
}

impl Billing {
    /// Checks one feature for a customer now, from every acknowledged event.
    /// A number feature must be a usage limit (name an aggregator):
    /// otherwise `Invalid` (`/code`: `not_a_usage_limit`). `quantity` is a
    /// non-negative decimal ("may I use this much more").
    pub async fn check_feature(
        &self,
        account: &AccountId,
        customer: &str,
        code: &str,
        quantity: Option<&str>,
    ) -> BillingResult<LimitCheck> {
        let quantity = requested_quantity(quantity)?;
        let customer = self.find_customer(account, customer).await?;
        let feature = self.get_feature(account, code).await?;
        let now = self.now();
        let grants = self.grants(account, &customer.id, now).await?;
        let resolved = grants.resolve(&feature, now);
        if feature.value_type == FeatureValueType::Boolean {
            return Ok(LimitCheck {
                code: feature.code,
                allowed: resolved.value == FeatureValue::Boolean(true),
                value: resolved.value,
                usage: None,
                remaining: None,
                quantity,
                source: resolved.source,
                period: None,
            });
        }
        let Some(aggregator_id) = &feature.aggregator_id else {
            return Err(BillingError::invalid(
                "/code",
                "not_a_usage_limit",
                "this number feature names no aggregator: read its value from \
                 GET /v1/customers/{id}/features",
            ));
        };
        let period = limit_period(&grants, &resolved, now)?;
        let (_, aggregator) = self
            .load_aggregator(account, aggregator_id.as_str())
            .await?;
        let window = aggregator.window(period);
        let usage = self
            .window_quantity(
                account,
                &aggregator,
                feature.aggregator_filter_id.as_ref(),
                &customer.id,
                window,
                None,
            )
            .await?
            .quantity
            .normalize();
        let (allowed, remaining) = match resolved.value {
            FeatureValue::Number(limit) => {
                let allowed = match quantity {
                    None => usage < limit,
                    Some(more) => usage.checked_add(more).is_some_and(|total| total <= limit),
                };
                let remaining = limit.checked_sub(usage).unwrap_or(Decimal::ZERO);
                (allowed, Some(remaining.max(Decimal::ZERO).normalize()))
            }
            _ => (true, None),
        };
        Ok(LimitCheck {
            code: feature.code,
            allowed,
            value: resolved.value,
            usage: Some(usage),
            remaining,
            quantity,
            source: resolved.source,
            period: Some(period),
        })
    }
}

/// The period a limit counts usage over: that of the oldest started
/// subscription whose products grant the value; for an override or a
/// default, the oldest started subscription's; without any, the calendar
/// month (UTC).
pub(crate) fn limit_period(
    grants: &Grants,
    resolved: &ResolvedFeature,
    at: Timestamp,
) -> BillingResult<Period> {
    let granting = grants.subscriptions.iter().find(|s| {
        s.product_ids
            .iter()
            .any(|product| resolved.products.contains(product))
    });
    match granting.or(grants.subscriptions.first()) {
        Some(subscription) => period_containing(subscription, at)
            .map_err(|error| BillingError::Evaluation(error.to_string())),
        None => calendar_month(at),
    }
}

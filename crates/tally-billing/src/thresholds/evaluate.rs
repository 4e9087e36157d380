//! One customer's thresholds evaluated: the usage of every watched
//! aggregator and usage limit over its period, compared with the stored
//! states; each difference becomes a compare-and-set with its webhook event.

use rust_decimal::Decimal;
use serde_json::json;
use tally_aggregate::{Aggregator, Threshold};
use tally_event::{Period, Timestamp, decimal_to_json};
use tally_store::{
    AccountId, AggregatorFilterId, AggregatorId, Customer, CustomerId, EventSeq, Feature,
    FeatureValue, NewWebhookEvent, ThresholdChange, ThresholdState, WebhookEventId,
    WebhookEventType,
};

use super::Watched;
use crate::entitlements::check::limit_period;
use crate::error::BillingResult;
use crate::service::Billing;

/// Where one threshold should be for a customer, and what says so.
struct Wanted {
    key: String,
    period: Period,
    crossed: bool,
    usage: Decimal,
    /// The event type announcing a crossing (a clearing is always
    /// `usage.threshold_cleared`).
    crossing: WebhookEventType,
    /// The payload's data, without the customer and the usage.
    data: serde_json::Value,
}

impl Billing {
    /// Evaluates every watched threshold of one customer now and records
    /// each change of state with its webhook event; returns how many changed.
    /// Safe to run concurrently and repeatedly: a change applies only if the
    /// state is still the version it read before reading the usage.
    pub(crate) async fn evaluate_thresholds(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        watched: &Watched,
    ) -> BillingResult<usize> {
        let now = self.now();
        // Both read before the usage, so the usage is at least as new as
        // them: a move applies only if no other one happened since the
        // states were read (the compare-and-set on their version).
        let seq = self.store.latest_seq(account).await?;
        let stored = self.store.threshold_states(account, customer, now).await?;
        let mut wanted = Vec::new();
        if !watched.aggregators.is_empty() {
            let periods = self.default_periods(account, customer, now).await?;
            for (id, aggregator) in &watched.aggregators {
                let period = periods.of(id);
                let usage = self
                    .usage_over(account, aggregator, None, customer, period)
                    .await?;
                for threshold in aggregator.thresholds() {
                    wanted.push(aggregator_threshold(id, threshold, period, usage));
                }
            }
        }
        if !watched.limits.is_empty() {
            let grants = self.grants(account, customer, now).await?;
            for (feature, aggregator) in &watched.limits {
                let resolved = grants.resolve(feature, now);
                let period = limit_period(&grants, &resolved, now)?;
                let usage = self
                    .usage_over(
                        account,
                        aggregator,
                        feature.aggregator_filter_id.as_ref(),
                        customer,
                        period,
                    )
                    .await?;
                wanted.extend(limit_thresholds(feature, resolved.value, period, usage));
            }
        }
        let mut changed = 0;
        let mut who: Option<Customer> = None;
        for want in wanted {
            let current = stored
                .iter()
                .find(|s| s.key == want.key && s.period.start() == want.period.start());
            if current.is_some_and(|s| s.crossed) == want.crossed {
                continue;
            }
            if who.is_none() {
                who = match self.store.get_customer(account, customer).await {
                    Ok(found) => Some(found),
                    // Deleted since its events were written: nobody to
                    // announce anything to (its states went with it).
                    Err(tally_store::StoreError::NotFound { .. }) => return Ok(changed),
                    Err(error) => return Err(error.into()),
                };
            }
            let Some(who) = who.as_ref() else {
                continue;
            };
            let change = self.change(who, want, current.map(|s| s.version), seq, now);
            if self.store.change_threshold_state(account, &change).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    async fn usage_over(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        period: Period,
    ) -> BillingResult<Decimal> {
        let window = aggregator.window(period);
        let result = self
            .window_quantity(account, aggregator, filter, customer, window, None)
            .await?;
        Ok(result.quantity.normalize())
    }

    fn change(
        &self,
        customer: &Customer,
        want: Wanted,
        replaces: Option<u64>,
        seq: EventSeq,
        now: Timestamp,
    ) -> ThresholdChange {
        let event_type = if want.crossed {
            want.crossing
        } else {
            WebhookEventType::UsageThresholdCleared
        };
        let mut data = want.data;
        data["customer_id"] = json!(customer.id.as_str());
        data["customer_external_id"] = json!(customer.external_id);
        data["threshold_key"] = json!(want.key);
        data["usage"] = decimal_to_json(want.usage);
        data["period_start"] = json!(want.period.start().to_rfc3339());
        data["period_end"] = json!(want.period.end().to_rfc3339());
        let event = NewWebhookEvent {
            id: self.ids.with(WebhookEventId::generate),
            event_type,
            data,
            created_at: now,
        };
        let state = ThresholdState {
            customer_id: customer.id.clone(),
            key: want.key,
            period: want.period,
            crossed: want.crossed,
            usage: want.usage,
            seq,
            version: 0,
            changed_at: now,
        };
        ThresholdChange::new(state, replaces, vec![event])
    }
}

fn aggregator_threshold(
    id: &AggregatorId,
    threshold: &Threshold,
    period: Period,
    usage: Decimal,
) -> Wanted {
    Wanted {
        key: format!("aggregator:{id}:{}", threshold.key()),
        period,
        crossed: threshold.crossed_by(usage),
        usage,
        crossing: WebhookEventType::UsageThresholdCrossed,
        data: json!({
            "source": "aggregator",
            "aggregator_id": id.as_str(),
            "threshold": {
                "name": threshold.name,
                "threshold_value": decimal_to_json(threshold.value),
                "comparison_operator": threshold.comparison.as_str(),
            },
        }),
    }
}

/// A usage limit's thresholds: crossed at `percent` of the customer's limit
/// (`usage ≥ limit × percent / 100`). Never crossed while the limit is
/// unlimited, nor when it is 0: a customer granted nothing has nothing to
/// be warned about (its check says no from the start). At 100 % and above a
/// crossing is `entitlement.limit_reached`.
fn limit_thresholds(
    feature: &Feature,
    value: FeatureValue,
    period: Period,
    usage: Decimal,
) -> Vec<Wanted> {
    let limit = match value {
        FeatureValue::Number(limit) if limit > Decimal::ZERO => Some(limit),
        _ => None,
    };
    feature
        .threshold_percents
        .iter()
        .map(|&percent| {
            let level = limit.and_then(|limit| {
                limit
                    .checked_mul(percent)
                    .and_then(|product| product.checked_div(Decimal::ONE_HUNDRED))
            });
            let crossing = if percent >= Decimal::ONE_HUNDRED {
                WebhookEventType::EntitlementLimitReached
            } else {
                WebhookEventType::UsageThresholdCrossed
            };
            Wanted {
                key: format!("feature:{}:{}", feature.code, percent.normalize()),
                period,
                crossed: level.is_some_and(|level| usage >= level),
                usage,
                crossing,
                data: json!({
                    "source": "feature",
                    "feature_code": feature.code,
                    "aggregator_id": feature.aggregator_id.as_ref().map(|id| id.as_str()),
                    "aggregator_filter_id":
                        feature.aggregator_filter_id.as_ref().map(|id| id.as_str()),
                    "percent": decimal_to_json(percent.normalize()),
                    "limit": limit.map(decimal_to_json),
                    "threshold_value": level.map(|level| decimal_to_json(level.normalize())),
                }),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_store::{FeatureValueType, ResolutionStrategy};

    fn feature(percents: &[i64]) -> Feature {
        let at = Timestamp::from_millis(1_733_011_200_000).unwrap();
        Feature {
            code: "api_calls".into(),
            name: "API calls".into(),
            description: None,
            value_type: FeatureValueType::Number,
            default_value: FeatureValue::Number(Decimal::ZERO),
            resolution_strategy: Some(ResolutionStrategy::Maximum),
            aggregator_id: None,
            aggregator_filter_id: None,
            threshold_percents: percents.iter().map(|&p| Decimal::from(p)).collect(),
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn limit_thresholds_cross_at_their_share_of_the_limit() {
        let period = Period::new(
            Timestamp::from_millis(1_733_011_200_000).unwrap(),
            Timestamp::from_millis(1_735_689_600_000).unwrap(),
        )
        .unwrap();
        let limit = FeatureValue::Number(Decimal::from(1000));
        let at = |usage: i64| -> Vec<(bool, WebhookEventType)> {
            limit_thresholds(&feature(&[80, 100]), limit, period, Decimal::from(usage))
                .into_iter()
                .map(|w| (w.crossed, w.crossing))
                .collect()
        };
        use WebhookEventType::{
            EntitlementLimitReached as Reached, UsageThresholdCrossed as Crossed,
        };
        assert_eq!(at(799), [(false, Crossed), (false, Reached)]);
        assert_eq!(at(800), [(true, Crossed), (false, Reached)]);
        assert_eq!(at(1000), [(true, Crossed), (true, Reached)]);
        let unlimited = limit_thresholds(
            &feature(&[80]),
            FeatureValue::Unlimited,
            period,
            Decimal::MAX,
        );
        assert!(!unlimited[0].crossed, "an unlimited value is never crossed");
        let nothing = FeatureValue::Number(Decimal::ZERO);
        let zero = limit_thresholds(&feature(&[100]), nothing, period, Decimal::ONE);
        assert!(!zero[0].crossed, "nor is a limit of 0");
    }
}

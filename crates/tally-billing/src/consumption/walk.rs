//! Judging stored events for one price group, and the streamed rows.

use std::collections::HashSet;
use std::sync::Arc;

use rust_decimal::Decimal;
use tally_aggregate::{Aggregator, Contribution, Operation, Window};
use tally_event::{Event, Value};
use tally_pricing::{AttributionRule, PriceModel, Usage};
use tally_store::StoredEvent;

use super::plan::{Judged, Plan, Shares, Spread};
use crate::error::BillingResult;

/// One event of a price group's walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumptionRow {
    /// The index of the price group in the product.
    pub group: usize,
    /// The event, as stored.
    pub event: StoredEvent,
    /// Its name: the aggregator's `custom_event_name`, else
    /// `"{event_type} {record.id}"`.
    pub name: String,
    /// What the event adds to the quantity (for a percentage price, the value
    /// its fee is computed on); `None` when the aggregation is not additive
    /// (`min`, `max`, `avg`, `latest`, `formula`).
    pub quantity: Option<Decimal>,
    /// Minor units billed for this event.
    pub amount: i64,
}

/// Tells what each stored event brings to one price group. Owns what it reads,
/// so a stream of rows can outlive the request that built it.
#[derive(Debug, Clone)]
pub(crate) struct Judge {
    pub(crate) aggregator: Arc<Aggregator>,
    pub(crate) window: Window,
    pub(crate) filter: Option<String>,
    pub(crate) model: PriceModel,
    /// `unique_count`: values already seen (only the first event of a value is
    /// behind the quantity). Grows with the distinct values, as the
    /// aggregation itself does.
    seen: HashSet<Value>,
}

impl Judge {
    pub(crate) fn new(
        aggregator: Arc<Aggregator>,
        window: Window,
        filter: Option<String>,
        model: PriceModel,
    ) -> Self {
        Judge {
            aggregator,
            window,
            filter,
            model,
            seen: HashSet::new(),
        }
    }

    /// The rule of docs/pricing.md for this aggregation and model.
    pub(crate) fn rule(&self) -> AttributionRule {
        let usage = if self.additive() {
            Usage::Contributions(&[])
        } else {
            Usage::Opaque {
                quantity: Decimal::ZERO,
                events: 0,
            }
        };
        AttributionRule::for_usage(&self.model, &usage)
    }

    fn additive(&self) -> bool {
        self.model.percentage_property().is_some()
            || matches!(
                self.aggregator.operation(),
                Operation::Count | Operation::Sum
            )
    }

    /// `None` for an event the group does not select (not listed).
    pub(crate) fn judge(&mut self, event: &Event) -> BillingResult<Option<Judged>> {
        let scope = self.aggregator.scope(self.window, self.filter.as_deref())?;
        if let Some(property) = self.model.percentage_property() {
            if !scope.selects(event) {
                return Ok(None);
            }
            let value = event.record.get(property).and_then(Value::as_decimal);
            return Ok(Some(match value {
                Some(value) => behind(value),
                None => idle(),
            }));
        }
        Ok(match scope.contribution(event) {
            Contribution::NotMatched => None,
            Contribution::Skipped(_) | Contribution::Repeat => Some(idle()),
            Contribution::Counts(quantity) => Some(behind(quantity)),
            Contribution::Behind if self.aggregator.operation() == Operation::UniqueCount => {
                Some(self.first_of_value(event))
            }
            Contribution::Behind => Some(behind(Decimal::ZERO)),
        })
    }

    fn first_of_value(&mut self, event: &Event) -> Judged {
        let value = self
            .aggregator
            .property()
            .and_then(|property| event.record.get(property));
        match value {
            Some(value) if !self.seen.contains(value) => {
                self.seen.insert(value.clone());
                behind(Decimal::ONE)
            }
            _ => idle(),
        }
    }

    /// The quantity a row shows: its contribution when the aggregation adds
    /// them up (`unique_count`: 1 for the first event of a value), else none.
    fn shown(&self, judged: Judged) -> Option<Decimal> {
        if self.additive() {
            return Some(judged.quantity.normalize());
        }
        let unique = self.aggregator.operation() == Operation::UniqueCount;
        unique.then_some(if judged.behind {
            Decimal::ONE
        } else {
            Decimal::ZERO
        })
    }
}

fn behind(quantity: Decimal) -> Judged {
    Judged {
        quantity,
        behind: true,
    }
}

/// The aggregator's `custom_event_name`, else `"{event_type} {record.id}"`.
fn event_name(aggregator: &Aggregator, event: &Event) -> String {
    aggregator.event_name(event).unwrap_or_else(|| {
        format!(
            "{} {}",
            event.event_type.as_str(),
            event.record.id().as_str()
        )
    })
}

fn idle() -> Judged {
    Judged {
        quantity: Decimal::ZERO,
        behind: false,
    }
}

/// The third pass: each selected event with its whole amount.
pub(crate) struct RowWalker {
    group: usize,
    judge: Judge,
    shares: Shares,
    spread: Spread,
}

impl RowWalker {
    pub(crate) fn new(group: usize, judge: Judge, plan: &Plan) -> Self {
        RowWalker {
            group,
            judge,
            shares: plan.shares(),
            spread: plan.spread(),
        }
    }

    pub(crate) fn step(
        &mut self,
        stored: tally_store::StoreResult<StoredEvent>,
    ) -> BillingResult<Option<ConsumptionRow>> {
        let judge = &mut self.judge;
        let (stored, judged) = stored?.lend_event(|event| {
            let judged = judge.judge(event)?;
            let name = judged.map(|_| event_name(&judge.aggregator, event));
            BillingResult::Ok(judged.zip(name))
        })?;
        let Some((judged, name)) = judged? else {
            return Ok(None);
        };
        let share = self.shares.next(judged)?;
        let amount = self.spread.amount(share)?;
        Ok(Some(ConsumptionRow {
            group: self.group,
            quantity: self.judge.shown(judged),
            event: stored,
            name,
            amount,
        }))
    }
}

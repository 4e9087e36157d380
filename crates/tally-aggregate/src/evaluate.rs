//! The streaming evaluator: events in, one quantity out.

use std::collections::HashSet;

use rust_decimal::Decimal;
use tally_event::{Event, RecordId, Timestamp, Value};

use crate::aggregator::{Aggregator, Contribution, Measure, Operation, Scope, SkipReason, Window};
use crate::error::EvalError;
use crate::formula::FormulaState;

/// Everything that was selected but not behind the quantity, and anything else an
/// explanation of the quantity needs. Nothing is skipped silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagnostics {
    /// Events of the aggregator's type, in the window, passing `where` and the
    /// named filter (whether or not their property value was usable).
    pub matched_events: u64,
    /// Selected events whose property (or a formula aggregate's argument) was
    /// missing or null.
    pub skipped_missing: u64,
    /// Selected events whose property was not a number where one was needed.
    pub skipped_not_numeric: u64,
    /// The negative quantity that `allow_negative_values: false` clamped to 0.
    pub clamped_from: Option<Decimal>,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateResult {
    /// The billable quantity, normalized (`5.00` is `5`) and, unless the aggregator
    /// allows negative values, never below 0. This is what a price is applied to.
    pub quantity: Decimal,
    /// The number of events behind the quantity: selected events with a usable
    /// value; for `unique_count` the first event of each distinct value; for
    /// `count` and `formula` every selected event.
    pub event_count: u64,
    /// Everything selected but not behind the quantity, and any clamping.
    pub diagnostics: Diagnostics,
}

/// The winner of `latest` so far: the greatest (timestamp, record id).
#[derive(Debug, Clone)]
struct Latest {
    at: Timestamp,
    id: RecordId,
    value: Decimal,
}

/// What an operation keeps between events: constant size, except the set of
/// distinct values of `unique_count`.
#[derive(Debug, Clone)]
enum State {
    Count,
    Sum(Decimal),
    Min(Option<Decimal>),
    Max(Option<Decimal>),
    Avg { total: Decimal, count: u64 },
    Unique(HashSet<Value>),
    Latest(Option<Latest>),
    Formula(FormulaState),
}

/// A streaming evaluation of one aggregator over one window (and optionally one
/// named filter). Push events in any order; the quantity does not depend on it.
/// Pushing them in (timestamp, record id) order makes the returned contributions
/// the per-event attribution of docs/pricing.md (for `unique_count`, the first event of
/// each value).
#[derive(Debug, Clone)]
pub struct Accumulator<'a> {
    scope: Scope<'a>,
    state: State,
    /// Events behind the quantity so far (except `unique_count`, read off the set).
    behind: u64,
    diagnostics: Diagnostics,
    /// The first evaluation error; later events are still counted.
    error: Option<EvalError>,
}

impl<'a> Accumulator<'a> {
    pub(crate) fn new(scope: Scope<'a>) -> Self {
        let state = match &scope.aggregator.measure {
            Measure::Count => State::Count,
            Measure::Formula(formula) => State::Formula(FormulaState::new(formula)),
            Measure::Property { op, .. } => match op {
                Operation::Sum => State::Sum(Decimal::ZERO),
                Operation::Min => State::Min(None),
                Operation::Max => State::Max(None),
                Operation::Avg => State::Avg {
                    total: Decimal::ZERO,
                    count: 0,
                },
                Operation::UniqueCount => State::Unique(HashSet::new()),
                // Count and Formula never carry a property (see `Measure`).
                Operation::Latest | Operation::Count | Operation::Formula => State::Latest(None),
            },
        };
        Self {
            scope,
            state,
            behind: 0,
            diagnostics: Diagnostics::default(),
            error: None,
        }
    }

    /// Feeds one event and tells what it contributed.
    pub fn push(&mut self, event: &Event) -> Contribution {
        if !self.scope.selects(event) {
            return Contribution::NotMatched;
        }
        self.diagnostics.matched_events += 1;
        let (contribution, skipped) = self.update(event);
        match skipped {
            Some(SkipReason::Missing) => self.diagnostics.skipped_missing += 1,
            Some(SkipReason::NotNumeric) => self.diagnostics.skipped_not_numeric += 1,
            None => {}
        }
        if matches!(contribution, Contribution::Counts(_) | Contribution::Behind) {
            self.behind += 1;
        }
        contribution
    }

    /// Feeds `count` events known to be selected (of the type, in the window) when
    /// their records do not matter ([`Scope::counts_without_reading`]). Returns
    /// `false`, having fed nothing, for any other evaluation.
    pub fn push_unread(&mut self, count: u64) -> bool {
        if !self.scope.counts_without_reading() {
            return false;
        }
        self.diagnostics.matched_events += count;
        self.behind += count;
        true
    }

    /// Updates the state; returns the contribution and, for diagnostics, why a value
    /// was skipped (a formula event may be behind the quantity and still have one
    /// aggregate skip it).
    fn update(&mut self, event: &Event) -> (Contribution, Option<SkipReason>) {
        if let State::Formula(state) = &mut self.state {
            let skipped = match &self.scope.aggregator.measure {
                Measure::Formula(formula) => state.push(formula, &event.record),
                _ => Ok(None),
            };
            let skipped = skipped.unwrap_or_else(|e| {
                self.error.get_or_insert(e);
                None
            });
            return (Contribution::Behind, skipped);
        }
        match usable(self.scope.aggregator, event) {
            Err(reason) => (Contribution::Skipped(reason), Some(reason)),
            Ok(value) => (self.fold(event, value), None),
        }
    }

    /// Folds a usable event into the state.
    fn fold(&mut self, event: &Event, value: Option<Decimal>) -> Contribution {
        let value = value.unwrap_or(Decimal::ZERO);
        let mut overflow = false;
        let contribution = match &mut self.state {
            State::Count => Contribution::Counts(Decimal::ONE),
            State::Sum(total) => {
                *total = total.checked_add(value).unwrap_or_else(|| {
                    overflow = true;
                    *total
                });
                Contribution::Counts(value)
            }
            State::Min(min) => {
                *min = Some(min.map_or(value, |m| m.min(value)));
                Contribution::Behind
            }
            State::Max(max) => {
                *max = Some(max.map_or(value, |m| m.max(value)));
                Contribution::Behind
            }
            State::Avg { total, count } => {
                *total = total.checked_add(value).unwrap_or_else(|| {
                    overflow = true;
                    *total
                });
                *count += 1;
                Contribution::Behind
            }
            State::Unique(seen) => first_of_value(seen, self.scope, event),
            State::Latest(latest) => {
                keep_latest(latest, event, value);
                Contribution::Behind
            }
            State::Formula(_) => Contribution::Behind,
        };
        if overflow {
            self.error.get_or_insert(EvalError::Overflow);
        }
        contribution
    }

    /// Adds another accumulation of the same scope, as if its events had been
    /// pushed here (used for cumulative time series, handy for parallel scans).
    pub fn merge(&mut self, other: Accumulator<'a>) {
        if let Some(error) = other.error {
            self.error.get_or_insert(error);
        }
        self.behind += other.behind;
        let d = &mut self.diagnostics;
        d.matched_events += other.diagnostics.matched_events;
        d.skipped_missing += other.diagnostics.skipped_missing;
        d.skipped_not_numeric += other.diagnostics.skipped_not_numeric;
        if let Err(error) = merge_states(&mut self.state, other.state) {
            self.error.get_or_insert(error);
        }
    }

    /// The result so far; the accumulator can keep taking events.
    pub fn result(&self) -> Result<AggregateResult, EvalError> {
        if let Some(error) = &self.error {
            return Err(error.clone());
        }
        let matched = self.diagnostics.matched_events;
        let (quantity, event_count) = match &self.state {
            State::Count => (Decimal::from(matched), matched),
            State::Sum(total) => (*total, self.behind),
            State::Min(value) | State::Max(value) => (value.unwrap_or_default(), self.behind),
            State::Avg { total, count } => (average(*total, *count)?, self.behind),
            State::Unique(seen) => (Decimal::from(seen.len()), seen.len() as u64),
            State::Latest(latest) => (
                latest.as_ref().map_or(Decimal::ZERO, |l| l.value),
                self.behind,
            ),
            State::Formula(state) => match &self.scope.aggregator.measure {
                Measure::Formula(formula) => (state.result(formula)?, matched),
                _ => (Decimal::ZERO, matched),
            },
        };
        let mut diagnostics = self.diagnostics.clone();
        let quantity = self
            .scope
            .aggregator
            .finish_quantity(quantity, &mut diagnostics);
        Ok(AggregateResult {
            quantity,
            event_count,
            diagnostics,
        })
    }

    /// The final result; the same as [`Accumulator::result`], consuming the
    /// accumulator.
    ///
    /// # Errors
    ///
    /// The first evaluation error met while pushing ([`EvalError::Overflow`], a
    /// formula's [`EvalError::DivisionByZero`] or [`EvalError::FormulaNotNumeric`]).
    pub fn finish(self) -> Result<AggregateResult, EvalError> {
        self.result()
    }
}

pub(crate) fn average(total: Decimal, count: u64) -> Result<Decimal, EvalError> {
    if count == 0 {
        return Ok(Decimal::ZERO);
    }
    total
        .checked_div(Decimal::from(count))
        .ok_or(EvalError::Overflow)
}

fn merge_states(into: &mut State, from: State) -> Result<(), EvalError> {
    let add = |a: Decimal, b: Decimal| a.checked_add(b).ok_or(EvalError::Overflow);
    match (into, from) {
        (State::Sum(a), State::Sum(b)) => *a = add(*a, b)?,
        (State::Min(a), State::Min(b)) => *a = pick(*a, b, Decimal::min),
        (State::Max(a), State::Max(b)) => *a = pick(*a, b, Decimal::max),
        (State::Avg { total, count }, State::Avg { total: t, count: c }) => {
            *total = add(*total, t)?;
            *count += c;
        }
        (State::Unique(a), State::Unique(b)) => a.extend(b),
        (State::Latest(a), State::Latest(Some(b))) => keep_latest_of(a, b),
        (State::Formula(a), State::Formula(b)) => a.merge(b)?,
        // Count keeps nothing; an empty latest adds nothing.
        _ => {}
    }
    Ok(())
}

fn pick(
    a: Option<Decimal>,
    b: Option<Decimal>,
    f: fn(Decimal, Decimal) -> Decimal,
) -> Option<Decimal> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// The latest event wins; equal timestamps are broken by the greater record id
/// (compared as text, bytewise), so the result does not depend on push order.
fn keep_latest(latest: &mut Option<Latest>, event: &Event, value: Decimal) {
    let newer = latest
        .as_ref()
        .is_none_or(|current| (event.timestamp, event.record.id()) > (current.at, &current.id));
    if newer {
        *latest = Some(Latest {
            at: event.timestamp,
            id: event.record.id().clone(),
            value,
        });
    }
}

fn keep_latest_of(latest: &mut Option<Latest>, other: Latest) {
    let newer = latest
        .as_ref()
        .is_none_or(|current| (other.at, &other.id) > (current.at, &current.id));
    if newer {
        *latest = Some(other);
    }
}

fn first_of_value(seen: &mut HashSet<Value>, scope: Scope<'_>, event: &Event) -> Contribution {
    let value = scope
        .aggregator
        .property()
        .and_then(|property| event.record.get(property));
    match value {
        // Only the first occurrence pays for the clone.
        Some(value) if !seen.contains(value) => {
            seen.insert(value.clone());
            Contribution::Counts(Decimal::ONE)
        }
        _ => Contribution::Repeat,
    }
}

/// A property value as a number, or why it cannot be one.
pub(crate) fn numeric(value: Option<&Value>) -> Result<Decimal, SkipReason> {
    match value {
        None | Some(Value::Null) => Err(SkipReason::Missing),
        Some(Value::Number(n)) => Ok(*n),
        Some(_) => Err(SkipReason::NotNumeric),
    }
}

/// Whether a selected event has a usable value, and the number when the operation
/// reads one (`None` for `count`, `unique_count` and `formula`).
fn usable(aggregator: &Aggregator, event: &Event) -> Result<Option<Decimal>, SkipReason> {
    let (op, property) = match &aggregator.measure {
        Measure::Count | Measure::Formula(_) => return Ok(None),
        Measure::Property { op, property } => (*op, property),
    };
    let value = event.record.get(property);
    match op {
        Operation::UniqueCount if value.is_none_or(Value::is_null) => Err(SkipReason::Missing),
        Operation::UniqueCount => Ok(None),
        _ => numeric(value).map(Some),
    }
}

/// What a selected event contributes, judged alone (see [`Scope::contribution`]).
pub(crate) fn judge(aggregator: &Aggregator, event: &Event) -> Contribution {
    match (aggregator.operation(), usable(aggregator, event)) {
        (_, Err(reason)) => Contribution::Skipped(reason),
        (Operation::Count, Ok(_)) => Contribution::Counts(Decimal::ONE),
        (Operation::Sum, Ok(value)) => Contribution::Counts(value.unwrap_or_default()),
        (_, Ok(_)) => Contribution::Behind,
    }
}

/// Evaluates an aggregator over events in one go: [`Aggregator::accumulator`], every
/// event pushed, [`Accumulator::finish`]. Events may be in any order and may include
/// other types and other periods: they are simply not selected.
///
/// # Errors
///
/// [`EvalError::UnknownFilter`] for a `filter` id the aggregator does not have, or
/// the first arithmetic or formula error.
///
/// # Examples
///
/// ```
/// use rust_decimal::Decimal;
/// use serde_json::json;
/// use tally_aggregate::{Aggregator, AggregatorDef, evaluate};
/// use tally_event::{Period, Timestamp, ValidationConfig, parse_event};
///
/// let def: AggregatorDef = serde_json::from_value(json!({
///     "name": "Billable minutes",
///     "event_type": "call",
///     "operation": "formula",
///     "formula": "greatest(sum(minutes) - 100, 0)"
/// }))
/// .unwrap();
/// let aggregator = Aggregator::compile(&def).unwrap();
///
/// let at = |text: &str| Timestamp::parse(text).unwrap();
/// let now = at("2024-02-01T00:00:00Z");
/// let events: Vec<_> = [("c1", 70), ("c2", 45), ("c3", 30)]
///     .into_iter()
///     .map(|(id, minutes)| {
///         let wire = json!({"customer_id": "acme", "event_type": "call",
///                           "timestamp": "2024-01-10T12:00:00Z",
///                           "record": {"id": id, "minutes": minutes}});
///         parse_event(&wire, &ValidationConfig::default(), now).unwrap().event
///     })
///     .collect();
///
/// let january = Period::new(at("2024-01-01T00:00:00Z"), now).unwrap();
/// let result = evaluate(&aggregator, aggregator.window(january), None, &events).unwrap();
/// assert_eq!(result.quantity, Decimal::from(45)); // 145 minutes, the first 100 free
/// assert_eq!(result.event_count, 3);
/// ```
pub fn evaluate<'e>(
    aggregator: &Aggregator,
    window: Window,
    filter: Option<&str>,
    events: impl IntoIterator<Item = &'e Event>,
) -> Result<AggregateResult, EvalError> {
    let mut accumulator = aggregator.accumulator(window, filter)?;
    for event in events {
        accumulator.push(event);
    }
    accumulator.finish()
}

//! Partial evaluations: what a set of events contributes to an aggregator's
//! result, in a form that can be added to, retracted from and stored
//! (docs/rollups.md).
//!
//! A store keeps one [`Partial`] per aggregator, customer and hour (a
//! *rollup*), updated as events come and go, and answers a usage read by
//! adding the partials of the hours inside the window, plus the partials of
//! the few events in the window's clipped first and last hours, then
//! [`RollupScope::finish`]. The result is the evaluator's: the property tests
//! of this crate hold the two together for every operation.
//!
//! What each operation keeps, and how a retraction (an event updated away,
//! deleted or purged) is undone:
//!
//! - `count`, `sum`, `avg` and the `sum`/`count`/`avg` aggregates of a formula:
//!   additive totals and counts; a retraction subtracts, exactly.
//! - `unique_count`: each distinct value with the number of events holding it;
//!   a retraction decrements, and a value whose count reaches 0 is gone.
//! - `min`, `max`, `latest` and the `min`/`max` aggregates of a formula: the
//!   extreme only. Retracting a value other than the extreme changes nothing;
//!   retracting the extreme itself cannot be undone from the extreme alone, so
//!   [`Partial::retract`] says so and the store recomputes that hour from its
//!   events.
//! - Diagnostics (matched events, skips per reason) are counts, like `count`.
//!
//! A partial that met an evaluation error (a formula dividing by zero on some
//! event) or an overflow does not hold the evaluator's answer: it is *tainted*
//! and [`RollupScope::finish`] declines it, so the store reads the raw events,
//! which give the exact error.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_event::{EventType, Record, Scalar, Timestamp, Value};

use crate::aggregator::{Aggregator, Measure, Operation, SkipReason};
use crate::error::EvalError;
use crate::evaluate::{AggregateResult, Diagnostics, average, numeric};
use crate::filter::Filter;
use crate::formula::FormulaState;

/// The width of a rollup bucket: one hour, starting on the hour (UTC).
pub const ROLLUP_BUCKET_MS: i64 = 3_600_000;

/// The start of the rollup bucket holding `at`.
pub fn rollup_bucket(at: Timestamp) -> i64 {
    let ms = at.as_millis();
    ms - ms.rem_euclid(ROLLUP_BUCKET_MS)
}

/// The winner of `latest` in a partial: the greatest (timestamp, record id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LatestValue {
    /// Its timestamp, in milliseconds.
    #[serde(rename = "t")]
    pub at: i64,
    /// Its record id, the tie-break.
    #[serde(rename = "i")]
    pub id: String,
    /// Its value.
    #[serde(rename = "v")]
    pub value: Decimal,
}

/// One formula aggregate's share of a partial.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartialSlot {
    /// `sum(e)`.
    #[serde(rename = "s")]
    Sum(Decimal),
    /// `count(*)` or `count(e)`.
    #[serde(rename = "c")]
    Count(i64),
    /// `avg(e)`: total and count.
    #[serde(rename = "a")]
    Avg(Decimal, i64),
    /// `min(e)`.
    #[serde(rename = "n")]
    Min(Option<Decimal>),
    /// `max(e)`.
    #[serde(rename = "x")]
    Max(Option<Decimal>),
}

/// What the operation keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartialMeasure {
    /// `count`: the diagnostics' matched events are the quantity.
    #[default]
    #[serde(rename = "c")]
    Count,
    /// `sum`: the total.
    #[serde(rename = "s")]
    Sum(Decimal),
    /// `avg`: the total and the number of values.
    #[serde(rename = "a")]
    Avg(Decimal, i64),
    /// `min`: the smallest value.
    #[serde(rename = "n")]
    Min(Option<Decimal>),
    /// `max`: the largest value.
    #[serde(rename = "x")]
    Max(Option<Decimal>),
    /// `latest`: the value of the latest event.
    #[serde(rename = "l")]
    Latest(Option<LatestValue>),
    /// `unique_count`: each distinct value (see [`unique_key`]) with the number
    /// of events holding it.
    #[serde(rename = "u")]
    Unique(BTreeMap<String, i64>),
    /// `formula`: one slot per aggregate call.
    #[serde(rename = "f")]
    Formula(Vec<PartialSlot>),
}

/// What a set of events contributes to one aggregator (and named filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partial {
    /// Selected events.
    #[serde(rename = "m", default)]
    pub matched: i64,
    /// Selected events behind the quantity (usable value).
    #[serde(rename = "b", default)]
    pub behind: i64,
    /// Selected events whose property was missing or null.
    #[serde(rename = "sm", default)]
    pub skipped_missing: i64,
    /// Selected events whose property was not a number.
    #[serde(rename = "sn", default)]
    pub skipped_not_numeric: i64,
    /// Events whose evaluation failed, or arithmetic that overflowed: the
    /// partial does not hold the evaluator's answer.
    #[serde(rename = "e", default)]
    pub tainted: i64,
    /// The operation's state.
    #[serde(rename = "v", default)]
    pub measure: PartialMeasure,
}

/// Whether a retraction could be undone exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Retraction {
    /// The partial now holds what the remaining events give.
    Exact,
    /// An extreme (or the latest value) was retracted, or arithmetic failed:
    /// the partial must be recomputed from its remaining events.
    Recompute,
}

impl Partial {
    /// Whether it holds nothing (no selected event): a store may drop it.
    pub fn is_empty(&self) -> bool {
        self.matched == 0 && self.tainted == 0
    }

    /// Whether it cannot be finished ([`RollupScope::finish`] declines it).
    pub fn is_tainted(&self) -> bool {
        self.tainted != 0
    }

    /// Adds the events of `other` (of the same aggregator and filter).
    pub fn add(&mut self, other: &Partial) {
        self.matched += other.matched;
        self.behind += other.behind;
        self.skipped_missing += other.skipped_missing;
        self.skipped_not_numeric += other.skipped_not_numeric;
        self.tainted += other.tainted;
        if !add_measure(&mut self.measure, &other.measure) {
            self.tainted += 1;
        }
    }

    /// [`Partial::add`] taking `other` by value: distinct values move
    /// instead of being copied (a read adds hundreds of stored partials).
    pub fn absorb(&mut self, mut other: Partial) {
        if let (PartialMeasure::Unique(into), PartialMeasure::Unique(from)) =
            (&mut self.measure, &mut other.measure)
        {
            let from = std::mem::take(from);
            let counted_down = from.values().any(|n| *n <= 0);
            if into.is_empty() {
                *into = from;
            } else {
                for (key, count) in from {
                    *into.entry(key).or_default() += count;
                }
            }
            if counted_down {
                into.retain(|_, count| *count != 0);
            }
        }
        self.add(&other);
    }

    /// Whether every count and total is zero: a sum of signed partials
    /// (a licensed rollup's cells) that a store may drop. Stricter than
    /// [`Partial::is_empty`], whose zero matched count can hide a non-zero
    /// total in a cell of signed changes.
    pub fn is_zero(&self) -> bool {
        let counts = [
            self.matched,
            self.behind,
            self.skipped_missing,
            self.skipped_not_numeric,
            self.tainted,
        ];
        counts.iter().all(|n| *n == 0) && measure_is_zero(&self.measure)
    }

    /// The partial that cancels this one when added: every count and total
    /// negated. `None` for the extremes (`min`, `max`, `latest` and formula
    /// slots of those), which no value cancels.
    pub fn negated(&self) -> Option<Partial> {
        use PartialMeasure as M;
        let measure = match &self.measure {
            M::Count => M::Count,
            M::Sum(total) => M::Sum(-*total),
            M::Avg(total, count) => M::Avg(-*total, -*count),
            M::Unique(values) => M::Unique(values.iter().map(|(k, n)| (k.clone(), -n)).collect()),
            M::Formula(slots) => M::Formula(slots.iter().map(negated_slot).collect::<Option<_>>()?),
            M::Min(_) | M::Max(_) | M::Latest(_) => return None,
        };
        Some(Partial {
            matched: -self.matched,
            behind: -self.behind,
            skipped_missing: -self.skipped_missing,
            skipped_not_numeric: -self.skipped_not_numeric,
            tainted: -self.tainted,
            measure,
        })
    }

    /// Removes the events of `other`, which were added before.
    pub fn retract(&mut self, other: &Partial) -> Retraction {
        if self.is_tainted() || other.is_tainted() {
            return Retraction::Recompute;
        }
        self.matched -= other.matched;
        self.behind -= other.behind;
        self.skipped_missing -= other.skipped_missing;
        self.skipped_not_numeric -= other.skipped_not_numeric;
        let exact = retract_measure(&mut self.measure, &other.measure);
        if !exact || self.matched < 0 || self.behind < 0 {
            return Retraction::Recompute;
        }
        if self.behind == 0 {
            clear_extremes(&mut self.measure);
        }
        Retraction::Exact
    }
}

fn measure_is_zero(measure: &PartialMeasure) -> bool {
    use PartialMeasure as M;
    match measure {
        M::Count => true,
        M::Sum(total) => total.is_zero(),
        M::Avg(total, count) => total.is_zero() && *count == 0,
        M::Min(v) | M::Max(v) => v.is_none(),
        M::Latest(v) => v.is_none(),
        M::Unique(values) => values.values().all(|n| *n == 0),
        M::Formula(slots) => slots.iter().all(|slot| match slot {
            PartialSlot::Sum(total) => total.is_zero(),
            PartialSlot::Count(n) => *n == 0,
            PartialSlot::Avg(total, n) => total.is_zero() && *n == 0,
            PartialSlot::Min(v) | PartialSlot::Max(v) => v.is_none(),
        }),
    }
}

fn negated_slot(slot: &PartialSlot) -> Option<PartialSlot> {
    match slot {
        PartialSlot::Sum(total) => Some(PartialSlot::Sum(-*total)),
        PartialSlot::Count(n) => Some(PartialSlot::Count(-n)),
        PartialSlot::Avg(total, n) => Some(PartialSlot::Avg(-*total, -n)),
        PartialSlot::Min(_) | PartialSlot::Max(_) => None,
    }
}

/// `total ± by`, `false` when it overflowed or was rounded. An exact sum of
/// two non-zero decimals keeps the larger scale of its terms; past 96 bits of mantissa a
/// decimal sum drops digits instead (silently), and a rounded total could
/// not be retracted back to the evaluator's: the partial is then tainted, or
/// recomputed from its events.
fn checked(total: &mut Decimal, by: Decimal, add: bool) -> bool {
    let next = if add {
        total.checked_add(by)
    } else {
        total.checked_sub(by)
    };
    // Adding zero returns the other term as it is (whatever its scale).
    let exact = |next: &Decimal| {
        total.is_zero() || by.is_zero() || next.scale() >= total.scale().max(by.scale())
    };
    match next {
        Some(next) if exact(&next) => {
            *total = next;
            true
        }
        _ => false,
    }
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

/// `false` when the arithmetic overflowed.
fn add_measure(into: &mut PartialMeasure, from: &PartialMeasure) -> bool {
    use PartialMeasure as M;
    match (into, from) {
        (M::Sum(a), M::Sum(b)) => checked(a, *b, true),
        (M::Avg(total, count), M::Avg(t, c)) => {
            *count += c;
            checked(total, *t, true)
        }
        (M::Min(a), M::Min(b)) => {
            *a = pick(*a, *b, Decimal::min);
            true
        }
        (M::Max(a), M::Max(b)) => {
            *a = pick(*a, *b, Decimal::max);
            true
        }
        (M::Latest(a), M::Latest(Some(b))) => {
            let newer = a.as_ref().is_none_or(|a| (b.at, &b.id) > (a.at, &a.id));
            if newer {
                *a = Some(b.clone());
            }
            true
        }
        (M::Unique(a), M::Unique(b)) => {
            for (key, count) in b {
                *a.entry(key.clone()).or_default() += count;
            }
            if b.values().any(|n| *n <= 0) {
                a.retain(|_, count| *count != 0);
            }
            true
        }
        (M::Formula(a), M::Formula(b)) => a.iter_mut().zip(b).all(|(a, b)| add_slot(a, b)),
        // An empty `latest`, or `count`, which keeps nothing.
        _ => true,
    }
}

fn add_slot(into: &mut PartialSlot, from: &PartialSlot) -> bool {
    use PartialSlot as S;
    match (into, from) {
        (S::Sum(a), S::Sum(b)) => checked(a, *b, true),
        (S::Count(a), S::Count(b)) => {
            *a += b;
            true
        }
        (S::Avg(total, count), S::Avg(t, c)) => {
            *count += c;
            checked(total, *t, true)
        }
        (S::Min(a), S::Min(b)) => {
            *a = pick(*a, *b, Decimal::min);
            true
        }
        (S::Max(a), S::Max(b)) => {
            *a = pick(*a, *b, Decimal::max);
            true
        }
        _ => false,
    }
}

/// Whether an extreme survives losing `gone`: it does unless it was `gone`.
fn keeps_extreme(extreme: Option<Decimal>, gone: Option<Decimal>) -> bool {
    match (extreme, gone) {
        (_, None) => true,
        (Some(extreme), Some(gone)) => extreme != gone,
        (None, Some(_)) => false,
    }
}

/// `false` when the result cannot be known without the remaining events.
fn retract_measure(into: &mut PartialMeasure, from: &PartialMeasure) -> bool {
    use PartialMeasure as M;
    match (into, from) {
        (M::Count, M::Count) => true,
        (M::Sum(a), M::Sum(b)) => checked(a, *b, false),
        (M::Avg(total, count), M::Avg(t, c)) => {
            *count -= c;
            checked(total, *t, false) && *count >= 0
        }
        (M::Min(a), M::Min(b)) | (M::Max(a), M::Max(b)) => keeps_extreme(*a, *b),
        (M::Latest(a), M::Latest(b)) => match (a, b) {
            (_, None) => true,
            (Some(a), Some(b)) => (a.at, &a.id) != (b.at, &b.id),
            (None, Some(_)) => false,
        },
        (M::Unique(a), M::Unique(b)) => {
            for (key, count) in b {
                let held = a.entry(key.clone()).or_default();
                *held -= count;
                if *held < 0 {
                    return false;
                }
            }
            a.retain(|_, count| *count != 0);
            true
        }
        (M::Formula(a), M::Formula(b)) => a.iter_mut().zip(b).all(|(a, b)| retract_slot(a, b)),
        _ => false,
    }
}

fn retract_slot(into: &mut PartialSlot, from: &PartialSlot) -> bool {
    use PartialSlot as S;
    match (into, from) {
        (S::Sum(a), S::Sum(b)) => checked(a, *b, false),
        (S::Count(a), S::Count(b)) => {
            *a -= b;
            *a >= 0
        }
        (S::Avg(total, count), S::Avg(t, c)) => {
            *count -= c;
            checked(total, *t, false) && *count >= 0
        }
        (S::Min(a), S::Min(b)) | (S::Max(a), S::Max(b)) => keeps_extreme(*a, *b),
        _ => false,
    }
}

/// With no value left behind the quantity, extremes are gone too. (A formula's
/// slot may hold a value while another slot skipped: its extremes stay; they
/// are cleared by the recompute an extreme's retraction asks for.)
fn clear_extremes(measure: &mut PartialMeasure) {
    match measure {
        PartialMeasure::Min(v) | PartialMeasure::Max(v) => *v = None,
        PartialMeasure::Latest(v) => *v = None,
        _ => {}
    }
}

/// A distinct value of `unique_count` as text: equal values (as the evaluator
/// compares them: typed, numbers by value) give equal text, different values
/// different text.
pub fn unique_key(value: &Value) -> String {
    fn scalar(out: &mut String, value: &Scalar) {
        match value {
            Scalar::Bool(b) => out.push_str(if *b { "b:1" } else { "b:0" }),
            Scalar::Number(n) => {
                out.push_str("n:");
                out.push_str(&n.normalize().to_string());
            }
            Scalar::String(s) => {
                out.push_str("s:");
                out.push_str(s);
            }
        }
    }
    let mut out = String::new();
    match value {
        Value::Null => out.push_str("z:"),
        Value::Bool(b) => scalar(&mut out, &Scalar::Bool(*b)),
        Value::Number(n) => scalar(&mut out, &Scalar::Number(*n)),
        Value::String(s) => {
            out.push_str("s:");
            out.push_str(s);
        }
        Value::Array(items) => {
            // Each item as JSON text, so no item can fake a separator.
            let items: Vec<String> = items
                .iter()
                .map(|item| {
                    let mut text = String::new();
                    scalar(&mut text, item);
                    text
                })
                .collect();
            out.push_str("a:");
            out.push_str(&serde_json::to_string(&items).unwrap_or_default());
        }
    }
    out
}

/// An aggregator narrowed by a named filter, as a rollup keeps it: which events
/// it selects (any timestamp: buckets are the store's business), what each
/// contributes, and the result of a sum of partials.
#[derive(Debug, Clone, Copy)]
pub struct RollupScope<'a> {
    aggregator: &'a Aggregator,
    filter: Option<&'a Filter>,
}

impl Aggregator {
    /// The rollup of this aggregator narrowed by the named filter `filter`.
    ///
    /// # Errors
    ///
    /// [`EvalError::UnknownFilter`] when `filter` is not one of its ids.
    pub fn rollup_scope(&self, filter: Option<&str>) -> Result<RollupScope<'_>, EvalError> {
        let filter = match filter {
            None => None,
            Some(id) => self.named_filter(id)?,
        };
        Ok(RollupScope {
            aggregator: self,
            filter,
        })
    }
}

impl RollupScope<'_> {
    /// An empty partial of this aggregator's operation.
    pub fn empty(&self) -> Partial {
        let measure = match &self.aggregator.measure {
            Measure::Count => PartialMeasure::Count,
            Measure::Formula(formula) => {
                PartialMeasure::Formula(FormulaState::new(formula).slots())
            }
            Measure::Property { op, .. } => match op {
                Operation::Sum => PartialMeasure::Sum(Decimal::ZERO),
                Operation::Avg => PartialMeasure::Avg(Decimal::ZERO, 0),
                Operation::Min => PartialMeasure::Min(None),
                Operation::Max => PartialMeasure::Max(None),
                Operation::UniqueCount => PartialMeasure::Unique(BTreeMap::new()),
                Operation::Latest | Operation::Count | Operation::Formula => {
                    PartialMeasure::Latest(None)
                }
            },
        };
        Partial {
            measure,
            ..Partial::default()
        }
    }

    /// Whether its partials can be cancelled ([`Partial::negated`]): every
    /// operation but the extremes (`min`, `max`, `latest`, and formulas
    /// calling `min` or `max`). A licensed rollup keeps signed changes, so
    /// only these can have one (docs/rollups.md, "Licensed aggregators").
    pub fn is_signed(&self) -> bool {
        self.empty().negated().is_some()
    }

    /// Whether an event of `event_type` with `record` is selected: the
    /// aggregator's type, its `where` and the named filter.
    pub fn selects(&self, event_type: &EventType, record: &Record) -> bool {
        *event_type == self.aggregator.event_type
            && self
                .aggregator
                .where_
                .as_ref()
                .is_none_or(|f| f.matches(record))
            && self.filter.is_none_or(|f| f.matches(record))
    }

    /// What one event contributes; `None` when it is not selected.
    pub fn partial_of(
        &self,
        event_type: &EventType,
        timestamp: Timestamp,
        record: &Record,
    ) -> Option<Partial> {
        if !self.selects(event_type, record) {
            return None;
        }
        let mut partial = self.empty();
        partial.matched = 1;
        let skipped = match &mut partial.measure {
            PartialMeasure::Formula(slots) => {
                let Measure::Formula(formula) = &self.aggregator.measure else {
                    return None;
                };
                let mut state = FormulaState::new(formula);
                match state.push(formula, record) {
                    Ok(skipped) => {
                        *slots = state.slots();
                        partial.behind = 1;
                        skipped
                    }
                    Err(_) => {
                        partial.tainted = 1;
                        None
                    }
                }
            }
            measure => match self.usable(record) {
                Err(reason) => Some(reason),
                Ok(value) => {
                    partial.behind = 1;
                    fold_one(measure, value, timestamp, record);
                    None
                }
            },
        };
        match skipped {
            Some(SkipReason::Missing) => partial.skipped_missing = 1,
            Some(SkipReason::NotNumeric) => partial.skipped_not_numeric = 1,
            None => {}
        }
        Some(partial)
    }

    /// The measured value of a selected record, or why it is skipped.
    fn usable<'r>(&self, record: &'r Record) -> Result<Usable<'r>, SkipReason> {
        let Measure::Property { op, property } = &self.aggregator.measure else {
            return Ok(Usable::Nothing);
        };
        let value = record.get(property);
        match op {
            Operation::UniqueCount => match value {
                None | Some(Value::Null) => Err(SkipReason::Missing),
                Some(value) => Ok(Usable::Value(value)),
            },
            _ => numeric(value).map(Usable::Number),
        }
    }

    /// The evaluation of the events behind `partial`, as the evaluator gives it
    /// over the same events; `Ok(None)` when the partial is tainted (read the
    /// events instead).
    ///
    /// # Errors
    ///
    /// A formula whose combination fails ([`EvalError::DivisionByZero`],
    /// [`EvalError::FormulaNotNumeric`], overflow).
    pub fn finish(&self, partial: &Partial) -> Result<Option<AggregateResult>, EvalError> {
        if partial.is_tainted() {
            return Ok(None);
        }
        let count = |n: i64| u64::try_from(n).unwrap_or_default();
        let matched = count(partial.matched);
        let behind = count(partial.behind);
        let (quantity, event_count) = match &partial.measure {
            PartialMeasure::Count => (Decimal::from(matched), matched),
            PartialMeasure::Sum(total) => (*total, behind),
            PartialMeasure::Min(v) | PartialMeasure::Max(v) => (v.unwrap_or_default(), behind),
            PartialMeasure::Avg(total, n) => (average(*total, count(*n))?, behind),
            PartialMeasure::Latest(latest) => {
                (latest.as_ref().map_or(Decimal::ZERO, |l| l.value), behind)
            }
            PartialMeasure::Unique(values) => {
                let distinct = values.values().filter(|n| **n > 0).count() as u64;
                (Decimal::from(distinct), distinct)
            }
            PartialMeasure::Formula(slots) => {
                let Measure::Formula(formula) = &self.aggregator.measure else {
                    return Ok(None);
                };
                let Some(state) = FormulaState::from_slots(slots) else {
                    return Ok(None);
                };
                (state.result(formula)?, matched)
            }
        };
        let mut diagnostics = Diagnostics {
            matched_events: matched,
            skipped_missing: count(partial.skipped_missing),
            skipped_not_numeric: count(partial.skipped_not_numeric),
            clamped_from: None,
        };
        let quantity = self.aggregator.finish_quantity(quantity, &mut diagnostics);
        Ok(Some(AggregateResult {
            quantity,
            event_count,
            diagnostics,
        }))
    }
}

/// A selected record's measured value.
enum Usable<'r> {
    /// `count`: nothing is read.
    Nothing,
    Number(Decimal),
    Value(&'r Value),
}

fn fold_one(measure: &mut PartialMeasure, value: Usable<'_>, at: Timestamp, record: &Record) {
    let number = match &value {
        Usable::Number(n) => *n,
        _ => Decimal::ZERO,
    };
    match measure {
        PartialMeasure::Count | PartialMeasure::Formula(_) => {}
        PartialMeasure::Sum(total) => *total = number,
        PartialMeasure::Avg(total, n) => {
            *total = number;
            *n = 1;
        }
        PartialMeasure::Min(v) | PartialMeasure::Max(v) => *v = Some(number),
        PartialMeasure::Latest(v) => {
            *v = Some(LatestValue {
                at: at.as_millis(),
                id: record.id().as_str().to_owned(),
                value: number,
            });
        }
        PartialMeasure::Unique(values) => {
            if let Usable::Value(value) = value {
                values.insert(unique_key(value), 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sum(value: Decimal) -> Partial {
        Partial {
            matched: 1,
            behind: 1,
            measure: PartialMeasure::Sum(value),
            ..Partial::default()
        }
    }

    #[test]
    fn a_partial_and_its_negation_add_up_to_zero() {
        let mut unique = BTreeMap::new();
        unique.insert("n:1".to_owned(), 2);
        let partials = [
            sum(Decimal::new(125, 2)),
            Partial {
                matched: 3,
                behind: 2,
                skipped_missing: 1,
                measure: PartialMeasure::Unique(unique),
                ..Partial::default()
            },
            Partial {
                matched: 1,
                behind: 1,
                measure: PartialMeasure::Formula(vec![
                    PartialSlot::Sum(Decimal::new(7, 0)),
                    PartialSlot::Count(1),
                    PartialSlot::Avg(Decimal::new(7, 0), 1),
                ]),
                ..Partial::default()
            },
        ];
        for partial in partials {
            assert!(!partial.is_zero());
            let mut total = partial.clone();
            total.add(&partial.negated().unwrap());
            assert!(total.is_zero(), "{total:?}");
            assert!(!total.is_tainted());
        }
        // A zero matched count does not make a cell of signed changes empty.
        let mut moved = sum(Decimal::new(5, 0));
        moved.add(&sum(Decimal::new(2, 0)).negated().unwrap());
        assert!(moved.is_empty() && !moved.is_zero());
        let extreme = Partial {
            measure: PartialMeasure::Max(Some(Decimal::ONE)),
            ..Partial::default()
        };
        assert_eq!(extreme.negated(), None);
        let formula_max = Partial {
            measure: PartialMeasure::Formula(vec![PartialSlot::Max(None)]),
            ..Partial::default()
        };
        assert_eq!(formula_max.negated(), None);
    }

    // 10^28 + 0.5 needs more than 96 bits: the decimal sum rounds it away.
    // A rollup must not keep that total, or retracting 10^28 would leave 0
    // where the remaining event is 0.5.
    #[test]
    fn a_sum_that_would_round_taints_the_partial() {
        let big = Decimal::from_i128_with_scale(10_i128.pow(28), 0);
        let mut partial = sum(big);
        partial.add(&sum(Decimal::new(5, 1)));
        assert!(partial.is_tainted());
        let mut exact = sum(Decimal::new(105, 1));
        exact.add(&sum(Decimal::new(25, 2)));
        assert!(!exact.is_tainted());
        assert_eq!(exact.measure, PartialMeasure::Sum(Decimal::new(1075, 2)));
        assert_eq!(exact.retract(&sum(Decimal::new(25, 2))), Retraction::Exact);
        assert_eq!(exact.measure, PartialMeasure::Sum(Decimal::new(1050, 2)));
    }
}

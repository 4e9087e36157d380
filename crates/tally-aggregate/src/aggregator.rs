//! The compiled aggregator, the time window it reads, and per-event contributions.

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use tally_event::{Event, EventType, Period, Timestamp};

use crate::def::AggregatorDef;
use crate::error::EvalError;
use crate::evaluate::{Accumulator, Diagnostics};
use crate::filter::Filter;
use crate::formula::Formula;
use crate::template::Template;

/// How the events of a period become one quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(rename_all = "snake_case"))]
pub enum Operation {
    /// The number of selected events; reads no property.
    Count,
    /// The sum of `property` over selected events, in exact decimal.
    Sum,
    /// The smallest value of `property`; 0 when no event has one.
    Min,
    /// The largest value of `property`; 0 when no event has one.
    Max,
    /// The mean of `property` over events with a numeric value; 0 when there are none.
    Avg,
    /// The number of distinct values of `property` (typed: `1` and `"1"` differ).
    UniqueCount,
    /// The value of `property` on the event with the greatest timestamp; ties are
    /// broken by the greater record id, so the result does not depend on order.
    Latest,
    /// The value of the aggregator's [`Formula`].
    Formula,
}

impl Operation {
    /// Every operation, in the order the API documents them.
    pub const ALL: [Operation; 8] = [
        Operation::Count,
        Operation::Sum,
        Operation::Min,
        Operation::Max,
        Operation::Avg,
        Operation::UniqueCount,
        Operation::Latest,
        Operation::Formula,
    ];

    /// The name used in definitions: `count`, `sum`, …, `unique_count`, `formula`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Count => "count",
            Operation::Sum => "sum",
            Operation::Min => "min",
            Operation::Max => "max",
            Operation::Avg => "avg",
            Operation::UniqueCount => "unique_count",
            Operation::Latest => "latest",
            Operation::Formula => "formula",
        }
    }

    /// The operation named `name` (exact, lowercase), `None` for any other text.
    pub fn parse(name: &str) -> Option<Operation> {
        Self::ALL.into_iter().find(|op| op.as_str() == name)
    }

    /// Whether the operation reads `property`.
    pub fn needs_property(self) -> bool {
        !matches!(self, Operation::Count | Operation::Formula)
    }
}

/// `metered`: usage within the period; `licensed`: entities alive at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = AggregatorType, rename_all = "snake_case"))]
pub enum AggregatorKind {
    /// Events whose timestamp is in the billing period [start, end): API calls,
    /// gigabytes transferred.
    Metered,
    /// Every current event with a timestamp before the period's end, whatever its
    /// age: each event is a live entity (a seat) until updated or filtered out.
    Licensed,
}

impl AggregatorKind {
    /// The name used in definitions: `metered` or `licensed`.
    pub fn as_str(self) -> &'static str {
        match self {
            AggregatorKind::Metered => "metered",
            AggregatorKind::Licensed => "licensed",
        }
    }

    /// The kind named `name` (exact, lowercase), `None` for any other text.
    pub fn parse(name: &str) -> Option<AggregatorKind> {
        match name {
            "metered" => Some(AggregatorKind::Metered),
            "licensed" => Some(AggregatorKind::Licensed),
            _ => None,
        }
    }
}

/// Which event timestamps an evaluation reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Window {
    /// [start, end): a metered aggregator over a billing period.
    Range(Period),
    /// Every timestamp before `end`, whatever its age: a licensed aggregator, whose
    /// events are entities that live until updated or filtered out.
    Before(Timestamp),
}

impl Window {
    /// The window an aggregator of `kind` reads for `period`.
    pub fn for_kind(kind: AggregatorKind, period: Period) -> Window {
        match kind {
            AggregatorKind::Metered => Window::Range(period),
            AggregatorKind::Licensed => Window::Before(period.end()),
        }
    }

    /// Whether an event at `at` is read: in [start, end) or before `end`.
    pub fn contains(&self, at: Timestamp) -> bool {
        match self {
            Window::Range(period) => period.contains(at),
            Window::Before(end) => at < *end,
        }
    }

    /// The exclusive upper bound.
    pub fn end(&self) -> Timestamp {
        match self {
            Window::Range(period) => period.end(),
            Window::Before(end) => *end,
        }
    }
}

/// A compiled named filter (`agf_…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedFilter {
    /// The filter's id (`agf_…`), unique within its aggregator; usage requests name
    /// the filter by it.
    pub id: String,
    /// The display name of the sub-series, e.g. the price group it feeds.
    pub name: String,
    /// `None` keeps every event of the aggregator.
    pub filter: Option<Filter>,
}

/// What an aggregator measures; the operation and its operand travel together so
/// that a `sum` without a property cannot exist.
#[derive(Debug, Clone)]
pub(crate) enum Measure {
    Count,
    /// `sum`, `min`, `max`, `avg`, `unique_count`, `latest`.
    Property {
        op: Operation,
        property: String,
    },
    Formula(Formula),
}

/// A validated aggregator, ready to evaluate. Built by [`Aggregator::compile`].
#[derive(Debug, Clone)]
pub struct Aggregator {
    pub(crate) def: AggregatorDef,
    pub(crate) event_type: EventType,
    pub(crate) measure: Measure,
    pub(crate) kind: AggregatorKind,
    pub(crate) where_: Option<Filter>,
    pub(crate) filters: Vec<NamedFilter>,
    pub(crate) thresholds: Vec<crate::threshold::Threshold>,
    pub(crate) event_name: Option<Template>,
}

impl Aggregator {
    /// The definition it was compiled from, as the store persists it.
    pub fn def(&self) -> &AggregatorDef {
        &self.def
    }

    /// The display name (`Active users`).
    pub fn name(&self) -> &str {
        &self.def.name
    }

    /// The only event type this aggregator reads.
    pub fn event_type(&self) -> &EventType {
        &self.event_type
    }

    /// How selected events become the quantity.
    pub fn operation(&self) -> Operation {
        match &self.measure {
            Measure::Count => Operation::Count,
            Measure::Property { op, .. } => *op,
            Measure::Formula(_) => Operation::Formula,
        }
    }

    /// The property read by every operation except `count` and `formula`.
    pub fn property(&self) -> Option<&str> {
        match &self.measure {
            Measure::Property { property, .. } => Some(property),
            _ => None,
        }
    }

    /// The parsed formula of a `formula` aggregator.
    pub fn formula(&self) -> Option<&Formula> {
        match &self.measure {
            Measure::Formula(formula) => Some(formula),
            _ => None,
        }
    }

    /// Metered (usage in the period) or licensed (entities alive at its end).
    pub fn kind(&self) -> AggregatorKind {
        self.kind
    }

    /// What one unit of the quantity is called on invoices (`user`, `call`), if set.
    pub fn unit_name(&self) -> Option<&str> {
        self.def.unit_name.as_deref()
    }

    /// Whether a negative quantity (refunds summed with usage) is reported as is;
    /// when false it is clamped to 0 and recorded in
    /// [`Diagnostics::clamped_from`].
    pub fn allow_negative_values(&self) -> bool {
        self.def.allow_negative_values
    }

    /// The aggregator's own `where`, `None` when it keeps every event of its type.
    pub fn where_filter(&self) -> Option<&Filter> {
        self.where_.as_ref()
    }

    /// The named filters (`agf_…`), in definition order.
    pub fn filters(&self) -> &[NamedFilter] {
        &self.filters
    }

    /// The usage thresholds, as defined (docs/entitlements.md, "Thresholds").
    pub fn thresholds(&self) -> &[crate::threshold::Threshold] {
        &self.thresholds
    }

    /// A named filter by its id.
    pub fn filter(&self, id: &str) -> Option<&NamedFilter> {
        self.filters.iter().find(|named| named.id == id)
    }

    /// The tree of the named filter `id` (`None` when it keeps every event);
    /// `UnknownFilter` when the aggregator has no filter with this id. What an
    /// evaluation narrowed by `id` applies besides [`Aggregator::where_filter`].
    pub fn named_filter(&self, id: &str) -> Result<Option<&Filter>, EvalError> {
        let named = self
            .filter(id)
            .ok_or_else(|| EvalError::UnknownFilter { id: id.to_owned() })?;
        Ok(named.filter.as_ref())
    }

    /// A raw quantity as an evaluation reports it: normalized (`5.00` is `5`),
    /// and a negative one clamped to 0 unless the aggregator allows negative
    /// values, the clamped value then recorded in `diagnostics.clamped_from`.
    /// A store computing the raw quantity elsewhere (in SQL) finishes it here,
    /// so both give the same result.
    pub fn finish_quantity(&self, quantity: Decimal, diagnostics: &mut Diagnostics) -> Decimal {
        if quantity.is_sign_negative() && !quantity.is_zero() && !self.allow_negative_values() {
            diagnostics.clamped_from = Some(quantity.normalize());
            Decimal::ZERO
        } else {
            quantity.normalize()
        }
    }

    /// The record keys exported per event (CSV columns); `None` means the default
    /// columns (every record key).
    pub fn exposed_event_keys(&self) -> Option<&[String]> {
        self.def.exposed_event_keys.as_deref()
    }

    /// The event's display name from `custom_event_name`, `None` without a template.
    pub fn event_name(&self, event: &Event) -> Option<String> {
        self.event_name
            .as_ref()
            .map(|template| template.render(event))
    }

    /// The window this aggregator reads for a billing period.
    pub fn window(&self, period: Period) -> Window {
        Window::for_kind(self.kind, period)
    }

    /// What one evaluation reads: a window and, optionally, a named filter.
    pub fn scope(&self, window: Window, filter: Option<&str>) -> Result<Scope<'_>, EvalError> {
        let filter = match filter {
            None => None,
            Some(id) => self.named_filter(id)?,
        };
        Ok(Scope {
            aggregator: self,
            window,
            filter,
        })
    }

    /// A streaming evaluation over `window`, narrowed by the named filter `filter`
    /// when given; see [`Accumulator`].
    ///
    /// # Errors
    ///
    /// [`EvalError::UnknownFilter`] when `filter` is not one of this aggregator's ids.
    ///
    /// # Examples
    ///
    /// ```
    /// use rust_decimal::Decimal;
    /// use serde_json::json;
    /// use tally_aggregate::{Aggregator, AggregatorDef, Contribution, SkipReason};
    /// use tally_event::{Period, Timestamp, ValidationConfig, parse_event};
    ///
    /// let def: AggregatorDef = serde_json::from_value(json!({
    ///     "name": "GB transferred",
    ///     "event_type": "transfer",
    ///     "operation": "sum",
    ///     "property": "gb",
    ///     "filters": [{"id": "agf_eu", "name": "EU",
    ///                  "where": {"property": "region", "operator": "equals", "value": "eu"}}]
    /// }))
    /// .unwrap();
    /// let aggregator = Aggregator::compile(&def).unwrap();
    ///
    /// let at = |text: &str| Timestamp::parse(text).unwrap();
    /// let now = at("2024-02-01T00:00:00Z");
    /// let event = |id: &str, record: serde_json::Value| {
    ///     let mut record = record;
    ///     record["id"] = json!(id);
    ///     let wire = json!({"customer_id": "acme", "event_type": "transfer",
    ///                       "timestamp": "2024-01-10T12:00:00Z", "record": record});
    ///     parse_event(&wire, &ValidationConfig::default(), now).unwrap().event
    /// };
    ///
    /// let january = Period::new(at("2024-01-01T00:00:00Z"), now).unwrap();
    /// let mut eu = aggregator.accumulator(aggregator.window(january), Some("agf_eu")).unwrap();
    /// let pushed = [
    ///     eu.push(&event("t1", json!({"region": "eu", "gb": 1.5}))),
    ///     eu.push(&event("t2", json!({"region": "us", "gb": 10}))),
    ///     eu.push(&event("t3", json!({"region": "eu"}))),
    /// ];
    /// assert_eq!(
    ///     pushed,
    ///     [
    ///         Contribution::Counts(Decimal::new(15, 1)),
    ///         Contribution::NotMatched, // refused by the named filter
    ///         Contribution::Skipped(SkipReason::Missing),
    ///     ]
    /// );
    /// let result = eu.finish().unwrap();
    /// assert_eq!(result.quantity, Decimal::new(15, 1));
    /// assert_eq!(result.event_count, 1);
    /// assert_eq!(result.diagnostics.skipped_missing, 1);
    ///
    /// assert!(aggregator.accumulator(aggregator.window(january), Some("agf_other")).is_err());
    /// ```
    pub fn accumulator(
        &self,
        window: Window,
        filter: Option<&str>,
    ) -> Result<Accumulator<'_>, EvalError> {
        Ok(self.scope(window, filter)?.accumulator())
    }

    /// What `event` contributes, on its own; see [`Scope::contribution`].
    pub fn contribution(
        &self,
        event: &Event,
        window: Window,
        filter: Option<&str>,
    ) -> Result<Contribution, EvalError> {
        Ok(self.scope(window, filter)?.contribution(event))
    }
}

/// Why a selected event is not behind the quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkipReason {
    /// The property is missing or null.
    Missing,
    /// The property is not a number (a string, a boolean, an array) where the
    /// operation needs one.
    NotNumeric,
}

/// What one event does to an evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contribution {
    /// Another event type, outside the window, or refused by `where` or the named
    /// filter. Not counted anywhere.
    NotMatched,
    /// Selected, but its property value is unusable; counted in the diagnostics.
    Skipped(SkipReason),
    /// Behind the quantity, which is the sum of these amounts: 1 for `count`, the
    /// value for `sum`, and 1 for the first event of each distinct value of
    /// `unique_count` (from [`Accumulator::push`] only).
    Counts(Decimal),
    /// Behind the quantity of a non-additive operation (`min`, `max`, `avg`,
    /// `latest`, `formula`, and `unique_count` when judged alone).
    Behind,
    /// `unique_count` through [`Accumulator::push`]: the value was already seen.
    Repeat,
}

/// An aggregator with its window and named filter resolved.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub(crate) aggregator: &'a Aggregator,
    pub(crate) window: Window,
    pub(crate) filter: Option<&'a Filter>,
}

impl<'a> Scope<'a> {
    /// The aggregator evaluated.
    pub fn aggregator(&self) -> &'a Aggregator {
        self.aggregator
    }

    /// Which timestamps are read.
    pub fn window(&self) -> Window {
        self.window
    }

    /// Whether the event is of the aggregator's type, in the window, and passes both
    /// `where` and the named filter.
    pub fn selects(&self, event: &Event) -> bool {
        let aggregator = self.aggregator;
        // The timestamp lives in the event itself; the type and the record are
        // behind pointers, so the cheap test goes first.
        self.window.contains(event.timestamp)
            && event.event_type == aggregator.event_type
            && aggregator
                .where_
                .as_ref()
                .is_none_or(|f| f.matches(&event.record))
            && self.filter.is_none_or(|f| f.matches(&event.record))
    }

    /// The record properties this evaluation reads (the measured property and those
    /// of `where` and the named filter), or `None` for a formula, whose arguments
    /// are not listed. An event whose record holds only these properties (and its
    /// id) evaluates exactly like the full event, so a store may read no more.
    pub fn read_properties(&self) -> Option<BTreeSet<&'a str>> {
        let aggregator = self.aggregator;
        let mut properties = BTreeSet::new();
        match &aggregator.measure {
            Measure::Formula(_) => return None,
            Measure::Count => {}
            Measure::Property { property, .. } => {
                properties.insert(property.as_str());
            }
        }
        for filter in aggregator.where_.iter().chain(self.filter) {
            filter.collect_properties(&mut properties);
        }
        Some(properties)
    }

    /// Whether the quantity is the number of selected events whatever their
    /// records hold: a `count` without `where` and without named filter.
    pub fn counts_without_reading(&self) -> bool {
        matches!(self.aggregator.measure, Measure::Count)
            && self.aggregator.where_.is_none()
            && self.filter.is_none()
    }

    /// A fresh streaming evaluation over this scope.
    pub fn accumulator(&self) -> Accumulator<'a> {
        Accumulator::new(*self)
    }

    /// What `event` contributes, judged alone. For `unique_count`, whether it is the
    /// first event of its value depends on the events before it: a usable event is
    /// `Behind` here, and [`Accumulator::push`] tells `Counts(1)` from `Repeat`.
    pub fn contribution(&self, event: &Event) -> Contribution {
        if !self.selects(event) {
            return Contribution::NotMatched;
        }
        crate::evaluate::judge(self.aggregator, event)
    }
}

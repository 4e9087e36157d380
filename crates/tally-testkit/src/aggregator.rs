//! Aggregator definitions (docs/aggregation.md): every operation, with and without `where`,
//! named filters and formulas.

use proptest::prelude::*;
use tally_aggregate::{AggregatorDef, AggregatorFilterDef};

use crate::filter::{FilterConfig, filter};

/// What [`aggregator_def`] generates.
#[derive(Debug, Clone)]
pub struct AggregatorConfig {
    /// The event type every definition aggregates.
    pub event_type: String,
    /// Numeric properties that `sum`, `min`, `max`, `avg`, `latest`,
    /// `unique_count` and formulas read.
    pub properties: Vec<String>,
    /// The `where` trees and named filters.
    pub filters: FilterConfig,
    /// Operations to use, by name; all eight by default.
    pub operations: Vec<&'static str>,
}

impl Default for AggregatorConfig {
    /// Event type `api_call`, properties `amount` and `seats`, the default filters,
    /// every operation.
    fn default() -> Self {
        Self {
            event_type: "api_call".to_owned(),
            properties: vec!["amount".to_owned(), "seats".to_owned()],
            filters: FilterConfig::default(),
            operations: OPERATIONS.to_vec(),
        }
    }
}

/// Every operation of docs/aggregation.md.
pub const OPERATIONS: [&str; 8] = [
    "count",
    "sum",
    "min",
    "max",
    "avg",
    "unique_count",
    "latest",
    "formula",
];

/// A formula over `properties` (as quoted names, so any property name works),
/// shaped like the examples docs/aggregation.md says must work.
pub fn formula(properties: &[String]) -> BoxedStrategy<String> {
    let quoted: Vec<String> = properties
        .iter()
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect();
    (
        prop::sample::select(quoted.clone()),
        prop::sample::select(quoted),
        0_u32..100_000,
        0_u8..8,
    )
        .prop_map(|(a, b, n, shape)| match shape {
            0 => format!("sum({a})"),
            1 => "count(*)".to_owned(),
            2 => format!("greatest(sum({a}) - {n}, 0)"),
            3 => format!("least(max({a}), {n})"),
            4 => format!("sum({a}) - sum(if({b} = 'one_off', {n}, 0))"),
            5 => format!("count({a}) + avg({b}) * 2"),
            6 => format!("if(count(*) > 0, sum({a}) / count(*), 0)"),
            _ => format!("min({a}) + max({b}) - {n}.5"),
        })
        .boxed()
}

/// Definitions that [`tally_aggregate::Aggregator::compile`] accepts: each
/// operation with a property exactly when it needs one and a formula exactly for
/// `formula`; `metered` or `licensed`; an optional `where`; 0..=3 named filters
/// with distinct `agf_` ids; an optional `custom_event_name` and exposed keys.
///
/// ```
/// use proptest::prelude::*;
/// use tally_aggregate::Aggregator;
/// use tally_testkit::{AggregatorConfig, aggregator_def};
///
/// proptest!(|(def in aggregator_def(&AggregatorConfig::default()))| {
///     prop_assert!(Aggregator::compile(&def).is_ok());
/// });
/// ```
pub fn aggregator_def(config: &AggregatorConfig) -> BoxedStrategy<AggregatorDef> {
    let event_type = config.event_type.clone();
    let where_ = prop::option::weighted(0.6, filter(&config.filters).prop_map(|f| f.to_json()));
    let named = prop::collection::vec(
        prop::option::of(filter(&config.filters).prop_map(|f| f.to_json())),
        0..=3,
    );
    let display = prop::option::of(prop::sample::select(vec![
        "{record.id}",
        "{record.amount} ({record.id})",
        "{event_type} at {timestamp} for {customer_id}",
        "{{literal}} {record.id}",
    ]));
    let exposed = prop::option::of(prop::collection::vec(
        prop::sample::select(config.properties.clone()),
        0..3,
    ));
    (
        prop::sample::select(config.operations.clone()),
        prop::sample::select(config.properties.clone()),
        formula(&config.properties),
        any::<bool>(),
        any::<bool>(),
        where_,
        named,
        (display, exposed, "[A-Za-z][A-Za-z ]{0,20}"),
    )
        .prop_map(
            move |(operation, property, formula, licensed, negative, where_, named, rest)| {
                let (display, exposed, name) = rest;
                let filters = named
                    .into_iter()
                    .enumerate()
                    .map(|(index, where_)| AggregatorFilterDef {
                        id: format!("agf_{index}"),
                        name: format!("filter {index}"),
                        where_,
                    })
                    .collect();
                AggregatorDef {
                    name,
                    event_type: event_type.clone(),
                    operation: operation.to_owned(),
                    property: needs_property(operation).then_some(property),
                    formula: (operation == "formula").then_some(formula),
                    kind: if licensed { "licensed" } else { "metered" }.to_owned(),
                    unit_name: Some("unit".to_owned()),
                    allow_negative_values: negative,
                    where_,
                    custom_event_name: display.map(str::to_owned),
                    exposed_event_keys: exposed.map(|mut keys| {
                        keys.insert(0, "id".to_owned());
                        keys
                    }),
                    filters,
                    thresholds: Vec::new(),
                }
            },
        )
        .boxed()
}

fn needs_property(operation: &str) -> bool {
    !matches!(operation, "count" | "formula")
}

//! `where` trees (docs/aggregation.md): every operator, each with a value of a type it takes.

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::Value as Json;
use tally_aggregate::{Condition, Filter, Literal, Operand, Operator};

/// What [`filter`] generates.
#[derive(Debug, Clone)]
pub struct FilterConfig {
    /// Record properties the conditions test (a missing one is null to a filter,
    /// so names that events lack are useful too).
    pub properties: Vec<String>,
    /// Operators to use; [`Operator::ALL`] by default.
    pub operators: Vec<Operator>,
    /// String values of conditions (`equals "pro"`, `starts_with "p"`, …).
    pub strings: BoxedStrategy<String>,
    /// Number values of conditions.
    pub numbers: BoxedStrategy<Decimal>,
    /// Deepest nesting of `and`/`or` trees above the conditions.
    pub depth: u32,
}

impl Default for FilterConfig {
    /// Properties `plan`, `amount`, `status` and `deleted_at`; every operator;
    /// short strings; numbers in −1000..1000 with up to 2 decimals; depth 3.
    fn default() -> Self {
        Self {
            properties: ["plan", "amount", "status", "deleted_at"]
                .map(str::to_owned)
                .to_vec(),
            operators: Operator::ALL.to_vec(),
            strings: "[a-z]{0,4}".boxed(),
            numbers: (-100_000_i64..100_000)
                .prop_map(|cents| Decimal::new(cents, 2))
                .boxed(),
            depth: 3,
        }
    }
}

/// A literal of any type a condition may compare with.
pub fn literal(config: &FilterConfig) -> BoxedStrategy<Literal> {
    prop_oneof![
        1 => Just(Literal::Null),
        1 => any::<bool>().prop_map(Literal::Bool),
        3 => config.numbers.clone().prop_map(Literal::Number),
        3 => config.strings.clone().prop_map(Literal::String),
    ]
    .boxed()
}

/// One condition, its operand of the shape its operator takes: none for `is_null`
/// and `is_not_null`, a list for `in` and `not_in`, a number or a string for the
/// order operators, a string for `starts_with`, a string, number or boolean for
/// `contains`, any literal for `equals` and `not_equals`.
pub fn condition(config: &FilterConfig) -> BoxedStrategy<Condition> {
    let properties = prop::sample::select(config.properties.clone());
    let operators = prop::sample::select(config.operators.clone());
    let list = prop::collection::vec(literal(config), 0..4);
    let ordered = prop_oneof![
        config.numbers.clone().prop_map(Literal::Number),
        config.strings.clone().prop_map(Literal::String),
    ];
    let contained = prop_oneof![
        2 => config.strings.clone().prop_map(Literal::String),
        1 => config.numbers.clone().prop_map(Literal::Number),
        1 => any::<bool>().prop_map(Literal::Bool),
    ];
    (
        properties,
        operators,
        literal(config),
        list,
        ordered,
        contained,
        config.strings.clone(),
    )
        .prop_map(|(property, op, any, list, ordered, contained, prefix)| {
            let operand = match op {
                Operator::IsNull | Operator::IsNotNull => Operand::None,
                Operator::In | Operator::NotIn => Operand::List(list),
                Operator::GreaterThan
                | Operator::GreaterThanOrEqual
                | Operator::LowerThan
                | Operator::LowerThanOrEqual => Operand::Value(ordered),
                Operator::StartsWith => Operand::Value(Literal::String(prefix)),
                Operator::Contains => Operand::Value(contained),
                Operator::Equals | Operator::NotEquals => Operand::Value(any),
            };
            Condition {
                property,
                op,
                operand,
            }
        })
        .boxed()
}

/// A `where` tree: conditions under `and`/`or` nodes (possibly empty ones) up to
/// `config.depth` levels. `Filter::parse(&filter.to_json())` gives it back.
///
/// ```
/// use proptest::prelude::*;
/// use tally_aggregate::Filter;
/// use tally_testkit::{FilterConfig, filter};
///
/// proptest!(|(tree in filter(&FilterConfig::default()))| {
///     prop_assert_eq!(Filter::parse(&tree.to_json()).unwrap(), tree);
/// });
/// ```
pub fn filter(config: &FilterConfig) -> BoxedStrategy<Filter> {
    condition(config)
        .prop_map(Filter::Condition)
        .prop_recursive(config.depth, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::All),
                prop::collection::vec(inner, 0..4).prop_map(Filter::Any),
            ]
        })
        .boxed()
}

/// A tree and its JSON as a client may send it: operators in either spelling
/// (`greater_than` or `greaterThan`), `is_null` with or without `"value": null`.
///
/// ```
/// use proptest::prelude::*;
/// use tally_aggregate::Filter;
/// use tally_testkit::{FilterConfig, where_json};
///
/// proptest!(|((json, tree) in where_json(&FilterConfig::default()))| {
///     prop_assert_eq!(Filter::parse(&json).unwrap(), tree);
/// });
/// ```
pub fn where_json(config: &FilterConfig) -> BoxedStrategy<(Json, Filter)> {
    (filter(config), any::<u64>())
        .prop_map(|(tree, seed)| (spelled(&tree, seed), tree))
        .boxed()
}

/// `filter`'s JSON with the spelling of each node chosen by the bits of `seed`.
fn spelled(filter: &Filter, seed: u64) -> Json {
    match filter {
        Filter::All(children) | Filter::Any(children) => {
            let conditional = if matches!(filter, Filter::All(_)) {
                "and"
            } else {
                "or"
            };
            let fields: Vec<Json> = children
                .iter()
                .enumerate()
                .map(|(index, child)| spelled(child, seed.rotate_left(index as u32 + 1)))
                .collect();
            serde_json::json!({"conditional": conditional, "fields": fields})
        }
        Filter::Condition(condition) => {
            let mut json = condition.to_json();
            if seed & 1 == 1 {
                json["operator"] = Json::String(camel_case(condition.op.as_str()));
            }
            if condition.operand == Operand::None && seed & 2 == 2 {
                json["value"] = Json::Null;
            }
            json
        }
    }
}

fn camel_case(snake: &str) -> String {
    let mut parts = snake.split('_');
    let first = parts.next().unwrap_or_default().to_owned();
    parts.fold(first, |mut name, part| {
        let mut chars = part.chars();
        if let Some(c) = chars.next() {
            name.push(c.to_ascii_uppercase());
            name.push_str(chars.as_str());
        }
        name
    })
}

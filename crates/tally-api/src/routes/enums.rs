//! The closed sets of values request fields take, for the OpenAPI document
//! only: the fields themselves are read as text so that a wrong value is
//! reported with every other problem of the body (docs/API.md, "Errors").

use utoipa::ToSchema;

pub use tally_aggregate::{
    AggregatorKind as AggregatorType, Operation, Operator as FilterOperator,
};
pub use tally_billing::schema::IntervalPeriod;

/// What ingestion does with personal data (docs/events.md).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum PiiPolicy {
    Off,
    Warn,
    Mask,
    Reject,
}

/// The bucket of a time series.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum GroupBy {
    Hour,
    Day,
    Month,
}

/// Where an aggregator's rollups are (docs/rollups.md).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RollupStatus {
    Ready,
    Building,
    None,
}

/// How a threshold compares a quantity with its value.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ComparisonOperator {
    Gte,
    Gt,
}

/// The order of a list by timestamp.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SortOrder {
    Asc,
    Desc,
}

/// A `where` tree (docs/aggregation.md): its children all hold (`and`) or
/// one does (`or`); an empty `and` holds, an empty `or` does not.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FilterTree {
    conditional: Conditional,
    #[schema(no_recursion)]
    fields: Vec<FilterField>,
}

/// How a tree combines its children.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Conditional {
    And,
    Or,
}

/// A child of a `where` tree: a condition or another tree.
#[derive(ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum FilterField {
    Condition(FilterCondition),
    #[schema(no_recursion)]
    Tree(FilterTree),
}

/// One test of a record property; a missing property is null.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct FilterCondition {
    /// A record key (`plan`, `deleted_at`).
    #[schema(value_type = crate::routes::wire::RecordKey)]
    property: String,
    operator: FilterOperator,
    /// A string, number, boolean or null; an array for `in` and `not_in`;
    /// none for `is_null` and `is_not_null`.
    value: Option<ConditionValue>,
}

/// What a condition compares with.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ConditionValue {
    Text(String),
    Number(f64),
    Flag(bool),
    List(Vec<Scalar>),
}

/// One value of an `in` or `not_in` list.
#[derive(ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Flag(bool),
    /// Matches a missing property or a null.
    Null,
}

/// Any JSON value: what a request echoed back may be.
pub fn any_json() -> utoipa::openapi::Object {
    use utoipa::openapi::schema::{SchemaType, Type};
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(SchemaType::Array(vec![
            Type::Object,
            Type::Array,
            Type::String,
            Type::Number,
            Type::Boolean,
            Type::Null,
        ]))
        .build()
}

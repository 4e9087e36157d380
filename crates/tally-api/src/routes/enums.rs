//! The closed sets of values request fields take, for the OpenAPI document
//! only: the fields themselves are read as text so that a wrong value is
//! reported with every other problem of the body (docs/API.md, "Errors").

use utoipa::ToSchema;

/// What an aggregator computes.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Operation {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    UniqueCount,
    Latest,
    Formula,
}

/// Events in the period, or entities alive at its end.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum AggregatorType {
    Metered,
    Licensed,
}

/// Priced from an aggregator, or a fixed fee.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ProductType {
    Usage,
    Fee,
}

/// A company or a person.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CustomerType {
    Corporate,
    Person,
}

/// The unit of a billing interval.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum IntervalPeriod {
    Days,
    Weeks,
    Months,
    Years,
}

/// How `DELETE /v1/events` and `POST /v1/events/purge` name events.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum Matching {
    RecordIds,
}

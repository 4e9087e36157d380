//! The definition of an aggregator as it is stored and exchanged (JSON), before
//! validation. [`crate::Aggregator::compile`] turns it into something evaluable.

use serde::{Deserialize, Serialize};

/// An aggregator as the API accepts it and the store persists it (docs/aggregation.md).
///
/// Fields that name a choice (`operation`, `type`) are plain strings here so that a
/// wrong one is reported by [`crate::Aggregator::compile`] with a path and a code,
/// together with every other problem, rather than as a bare deserialization error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorDef {
    /// Display name; must not be empty (`missing_name`).
    pub name: String,
    /// The event type read, under the same rules as an event's `event_type`
    /// (`invalid_event_type`).
    pub event_type: String,
    /// `count`, `sum`, `min`, `max`, `avg`, `unique_count`, `latest` or `formula`.
    pub operation: String,
    /// The record key read by `sum`, `min`, `max`, `avg`, `unique_count` and
    /// `latest`; required by them and refused with `count` and `formula`.
    #[serde(default)]
    pub property: Option<String>,
    /// The formula text of a `formula` aggregator (see [`crate::formula`]); refused
    /// with any other operation.
    #[serde(default)]
    pub formula: Option<String>,
    /// `metered` (the default) or `licensed`.
    #[serde(rename = "type", default = "metered")]
    pub kind: String,
    /// What one unit is called on invoices (`user`, `call`).
    #[serde(default)]
    pub unit_name: Option<String>,
    /// Report a negative quantity as is instead of clamping it to 0 (default false).
    #[serde(default)]
    pub allow_negative_values: bool,
    /// The `where` tree, kept as sent; see [`crate::filter`].
    #[serde(rename = "where", default)]
    pub where_: Option<serde_json::Value>,
    /// Display name of each event, e.g. `{record.work_email} ({record.id})`.
    #[serde(default)]
    pub custom_event_name: Option<String>,
    /// Record keys exported per event; `None` means the default columns.
    #[serde(default)]
    pub exposed_event_keys: Option<Vec<String>>,
    /// Named sub-series (`agf_…`), each applied on top of `where`.
    #[serde(default)]
    pub filters: Vec<AggregatorFilterDef>,
    /// Usage thresholds of a customer's quantity over its period
    /// (docs/entitlements.md, "Thresholds"). Not written when empty, so
    /// definitions stored before thresholds existed read back the same.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdDef>,
}

/// A usage threshold as sent: `{"name", "threshold_value",
/// "comparison_operator": "gte" | "gt"}`; [`crate::Aggregator::compile`]
/// checks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThresholdDef {
    /// Display name; empty is refused (`missing_threshold_name`).
    #[serde(default)]
    pub name: String,
    /// A number or a numeric string (`invalid_threshold_value` otherwise).
    #[serde(default)]
    pub threshold_value: serde_json::Value,
    /// `gte` (the default) or `gt` (`unknown_comparison` otherwise).
    #[serde(default = "gte")]
    pub comparison_operator: String,
}

fn gte() -> String {
    "gte".to_owned()
}

/// A named sub-series of an aggregator (`agf_…`).
///
/// The id is assigned by whoever creates the filter (the billing layer) before the
/// definition is compiled; a create request may omit it, hence the empty default,
/// which compilation refuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AggregatorFilterDef {
    /// `agf_…`, unique within the aggregator; empty is refused (`missing_filter_id`).
    #[serde(default)]
    pub id: String,
    /// Display name; empty is refused (`missing_filter_name`).
    pub name: String,
    /// `None` or JSON null: the filter keeps every event of the aggregator.
    #[serde(rename = "where", default)]
    pub where_: Option<serde_json::Value>,
}

fn metered() -> String {
    "metered".to_owned()
}

//! The two error families: a definition that cannot be compiled, and an evaluation
//! that cannot produce a quantity.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable reason why a definition was refused.
///
/// The serialized form (snake_case) is part of the API contract: clients match on it,
/// so a variant is never renamed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // filters (`where`)
    /// `not_an_object`: a `where` node is neither a condition nor a tree object.
    NotAnObject,
    /// `unknown_field`: a key other than `conditional`/`fields` or
    /// `property`/`operator`/`value`; typos are refused, not ignored.
    UnknownField,
    /// `missing_conditional`: a tree without `conditional`.
    MissingConditional,
    /// `unknown_conditional`: `conditional` is neither `and` nor `or`.
    UnknownConditional,
    /// `missing_fields`: a tree without `fields`.
    MissingFields,
    /// `fields_not_a_list`: `fields` is not an array.
    FieldsNotAList,
    /// `too_deep`: trees nested deeper than [`crate::filter::MAX_DEPTH`].
    TooDeep,
    /// `missing_property`: a condition without `property`, or an operation other
    /// than `count` and `formula` without `property`.
    MissingProperty,
    /// `invalid_property`: a property name that is not 1 to 100 characters.
    InvalidProperty,
    /// `missing_operator`: a condition without `operator`.
    MissingOperator,
    /// `unknown_operator`: an operator in neither spelling of [`crate::Operator`].
    UnknownOperator,
    /// `missing_value`: an operator that compares with a value has none.
    MissingValue,
    /// `unexpected_value`: a value given to `is_null` or `is_not_null`.
    UnexpectedValue,
    /// `value_not_a_list`: `in` or `not_in` with a value that is not an array.
    ValueNotAList,
    /// `invalid_value`: a value of the wrong type for its operator (an object, a
    /// boolean for `greater_than`, a non-string for `starts_with`, a number with no
    /// exact decimal value).
    InvalidValue,
    // aggregators
    /// `missing_name`: the aggregator's `name` is empty.
    MissingName,
    /// `invalid_name`: the aggregator's or a filter's `name` is over 255
    /// characters or holds U+0000 (PostgreSQL cannot store it).
    InvalidName,
    /// `invalid_event_type`: `event_type` breaks the event type rules.
    InvalidEventType,
    /// `unknown_operation`: `operation` is not one of [`crate::Operation::ALL`].
    UnknownOperation,
    /// `unknown_type`: `type` is neither `metered` nor `licensed`.
    UnknownType,
    /// `unexpected_property`: `property` given to `count` or `formula`.
    UnexpectedProperty,
    /// `missing_formula`: a `formula` aggregator without a formula.
    MissingFormula,
    /// `unexpected_formula`: a formula given to another operation.
    UnexpectedFormula,
    /// `formula_syntax`: the formula does not parse; the message has the column.
    FormulaSyntax,
    /// `formula_invalid`: the formula parses but means nothing (unknown function,
    /// wrong arity, nested aggregates, a property outside an aggregate).
    FormulaInvalid,
    /// `missing_filter_id`: a named filter without an id.
    MissingFilterId,
    /// `duplicate_filter_id`: two named filters share an id.
    DuplicateFilterId,
    /// `missing_filter_name`: a named filter without a name.
    MissingFilterName,
    /// `invalid_template`: `custom_event_name` is not a valid template (unbalanced
    /// braces, a placeholder other than `{record.KEY}`).
    InvalidTemplate,
    /// `invalid_exposed_key`: an `exposed_event_keys` entry that is not 1 to 100
    /// characters.
    InvalidExposedKey,
    // thresholds
    /// `missing_threshold_name`: a threshold without a name.
    MissingThresholdName,
    /// `invalid_threshold_value`: a threshold value that is not a number
    /// from -10^12 to 10^12 (a JSON number, or a string of at most 12 digits
    /// and 6 decimals).
    InvalidThresholdValue,
    /// `unknown_comparison`: `comparison_operator` is neither `gte` nor `gt`.
    UnknownComparison,
    /// `duplicate_threshold`: two thresholds with the same comparison and
    /// value, or more than [`crate::MAX_THRESHOLDS`].
    DuplicateThreshold,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        use ErrorCode::*;
        match self {
            NotAnObject => "not_an_object",
            UnknownField => "unknown_field",
            MissingConditional => "missing_conditional",
            UnknownConditional => "unknown_conditional",
            MissingFields => "missing_fields",
            FieldsNotAList => "fields_not_a_list",
            TooDeep => "too_deep",
            MissingProperty => "missing_property",
            InvalidProperty => "invalid_property",
            MissingOperator => "missing_operator",
            UnknownOperator => "unknown_operator",
            MissingValue => "missing_value",
            UnexpectedValue => "unexpected_value",
            ValueNotAList => "value_not_a_list",
            InvalidValue => "invalid_value",
            MissingName => "missing_name",
            InvalidName => "invalid_name",
            InvalidEventType => "invalid_event_type",
            UnknownOperation => "unknown_operation",
            UnknownType => "unknown_type",
            UnexpectedProperty => "unexpected_property",
            MissingFormula => "missing_formula",
            UnexpectedFormula => "unexpected_formula",
            FormulaSyntax => "formula_syntax",
            FormulaInvalid => "formula_invalid",
            MissingFilterId => "missing_filter_id",
            DuplicateFilterId => "duplicate_filter_id",
            MissingFilterName => "missing_filter_name",
            InvalidTemplate => "invalid_template",
            InvalidExposedKey => "invalid_exposed_key",
            MissingThresholdName => "missing_threshold_name",
            InvalidThresholdValue => "invalid_threshold_value",
            UnknownComparison => "unknown_comparison",
            DuplicateThreshold => "duplicate_threshold",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem in a definition: where (a JSON pointer into the definition), what (a
/// stable code) and a lowercase human message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DefinitionError {
    /// JSON pointer into the definition: `/operation`, `/where/fields/1/operator`,
    /// `/filters/0/where/value`.
    pub path: String,
    /// The stable reason; match on this, not on the message.
    pub code: ErrorCode,
    /// A lowercase explanation for humans; its wording may change.
    pub message: String,
}

impl DefinitionError {
    /// An error at `path` (a JSON pointer relative to the document being checked).
    pub fn new(path: impl Into<String>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            code,
            message: message.into(),
        }
    }

    /// The same error seen from an enclosing document: `/fields/0` under `/where`
    /// becomes `/where/fields/0`.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = format!("{prefix}{}", self.path);
        self
    }
}

/// Escapes one JSON-pointer segment (RFC 6901): `~` and `/` may appear in keys.
pub(crate) fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Why an evaluation produced no quantity. Missing or non-numeric values are not
/// errors (they are counted in [`crate::Diagnostics`]); these are.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The aggregator filter id does not belong to the aggregator.
    #[error("aggregator filter {id} does not belong to this aggregator")]
    UnknownFilter {
        /// The id asked for.
        id: String,
    },
    /// A sum, product or difference left the range of a decimal.
    #[error("arithmetic overflow: the result does not fit a decimal")]
    Overflow,
    /// A formula divided by zero.
    #[error("division by zero in formula at column {column}")]
    DivisionByZero {
        /// 1-based column of the `/` in the formula text.
        column: usize,
    },
    /// A formula's final value is a boolean or a string.
    #[error("formula result is not a number")]
    FormulaNotNumeric,
    /// A time series asked for more buckets than one evaluation may hold.
    #[error("time series would have more than {max} buckets")]
    TooManyBuckets {
        /// The limit, [`crate::MAX_BUCKETS`].
        max: usize,
    },
}

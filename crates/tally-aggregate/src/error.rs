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
    NotAnObject,
    UnknownField,
    MissingConditional,
    UnknownConditional,
    MissingFields,
    FieldsNotAList,
    TooDeep,
    MissingProperty,
    InvalidProperty,
    MissingOperator,
    UnknownOperator,
    MissingValue,
    UnexpectedValue,
    ValueNotAList,
    InvalidValue,
    // aggregators
    MissingName,
    InvalidEventType,
    UnknownOperation,
    UnknownType,
    UnexpectedProperty,
    MissingFormula,
    UnexpectedFormula,
    FormulaSyntax,
    FormulaInvalid,
    MissingFilterId,
    DuplicateFilterId,
    MissingFilterName,
    InvalidTemplate,
    InvalidExposedKey,
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
    pub path: String,
    pub code: ErrorCode,
    pub message: String,
}

impl DefinitionError {
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
    UnknownFilter { id: String },
    /// A sum, product or difference left the range of a decimal.
    #[error("arithmetic overflow: the result does not fit a decimal")]
    Overflow,
    /// A formula divided by zero.
    #[error("division by zero in formula at column {column}")]
    DivisionByZero { column: usize },
    /// A formula's final value is a boolean or a string.
    #[error("formula result is not a number")]
    FormulaNotNumeric,
    /// A time series asked for more buckets than one evaluation may hold.
    #[error("time series would have more than {max} buckets")]
    TooManyBuckets { max: usize },
}

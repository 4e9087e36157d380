//! [`AggregatorDef`] → [`Aggregator`]: every problem reported at once.

use std::collections::HashSet;

use tally_event::EventType;

use crate::aggregator::{Aggregator, AggregatorKind, Measure, NamedFilter, Operation};
use crate::def::{AggregatorDef, AggregatorFilterDef, ThresholdDef};
use crate::error::{DefinitionError, ErrorCode};
use crate::filter::Filter;
use crate::formula::Formula;
use crate::template::Template;
use crate::threshold::{Comparison, Threshold, threshold_value};

/// Longest property name (a record key's limit).
const MAX_KEY_CHARS: usize = 100;

/// Collects errors while the parts of a definition are checked independently.
#[derive(Default)]
struct Errors(Vec<DefinitionError>);

impl Errors {
    fn push(&mut self, path: &str, code: ErrorCode, message: impl Into<String>) {
        self.0.push(DefinitionError::new(path, code, message));
    }
}

impl Aggregator {
    /// Validates a definition. Errors carry JSON-pointer paths into the definition
    /// (`/where/fields/1/operator`, `/filters/0/id`) and stable codes.
    ///
    /// # Errors
    ///
    /// Every problem at once, each a [`DefinitionError`] with an [`ErrorCode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use tally_aggregate::{Aggregator, AggregatorDef, AggregatorKind, ErrorCode, Operation};
    ///
    /// let def: AggregatorDef = serde_json::from_value(json!({
    ///     "name": "Active users",
    ///     "event_type": "users",
    ///     "operation": "count",
    ///     "type": "licensed",
    ///     "where": {"property": "deleted_at", "operator": "is_null"}
    /// }))
    /// .unwrap();
    /// let aggregator = Aggregator::compile(&def).unwrap();
    /// assert_eq!(aggregator.operation(), Operation::Count);
    /// assert_eq!(aggregator.kind(), AggregatorKind::Licensed);
    ///
    /// // A sum needs a property, and the type must be metered or licensed.
    /// let def: AggregatorDef = serde_json::from_value(json!({
    ///     "name": "Revenue", "event_type": "payment", "operation": "sum", "type": "yearly"
    /// }))
    /// .unwrap();
    /// let errors = Aggregator::compile(&def).unwrap_err();
    /// let codes: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
    /// assert!(codes.contains(&("/property", ErrorCode::MissingProperty)));
    /// assert!(codes.contains(&("/type", ErrorCode::UnknownType)));
    /// ```
    pub fn compile(def: &AggregatorDef) -> Result<Aggregator, Vec<DefinitionError>> {
        let mut errors = Errors::default();
        if def.name.trim().is_empty() {
            errors.push("/name", ErrorCode::MissingName, "name must not be empty");
        } else if !storable_name(&def.name) {
            errors.push("/name", ErrorCode::InvalidName, INVALID_NAME);
        }
        let event_type = EventType::parse(&def.event_type)
            .map_err(|e| errors.push("/event_type", ErrorCode::InvalidEventType, e.to_string()))
            .ok();
        let kind = compile_kind(&def.kind, &mut errors);
        let operation = compile_operation(&def.operation, &mut errors);
        let property = operation.and_then(|op| compile_property(op, def, &mut errors));
        let formula = operation.and_then(|op| compile_formula(op, def, &mut errors));
        let where_ = compile_where(def.where_.as_ref(), "/where", &mut errors);
        let filters = compile_filters(&def.filters, &mut errors);
        let thresholds = compile_thresholds(&def.thresholds, &mut errors);
        let event_name = compile_template(def.custom_event_name.as_deref(), &mut errors);
        check_exposed_keys(def.exposed_event_keys.as_deref(), &mut errors);
        let measure = match (operation, property, formula) {
            (Some(Operation::Count), _, _) => Some(Measure::Count),
            (Some(Operation::Formula), _, Some(Some(formula))) => Some(Measure::Formula(formula)),
            (Some(op), Some(Some(property)), _) => Some(Measure::Property { op, property }),
            _ => None,
        };
        match (event_type, kind, measure) {
            (Some(event_type), Some(kind), Some(measure)) if errors.0.is_empty() => {
                Ok(Aggregator {
                    def: def.clone(),
                    event_type,
                    measure,
                    kind,
                    where_: where_.flatten(),
                    filters,
                    thresholds,
                    event_name: event_name.flatten(),
                })
            }
            _ => Err(errors.0),
        }
    }
}

fn compile_kind(name: &str, errors: &mut Errors) -> Option<AggregatorKind> {
    let kind = AggregatorKind::parse(name);
    if kind.is_none() {
        let message = "type must be \"metered\" or \"licensed\"";
        errors.push("/type", ErrorCode::UnknownType, message);
    }
    kind
}

fn compile_operation(name: &str, errors: &mut Errors) -> Option<Operation> {
    let operation = Operation::parse(name);
    if operation.is_none() {
        let names: Vec<&str> = Operation::ALL.iter().map(|op| op.as_str()).collect();
        let message = format!("unknown operation, expected one of: {}", names.join(", "));
        errors.push("/operation", ErrorCode::UnknownOperation, message);
    }
    operation
}

/// `Some(Some(_))` a valid property, `Some(None)` rightly absent, `None` an error.
fn compile_property(
    op: Operation,
    def: &AggregatorDef,
    errors: &mut Errors,
) -> Option<Option<String>> {
    match (&def.property, op.needs_property()) {
        (None, false) => Some(None),
        (None, true) => {
            let message = format!("operation {} needs a property", op.as_str());
            errors.push("/property", ErrorCode::MissingProperty, message);
            None
        }
        (Some(_), false) => {
            let message = format!("operation {} takes no property", op.as_str());
            errors.push("/property", ErrorCode::UnexpectedProperty, message);
            None
        }
        (Some(name), true) if is_key(name) => Some(Some(name.clone())),
        (Some(_), true) => {
            let message = format!("property must be 1 to {MAX_KEY_CHARS} characters");
            errors.push("/property", ErrorCode::InvalidProperty, message);
            None
        }
    }
}

fn is_key(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= MAX_KEY_CHARS
}

fn compile_formula(
    op: Operation,
    def: &AggregatorDef,
    errors: &mut Errors,
) -> Option<Option<Formula>> {
    match (&def.formula, op == Operation::Formula) {
        (None, false) => Some(None),
        (None, true) => {
            let message = "operation formula needs a formula";
            errors.push("/formula", ErrorCode::MissingFormula, message);
            None
        }
        (Some(_), false) => {
            let message = format!("operation {} takes no formula", op.as_str());
            errors.push("/formula", ErrorCode::UnexpectedFormula, message);
            None
        }
        (Some(text), true) => match Formula::parse(text) {
            Ok(formula) => Some(Some(formula)),
            Err(error) => {
                errors.0.push(error.to_definition_error("/formula"));
                None
            }
        },
    }
}

/// `Some(None)` when there is no `where` (or it is JSON null).
fn compile_where(
    json: Option<&serde_json::Value>,
    path: &str,
    errors: &mut Errors,
) -> Option<Option<Filter>> {
    match json {
        None | Some(serde_json::Value::Null) => Some(None),
        Some(json) => match Filter::parse(json) {
            Ok(filter) => Some(Some(filter)),
            Err(found) => {
                errors.0.extend(found.into_iter().map(|e| e.under(path)));
                None
            }
        },
    }
}

fn compile_filters(defs: &[AggregatorFilterDef], errors: &mut Errors) -> Vec<NamedFilter> {
    let mut seen = HashSet::new();
    let mut compiled = Vec::with_capacity(defs.len());
    for (index, def) in defs.iter().enumerate() {
        let path = format!("/filters/{index}");
        if def.id.is_empty() {
            let message = "filter needs an id";
            errors.push(&format!("{path}/id"), ErrorCode::MissingFilterId, message);
        } else if !seen.insert(def.id.as_str()) {
            let message = format!("filter id {} is used twice", def.id);
            errors.push(&format!("{path}/id"), ErrorCode::DuplicateFilterId, message);
        }
        if def.name.trim().is_empty() {
            let message = "filter name must not be empty";
            errors.push(
                &format!("{path}/name"),
                ErrorCode::MissingFilterName,
                message,
            );
        } else if !storable_name(&def.name) {
            errors.push(
                &format!("{path}/name"),
                ErrorCode::InvalidName,
                INVALID_NAME,
            );
        }
        let where_path = format!("{path}/where");
        if let Some(filter) = compile_where(def.where_.as_ref(), &where_path, errors) {
            compiled.push(NamedFilter {
                id: def.id.clone(),
                name: def.name.clone(),
                filter,
            });
        }
    }
    compiled
}

/// At most this many thresholds per aggregator.
pub const MAX_THRESHOLDS: usize = 20;

fn compile_thresholds(defs: &[ThresholdDef], errors: &mut Errors) -> Vec<Threshold> {
    let mut compiled: Vec<Threshold> = Vec::with_capacity(defs.len());
    if defs.len() > MAX_THRESHOLDS {
        let message = format!("at most {MAX_THRESHOLDS} thresholds");
        errors.push("/thresholds", ErrorCode::DuplicateThreshold, message);
    }
    for (index, def) in defs.iter().enumerate() {
        let path = format!("/thresholds/{index}");
        if def.name.trim().is_empty() {
            let message = "threshold name must not be empty";
            errors.push(
                &format!("{path}/name"),
                ErrorCode::MissingThresholdName,
                message,
            );
        } else if !storable_name(&def.name) {
            errors.push(
                &format!("{path}/name"),
                ErrorCode::InvalidName,
                INVALID_NAME,
            );
        }
        let value = threshold_value(&def.threshold_value);
        if value.is_none() {
            let message = "threshold_value is a number from -10^12 to 10^12, or the same as a \
                           string of at most 12 digits and 6 decimals";
            errors.push(
                &format!("{path}/threshold_value"),
                ErrorCode::InvalidThresholdValue,
                message,
            );
        }
        let comparison = Comparison::parse(&def.comparison_operator);
        if comparison.is_none() {
            let message = "comparison_operator must be gte or gt";
            errors.push(
                &format!("{path}/comparison_operator"),
                ErrorCode::UnknownComparison,
                message,
            );
        }
        let (Some(value), Some(comparison)) = (value, comparison) else {
            continue;
        };
        let threshold = Threshold {
            name: def.name.clone(),
            value: value.normalize(),
            comparison,
        };
        if compiled.iter().any(|t| t.key() == threshold.key()) {
            let message = format!("two thresholds are {threshold}");
            errors.push(&path, ErrorCode::DuplicateThreshold, message);
        }
        compiled.push(threshold);
    }
    compiled
}

fn compile_template(text: Option<&str>, errors: &mut Errors) -> Option<Option<Template>> {
    let Some(text) = text else {
        return Some(None);
    };
    match Template::parse(text) {
        Ok(template) => Some(Some(template)),
        Err(message) => {
            errors.push("/custom_event_name", ErrorCode::InvalidTemplate, message);
            None
        }
    }
}

fn check_exposed_keys(keys: Option<&[String]>, errors: &mut Errors) {
    for (index, key) in keys.unwrap_or_default().iter().enumerate() {
        if !is_key(key) {
            let message = format!("key must be 1 to {MAX_KEY_CHARS} characters");
            let path = format!("/exposed_event_keys/{index}");
            errors.push(&path, ErrorCode::InvalidExposedKey, message);
        }
    }
}

/// Longest aggregator or filter name, in characters.
const MAX_NAME_CHARS: usize = 255;

const INVALID_NAME: &str = "name must be at most 255 characters, without U+0000";

/// A name every store keeps as sent: bounded, and without U+0000, which
/// PostgreSQL cannot hold in text.
fn storable_name(name: &str) -> bool {
    name.chars().count() <= MAX_NAME_CHARS && !name.contains('\0')
}

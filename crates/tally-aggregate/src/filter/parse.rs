//! `where` JSON → [`Filter`], reporting every problem at once, and back.

use serde_json::{Map, Value as Json};

use super::{Condition, Filter, Literal, MAX_DEPTH, Operand, Operator};
use crate::error::{DefinitionError, ErrorCode, pointer_segment};
use tally_event::exact_decimal;

/// Longest property name a condition may test (a record key's limit).
const MAX_PROPERTY_CHARS: usize = 100;

impl Filter {
    /// Parses a `where` tree (or a bare condition). Paths in the errors are relative
    /// to `json` (`/fields/1/operator`); see [`DefinitionError::under`].
    ///
    /// # Errors
    ///
    /// Every problem in the tree at once, each with its path and [`ErrorCode`].
    ///
    /// # Examples
    ///
    /// ```
    /// use serde_json::json;
    /// use tally_aggregate::{ErrorCode, Filter};
    /// use tally_event::{Timestamp, ValidationConfig, parse_event};
    ///
    /// let active_paid = Filter::parse(&json!({"conditional": "and", "fields": [
    ///     {"property": "deleted_at", "operator": "is_null"},
    ///     {"property": "plan", "operator": "in", "value": ["pro", "team"]}
    /// ]}))
    /// .unwrap();
    ///
    /// let now = Timestamp::parse("2024-02-01T00:00:00Z").unwrap();
    /// let record = |record: serde_json::Value| {
    ///     let wire = json!({"customer_id": "acme", "event_type": "users",
    ///                       "timestamp": "2024-01-10T12:00:00Z", "record": record});
    ///     parse_event(&wire, &ValidationConfig::default(), now).unwrap().event.record
    /// };
    /// assert!(active_paid.matches(&record(json!({"id": 1, "plan": "pro"}))));
    /// assert!(!active_paid.matches(&record(json!({"id": 2, "plan": "free"}))));
    /// assert!(!active_paid.matches(&record(json!({"id": 3, "plan": "pro",
    ///                                               "deleted_at": "2024-01-09"}))));
    ///
    /// // Every problem at once, with paths relative to the tree.
    /// let errors = Filter::parse(&json!({"conditional": "and", "fields": [
    ///     {"property": "plan", "operator": "is"},
    ///     {"property": "seats", "operator": "greater_than"}
    /// ]}))
    /// .unwrap_err();
    /// let found: Vec<_> = errors.iter().map(|e| (e.path.as_str(), e.code)).collect();
    /// assert_eq!(
    ///     found,
    ///     [
    ///         ("/fields/0/operator", ErrorCode::UnknownOperator),
    ///         ("/fields/1/value", ErrorCode::MissingValue),
    ///     ]
    /// );
    /// ```
    pub fn parse(json: &Json) -> Result<Filter, Vec<DefinitionError>> {
        let mut errors = Vec::new();
        let filter = parse_node(json, "", 0, &mut errors);
        match filter {
            Some(filter) if errors.is_empty() => Ok(filter),
            _ => Err(errors),
        }
    }

    /// The canonical JSON form, which [`Filter::parse`] reads back to the same tree.
    pub fn to_json(&self) -> Json {
        match self {
            Filter::All(children) => tree_json("and", children),
            Filter::Any(children) => tree_json("or", children),
            Filter::Condition(condition) => condition.to_json(),
        }
    }
}

impl Condition {
    /// The condition's JSON form, with the canonical (snake_case) operator name.
    pub fn to_json(&self) -> Json {
        let mut object = Map::new();
        object.insert("property".into(), Json::String(self.property.clone()));
        object.insert("operator".into(), Json::String(self.op.as_str().into()));
        match &self.operand {
            Operand::None => {}
            Operand::Value(lit) => {
                object.insert("value".into(), lit.to_json());
            }
            Operand::List(items) => {
                object.insert("value".into(), items.iter().map(Literal::to_json).collect());
            }
        }
        Json::Object(object)
    }
}

impl Literal {
    /// The constant as JSON, numbers written exactly.
    pub fn to_json(&self) -> Json {
        match self {
            Literal::Null => Json::Null,
            Literal::Bool(b) => Json::Bool(*b),
            Literal::Number(n) => tally_event::decimal_to_json(*n),
            Literal::String(s) => Json::String(s.clone()),
        }
    }
}

fn tree_json(conditional: &str, children: &[Filter]) -> Json {
    serde_json::json!({
        "conditional": conditional,
        "fields": children.iter().map(Filter::to_json).collect::<Vec<_>>(),
    })
}

fn err(errors: &mut Vec<DefinitionError>, path: String, code: ErrorCode, message: &str) {
    errors.push(DefinitionError::new(path, code, message));
}

fn parse_node(
    json: &Json,
    path: &str,
    depth: usize,
    errors: &mut Vec<DefinitionError>,
) -> Option<Filter> {
    let Json::Object(object) = json else {
        let message = "must be an object: a condition or a conditional tree";
        err(errors, path.to_owned(), ErrorCode::NotAnObject, message);
        return None;
    };
    if object.contains_key("conditional") || object.contains_key("fields") {
        parse_tree(object, path, depth, errors)
    } else {
        parse_condition(object, path, errors).map(Filter::Condition)
    }
}

fn reject_unknown_keys(
    object: &Map<String, Json>,
    allowed: &[&str],
    path: &str,
    errors: &mut Vec<DefinitionError>,
) {
    for key in object.keys().filter(|key| !allowed.contains(&key.as_str())) {
        let message = format!("unknown field, expected one of: {}", allowed.join(", "));
        let at = format!("{path}/{}", pointer_segment(key));
        err(errors, at, ErrorCode::UnknownField, &message);
    }
}

fn parse_tree(
    object: &Map<String, Json>,
    path: &str,
    depth: usize,
    errors: &mut Vec<DefinitionError>,
) -> Option<Filter> {
    reject_unknown_keys(object, &["conditional", "fields"], path, errors);
    if depth >= MAX_DEPTH {
        let message = format!("conditional trees may nest at most {MAX_DEPTH} levels");
        err(errors, path.to_owned(), ErrorCode::TooDeep, &message);
        return None;
    }
    let conditional = parse_conditional(object.get("conditional"), path, errors);
    let children = parse_fields(object.get("fields"), path, depth, errors);
    match (conditional?, children?) {
        (true, children) => Some(Filter::All(children)),
        (false, children) => Some(Filter::Any(children)),
    }
}

/// `Some(true)` for `and`, `Some(false)` for `or`.
fn parse_conditional(
    json: Option<&Json>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<bool> {
    let at = format!("{path}/conditional");
    match json {
        None => {
            let message = "a tree needs \"conditional\": \"and\" or \"or\"";
            err(errors, at, ErrorCode::MissingConditional, message);
            None
        }
        Some(Json::String(s)) if s == "and" => Some(true),
        Some(Json::String(s)) if s == "or" => Some(false),
        Some(_) => {
            let message = "conditional must be \"and\" or \"or\"";
            err(errors, at, ErrorCode::UnknownConditional, message);
            None
        }
    }
}

fn parse_fields(
    json: Option<&Json>,
    path: &str,
    depth: usize,
    errors: &mut Vec<DefinitionError>,
) -> Option<Vec<Filter>> {
    let at = format!("{path}/fields");
    let items = match json {
        None => {
            let message = "a tree needs \"fields\": a list of conditions or trees";
            err(errors, at, ErrorCode::MissingFields, message);
            return None;
        }
        Some(Json::Array(items)) => items,
        Some(_) => {
            let message = "fields must be a list of conditions or trees";
            err(errors, at, ErrorCode::FieldsNotAList, message);
            return None;
        }
    };
    let mut children = Vec::with_capacity(items.len());
    let mut complete = true;
    for (index, item) in items.iter().enumerate() {
        match parse_node(item, &format!("{at}/{index}"), depth + 1, errors) {
            Some(child) => children.push(child),
            None => complete = false,
        }
    }
    complete.then_some(children)
}

fn parse_condition(
    object: &Map<String, Json>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Condition> {
    reject_unknown_keys(object, &["property", "operator", "value"], path, errors);
    let property = parse_property(object.get("property"), path, errors);
    let op = parse_operator(object.get("operator"), path, errors);
    // The operand can only be checked against a known operator.
    let operand = op.and_then(|op| parse_operand(op, object.get("value"), path, errors));
    Some(Condition {
        property: property?,
        op: op?,
        operand: operand?,
    })
}

fn parse_property(
    json: Option<&Json>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<String> {
    let at = format!("{path}/property");
    match json {
        None | Some(Json::Null) => {
            err(
                errors,
                at,
                ErrorCode::MissingProperty,
                "a condition needs a property",
            );
            None
        }
        Some(Json::String(name))
            if !name.is_empty() && name.chars().count() <= MAX_PROPERTY_CHARS =>
        {
            Some(name.clone())
        }
        Some(_) => {
            let message = format!(
                "property must be a record key: a string of 1 to {MAX_PROPERTY_CHARS} characters"
            );
            err(errors, at, ErrorCode::InvalidProperty, &message);
            None
        }
    }
}

fn parse_operator(
    json: Option<&Json>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Operator> {
    let at = format!("{path}/operator");
    match json {
        None | Some(Json::Null) => {
            err(
                errors,
                at,
                ErrorCode::MissingOperator,
                "a condition needs an operator",
            );
            None
        }
        Some(Json::String(name)) => {
            let op = Operator::parse(name);
            if op.is_none() {
                let names: Vec<&str> = Operator::ALL.iter().map(|op| op.as_str()).collect();
                let message = format!("unknown operator, expected one of: {}", names.join(", "));
                err(errors, at, ErrorCode::UnknownOperator, &message);
            }
            op
        }
        Some(_) => {
            err(
                errors,
                at,
                ErrorCode::UnknownOperator,
                "operator must be a string",
            );
            None
        }
    }
}

/// What each operator accepts as its value.
#[derive(Clone, Copy)]
enum Shape {
    Nothing,
    Scalar,
    Ordered,
    List,
    Needle,
    Text,
}

fn shape(op: Operator) -> Shape {
    match op {
        Operator::IsNull | Operator::IsNotNull => Shape::Nothing,
        Operator::Equals | Operator::NotEquals => Shape::Scalar,
        Operator::GreaterThan
        | Operator::GreaterThanOrEqual
        | Operator::LowerThan
        | Operator::LowerThanOrEqual => Shape::Ordered,
        Operator::In | Operator::NotIn => Shape::List,
        Operator::Contains => Shape::Needle,
        Operator::StartsWith => Shape::Text,
    }
}

fn parse_operand(
    op: Operator,
    json: Option<&Json>,
    path: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Operand> {
    let at = format!("{path}/value");
    let shape = shape(op);
    let Some(json) = json else {
        if matches!(shape, Shape::Nothing) {
            return Some(Operand::None);
        }
        let message = format!("{} needs a value", op.as_str());
        err(errors, at, ErrorCode::MissingValue, &message);
        return None;
    };
    match shape {
        Shape::Nothing if json.is_null() => Some(Operand::None),
        Shape::Nothing => {
            let message = format!("{} takes no value", op.as_str());
            err(errors, at, ErrorCode::UnexpectedValue, &message);
            None
        }
        Shape::List => parse_list(op, json, &at, errors).map(Operand::List),
        _ => parse_single(op, shape, json, &at, errors).map(Operand::Value),
    }
}

fn parse_list(
    op: Operator,
    json: &Json,
    at: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Vec<Literal>> {
    let Json::Array(items) = json else {
        let message = format!("{} needs a list of values", op.as_str());
        err(errors, at.to_owned(), ErrorCode::ValueNotAList, &message);
        return None;
    };
    let mut literals = Vec::with_capacity(items.len());
    let mut complete = true;
    for (index, item) in items.iter().enumerate() {
        match literal(item) {
            Ok(lit) => literals.push(lit),
            Err(message) => {
                let item_at = format!("{at}/{index}");
                err(errors, item_at, ErrorCode::InvalidValue, &message);
                complete = false;
            }
        }
    }
    complete.then_some(literals)
}

fn parse_single(
    op: Operator,
    shape: Shape,
    json: &Json,
    at: &str,
    errors: &mut Vec<DefinitionError>,
) -> Option<Literal> {
    let checked = literal(json).and_then(|lit| {
        let fits = match shape {
            Shape::Ordered => matches!(lit, Literal::Number(_) | Literal::String(_)),
            Shape::Needle => !matches!(lit, Literal::Null),
            Shape::Text => matches!(lit, Literal::String(_)),
            _ => true,
        };
        if fits {
            Ok(lit)
        } else {
            Err(format!("{} needs {}", op.as_str(), expected(shape)))
        }
    });
    checked
        .map_err(|message| err(errors, at.to_owned(), ErrorCode::InvalidValue, &message))
        .ok()
}

fn expected(shape: Shape) -> &'static str {
    match shape {
        Shape::Ordered => "a number or a string",
        Shape::Needle => "a string, a number or a boolean",
        Shape::Text => "a string",
        _ => "a string, a number, a boolean or null",
    }
}

/// A scalar JSON value as a literal; numbers must fit a decimal exactly.
fn literal(json: &Json) -> Result<Literal, String> {
    match json {
        Json::Null => Ok(Literal::Null),
        Json::Bool(b) => Ok(Literal::Bool(*b)),
        Json::String(s) => Ok(Literal::String(s.clone())),
        Json::Number(n) => exact_decimal(&n.to_string())
            .map(Literal::Number)
            .ok_or_else(|| "number does not fit a decimal exactly".to_owned()),
        Json::Array(_) | Json::Object(_) => {
            Err("value must be a string, a number, a boolean or null".to_owned())
        }
    }
}

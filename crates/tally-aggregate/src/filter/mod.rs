//! The `where` language: which events an aggregator (or one of its named filters)
//! keeps.
//!
//! # JSON form
//!
//! ```text
//! where      = tree | condition
//! tree       = {"conditional": "and" | "or", "fields": [ (tree | condition)* ]}
//! condition  = {"property": KEY, "operator": OPERATOR, "value"?: JSON}
//! ```
//!
//! Trees nest up to [`MAX_DEPTH`] levels. `and` over no fields is true, `or` over no
//! fields is false. Unknown keys are refused, so a typo (`"values"`) is an error and
//! not a silently ignored condition.
//!
//! # Operators and their exact semantics
//!
//! A missing property is null. Comparisons are typed: numbers compare by decimal
//! value (`1` equals `1.0`), strings by bytes (`"10" < "9"`), booleans only equal
//! booleans, null only equals null; any other pairing (number against string, a
//! `"5"` string against `5`) is a mismatch, which is *false*, never an error.
//!
//! | operator (alias) | value | true when the property… |
//! |---|---|---|
//! | `equals` (`equals`) | string, number, boolean or null | equals the value (typed) |
//! | `not_equals` (`notEquals`) | same | does not equal it: exactly `not equals` |
//! | `greater_than` (`greaterThan`) | number or string | is of the same type and greater |
//! | `greater_than_or_equal` (`greaterThanOrEqual`) | number or string | same type, ≥ |
//! | `lower_than` (`lowerThan`) | number or string | same type, < |
//! | `lower_than_or_equal` (`lowerThanOrEqual`) | number or string | same type, ≤ |
//! | `is_null` (`isNull`) | none (or null) | is null or missing |
//! | `is_not_null` (`isNotNull`) | none (or null) | is present and not null |
//! | `in` (`in`) | list of strings, numbers, booleans, nulls | equals one item (typed) |
//! | `not_in` (`notIn`) | same | equals no item: exactly `not in` |
//! | `contains` (`contains`) | string, number or boolean | is a string containing the value as a substring (value a string), or an array with an item equal to the value |
//! | `starts_with` (`startsWith`) | string | is a string starting with the value |
//!
//! Consequences worth knowing, chosen so that De Morgan's laws hold with the pairs
//! `equals`/`not_equals`, `in`/`not_in`, `is_null`/`is_not_null`, `and`/`or`:
//! - `not_equals "a"` keeps events where the property is missing, null, or of
//!   another type (`5`): they are not equal to `"a"`. In SQL this is
//!   `IS DISTINCT FROM`, not `<>`.
//! - `not_in [...]` keeps missing and null properties unless the list holds null.
//! - `equals null` is the same as `is_null`; `not_equals null` as `is_not_null`.
//! - the order operators have no negation: `lower_than 5` and `greater_than_or_equal
//!   5` are both false for a missing or non-numeric property.
//! - an array property equals nothing; use `contains` for membership.

mod parse;

use std::collections::BTreeSet;

use rust_decimal::Decimal;
use tally_event::{Record, Value};

use crate::compare::{View, equal, order};

/// Deepest nesting of `conditional` trees a `where` may have.
pub const MAX_DEPTH: usize = 32;

/// A parsed `where` tree. Build it with [`Filter::parse`], which validates; the
/// variants are public so that a store can translate the tree, e.g. into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// `{"conditional": "and", ...}`: every child holds (true when empty).
    All(Vec<Filter>),
    /// `{"conditional": "or", ...}`: some child holds (false when empty).
    Any(Vec<Filter>),
    /// A single test on one record property.
    Condition(Condition),
}

/// One `{"property", "operator", "value"}` test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The record key tested; a missing key reads as null.
    pub property: String,
    /// How the property is compared with the operand.
    pub op: Operator,
    /// The constant(s) compared with; its shape matches `op`.
    pub operand: Operand,
}

/// A condition's operator; the module documentation gives the exact semantics of
/// each, including how missing properties and type mismatches behave.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = FilterOperator, rename_all = "snake_case"))]
pub enum Operator {
    /// `equals`: typed equality; `equals null` is `is_null`.
    Equals,
    /// `not_equals`: exactly `not equals`, so a missing property matches.
    NotEquals,
    /// `greater_than`: same type (number or string) and greater.
    GreaterThan,
    /// `greater_than_or_equal`: same type and ≥.
    GreaterThanOrEqual,
    /// `lower_than`: same type and <.
    LowerThan,
    /// `lower_than_or_equal`: same type and ≤.
    LowerThanOrEqual,
    /// `is_null`: missing or null.
    IsNull,
    /// `is_not_null`: present and not null.
    IsNotNull,
    /// `in`: equals one item of the list.
    In,
    /// `not_in`: equals no item, so a missing property matches unless the list holds
    /// null.
    NotIn,
    /// `contains`: a string holding the value as a substring, or an array holding an
    /// item equal to the value.
    Contains,
    /// `starts_with`: a string beginning with the value.
    StartsWith,
}

/// What a condition compares with. [`Filter::parse`] guarantees the shape the
/// operator takes (see the module doc); a hand-built mismatch never matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operand {
    /// `is_null`, `is_not_null`.
    None,
    /// Every other operator: one constant.
    Value(Literal),
    /// `in`, `not_in`.
    List(Vec<Literal>),
}

/// A constant in a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Literal {
    /// JSON `null`: equals a missing or null property.
    Null,
    /// A boolean; equals only booleans.
    Bool(bool),
    /// A number, exact; equals a property of the same decimal value (`1` = `1.0`).
    Number(Decimal),
    /// A string, compared bytewise.
    String(String),
}

impl Literal {
    pub(crate) fn view(&self) -> View<'_> {
        match self {
            Literal::Null => View::Null,
            Literal::Bool(b) => View::Bool(*b),
            Literal::Number(n) => View::Number(*n),
            Literal::String(s) => View::Str(s),
        }
    }
}

impl Operator {
    /// Every operator, in the order of the table in the module documentation.
    pub const ALL: [Operator; 12] = [
        Operator::Equals,
        Operator::NotEquals,
        Operator::GreaterThan,
        Operator::GreaterThanOrEqual,
        Operator::LowerThan,
        Operator::LowerThanOrEqual,
        Operator::IsNull,
        Operator::IsNotNull,
        Operator::In,
        Operator::NotIn,
        Operator::Contains,
        Operator::StartsWith,
    ];

    /// The canonical (snake_case) name.
    pub fn as_str(self) -> &'static str {
        self.names().0
    }

    /// (snake_case, camelCase) spellings.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Operator::Equals => ("equals", "equals"),
            Operator::NotEquals => ("not_equals", "notEquals"),
            Operator::GreaterThan => ("greater_than", "greaterThan"),
            Operator::GreaterThanOrEqual => ("greater_than_or_equal", "greaterThanOrEqual"),
            Operator::LowerThan => ("lower_than", "lowerThan"),
            Operator::LowerThanOrEqual => ("lower_than_or_equal", "lowerThanOrEqual"),
            Operator::IsNull => ("is_null", "isNull"),
            Operator::IsNotNull => ("is_not_null", "isNotNull"),
            Operator::In => ("in", "in"),
            Operator::NotIn => ("not_in", "notIn"),
            Operator::Contains => ("contains", "contains"),
            Operator::StartsWith => ("starts_with", "startsWith"),
        }
    }

    /// Either spelling; names are case-sensitive like every other JSON key.
    pub fn parse(name: &str) -> Option<Operator> {
        Self::ALL.into_iter().find(|op| {
            let (snake, camel) = op.names();
            name == snake || name == camel
        })
    }
}

impl Filter {
    /// Whether the record passes the filter.
    pub fn matches(&self, record: &Record) -> bool {
        match self {
            Filter::All(children) => children.iter().all(|child| child.matches(record)),
            Filter::Any(children) => children.iter().any(|child| child.matches(record)),
            Filter::Condition(condition) => condition.matches(record.get(&condition.property)),
        }
    }

    /// Adds every property the filter reads to `into`: [`Filter::matches`] looks
    /// at nothing else of a record.
    pub fn collect_properties<'a>(&'a self, into: &mut BTreeSet<&'a str>) {
        match self {
            Filter::All(children) | Filter::Any(children) => {
                children.iter().for_each(|c| c.collect_properties(into));
            }
            Filter::Condition(condition) => {
                into.insert(&condition.property);
            }
        }
    }
}

impl Condition {
    /// Whether the property value (`None` when missing) passes the condition.
    pub fn matches(&self, value: Option<&Value>) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let view = View::of_value(value);
        match (self.op, &self.operand) {
            (Operator::IsNull, _) => view == View::Null,
            (Operator::IsNotNull, _) => view != View::Null,
            (Operator::Equals, Operand::Value(lit)) => equal(view, lit.view()),
            (Operator::NotEquals, Operand::Value(lit)) => !equal(view, lit.view()),
            (Operator::GreaterThan, Operand::Value(lit)) => {
                order(view, lit.view()) == Some(Greater)
            }
            (Operator::GreaterThanOrEqual, Operand::Value(lit)) => {
                matches!(order(view, lit.view()), Some(Greater | Equal))
            }
            (Operator::LowerThan, Operand::Value(lit)) => order(view, lit.view()) == Some(Less),
            (Operator::LowerThanOrEqual, Operand::Value(lit)) => {
                matches!(order(view, lit.view()), Some(Less | Equal))
            }
            (Operator::In, Operand::List(items)) => items.iter().any(|i| equal(view, i.view())),
            (Operator::NotIn, Operand::List(items)) => !items.iter().any(|i| equal(view, i.view())),
            (Operator::Contains, Operand::Value(lit)) => contains(value, lit),
            (Operator::StartsWith, Operand::Value(Literal::String(prefix))) => {
                matches!(value, Some(Value::String(s)) if s.starts_with(prefix.as_str()))
            }
            // An operand of the wrong shape can only come from a hand-built tree.
            _ => false,
        }
    }
}

/// Substring for a string property and a string value; membership for an array.
fn contains(value: Option<&Value>, needle: &Literal) -> bool {
    match (value, needle) {
        (Some(Value::String(haystack)), Literal::String(needle)) => {
            haystack.contains(needle.as_str())
        }
        (Some(Value::Array(items)), needle) => items
            .iter()
            .any(|item| equal(View::of_scalar(item), needle.view())),
        _ => false,
    }
}

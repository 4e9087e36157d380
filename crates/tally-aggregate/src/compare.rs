//! Typed comparison, shared by filters and formulas so that `x = 'a'` in a formula
//! and `{"operator": "equals", "value": "a"}` in a filter always agree.
//!
//! Numbers compare by decimal value (`1 = 1.00`), strings by bytes, booleans only
//! equal booleans, null only equals null, and any other pairing is a mismatch: never
//! equal, never ordered.

use std::cmp::Ordering;

use rust_decimal::Decimal;
use tally_event::{Scalar, Value};

/// A borrowed view of any comparable value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum View<'a> {
    Null,
    Bool(bool),
    Number(Decimal),
    Str(&'a str),
    /// Arrays (and anything else without scalar comparisons).
    Other,
}

impl<'a> View<'a> {
    /// A record property; a missing one is null.
    pub(crate) fn of_value(value: Option<&'a Value>) -> Self {
        match value {
            None | Some(Value::Null) => View::Null,
            Some(Value::Bool(b)) => View::Bool(*b),
            Some(Value::Number(n)) => View::Number(*n),
            Some(Value::String(s)) => View::Str(s),
            Some(Value::Array(_)) => View::Other,
        }
    }

    pub(crate) fn of_scalar(value: &'a Scalar) -> Self {
        match value {
            Scalar::Bool(b) => View::Bool(*b),
            Scalar::Number(n) => View::Number(*n),
            Scalar::String(s) => View::Str(s),
        }
    }
}

/// Typed equality: a mismatch is `false`.
pub(crate) fn equal(a: View<'_>, b: View<'_>) -> bool {
    match (a, b) {
        (View::Null, View::Null) => true,
        (View::Bool(x), View::Bool(y)) => x == y,
        (View::Number(x), View::Number(y)) => x == y,
        (View::Str(x), View::Str(y)) => x == y,
        _ => false,
    }
}

/// Typed order: numbers by value, strings by bytes, `None` for any other pairing.
pub(crate) fn order(a: View<'_>, b: View<'_>) -> Option<Ordering> {
    match (a, b) {
        (View::Number(x), View::Number(y)) => Some(x.cmp(&y)),
        (View::Str(x), View::Str(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn num(text: &str) -> View<'static> {
        View::Number(Decimal::from_str(text).unwrap())
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(equal(num("1"), num("1.00")));
        assert_eq!(order(num("2"), num("10")), Some(Ordering::Less));
    }

    #[test]
    fn strings_compare_by_bytes() {
        assert_eq!(order(View::Str("10"), View::Str("9")), Some(Ordering::Less));
        assert_eq!(order(View::Str("Z"), View::Str("a")), Some(Ordering::Less));
    }

    #[test]
    fn mismatches_are_neither_equal_nor_ordered() {
        assert!(!equal(num("1"), View::Str("1")));
        assert!(!equal(View::Bool(true), num("1")));
        assert!(!equal(View::Null, View::Str("")));
        assert!(!equal(View::Other, View::Other));
        assert_eq!(order(View::Bool(false), View::Bool(true)), None);
        assert_eq!(order(View::Null, num("0")), None);
        assert!(equal(View::Null, View::Null));
    }
}

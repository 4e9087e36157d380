//! Pushing an aggregator's `where` tree down to SQLite as a prefilter.
//!
//! Only conditions whose SQL form is *exactly* equivalent to the evaluator's
//! semantics are translated (strings compared by bytes, booleans, null tests);
//! anything else becomes "no constraint". A tree therefore translates to a
//! predicate that keeps every matching row and maybe more, and the pure evaluator
//! re-applies the whole filter to what SQL returns: push-down only saves reading
//! rows, it never decides a result on its own.
//!
//! | condition                         | SQL (p = JSON path of the property)              |
//! |-----------------------------------|--------------------------------------------------|
//! | `is_null`                         | `IFNULL(json_type(record, p), 'null') = 'null'`   |
//! | `equals` string s                 | `json_type = 'text' AND json_extract = s`         |
//! | `equals` true / false             | `json_type = 'true'` / `'false'`                  |
//! | `in` strings / booleans           | OR of the `equals` forms                          |
//! | `not_equals`, `not_in`, `is_not_null` | `NOT` of the exact form above                 |
//! | numbers, `contains`, `starts_with`, others | not translated                          |
//!
//! Every leaf is wrapped in `IFNULL(…, 0)`: `json_type` of a missing key is SQL
//! NULL, and three-valued logic under `NOT` would otherwise drop rows.

use tally_aggregate::{Condition, Filter, Literal, Operand, Operator};

/// A SQL boolean expression with `?` placeholders and their text values, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SqlFilter {
    pub(crate) sql: String,
    pub(crate) binds: Vec<String>,
}

/// The conjunction of the translatable parts of every given filter, or `None`
/// when nothing translates.
pub(crate) fn prefilter<'a>(filters: impl IntoIterator<Item = &'a Filter>) -> Option<SqlFilter> {
    let parts: Vec<SqlFilter> = filters.into_iter().filter_map(translate).collect();
    join(parts, " AND ")
}

fn join(parts: Vec<SqlFilter>, separator: &str) -> Option<SqlFilter> {
    if parts.is_empty() {
        return None;
    }
    let sql = parts
        .iter()
        .map(|p| format!("({})", p.sql))
        .collect::<Vec<_>>()
        .join(separator);
    let binds = parts.into_iter().flat_map(|p| p.binds).collect();
    Some(SqlFilter { sql, binds })
}

/// A superset predicate: `None` means "no constraint".
fn translate(filter: &Filter) -> Option<SqlFilter> {
    match filter {
        // Dropping untranslatable children of AND only widens it.
        Filter::All(children) => join(children.iter().filter_map(translate).collect(), " AND "),
        // OR is only narrowed by SQL when every child is.
        Filter::Any(children) if children.is_empty() => Some(SqlFilter {
            sql: "0".into(),
            binds: Vec::new(),
        }),
        Filter::Any(children) => {
            let parts: Option<Vec<SqlFilter>> = children.iter().map(translate).collect();
            join(parts?, " OR ")
        }
        Filter::Condition(condition) => exact(condition),
    }
}

/// The exact SQL form of a condition, when it has one.
fn exact(condition: &Condition) -> Option<SqlFilter> {
    let path = json_path(&condition.property)?;
    let positive = match (condition.op, &condition.operand) {
        (Operator::IsNull | Operator::IsNotNull, _) => SqlFilter {
            sql: "IFNULL(json_type(record, ?), 'null') = 'null'".into(),
            binds: vec![path],
        },
        (Operator::Equals | Operator::NotEquals, Operand::Value(literal)) => {
            equals(&path, literal)?
        }
        (Operator::In | Operator::NotIn, Operand::List(items)) => {
            let parts: Option<Vec<SqlFilter>> = items.iter().map(|i| equals(&path, i)).collect();
            join(parts?, " OR ").unwrap_or(SqlFilter {
                sql: "0".into(),
                binds: Vec::new(),
            })
        }
        _ => return None,
    };
    let negated = matches!(
        condition.op,
        Operator::IsNotNull | Operator::NotEquals | Operator::NotIn
    );
    let sql = if negated {
        format!("NOT IFNULL(({}), 0)", positive.sql)
    } else {
        format!("IFNULL(({}), 0)", positive.sql)
    };
    Some(SqlFilter {
        sql,
        binds: positive.binds,
    })
}

fn equals(path: &str, literal: &Literal) -> Option<SqlFilter> {
    match literal {
        Literal::String(text) => Some(SqlFilter {
            sql: "json_type(record, ?) = 'text' AND json_extract(record, ?) = ?".into(),
            binds: vec![path.to_owned(), path.to_owned(), text.clone()],
        }),
        Literal::Bool(value) => Some(SqlFilter {
            sql: format!("json_type(record, ?) = '{value}'"),
            binds: vec![path.to_owned()],
        }),
        // Numbers compare by decimal value, which SQLite's REAL cannot promise.
        Literal::Number(_) | Literal::Null => None,
    }
}

/// `$."key"`: quoted, so dots and brackets in keys are literal. Keys holding a
/// quote or a backslash are not translated, nor a NUL: SQLite reads a bound
/// path only up to it, so the path would be invalid and the query fail.
pub(crate) fn json_path(key: &str) -> Option<String> {
    if key.contains(['"', '\\', '\0']) {
        return None;
    }
    Some(format!("$.\"{key}\""))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys_sqlite_cannot_quote_have_no_path() {
        assert_eq!(json_path("pl.an[0] x").as_deref(), Some("$.\"pl.an[0] x\""));
        for key in ["a\"b", "a\\b", "a\0b"] {
            assert_eq!(json_path(key), None, "{key:?}");
        }
    }

    fn sql_of(tree: serde_json::Value) -> Option<String> {
        let filter = Filter::parse(&tree).unwrap();
        prefilter([&filter]).map(|f| f.sql)
    }

    #[test]
    fn untranslatable_children_widen_and_but_void_or() {
        let and = json!({"conditional": "and", "fields": [
            {"property": "plan", "operator": "equals", "value": "pro"},
            {"property": "n", "operator": "greater_than", "value": 3}]});
        assert!(sql_of(and).unwrap().contains("json_extract"));
        let or = json!({"conditional": "or", "fields": [
            {"property": "plan", "operator": "equals", "value": "pro"},
            {"property": "n", "operator": "greater_than", "value": 3}]});
        assert_eq!(sql_of(or), None);
    }

    #[test]
    fn negations_are_two_valued() {
        let tree = json!({"conditional": "and", "fields": [
            {"property": "plan", "operator": "not_in", "value": ["a", true]}]});
        assert!(sql_of(tree).unwrap().contains("NOT IFNULL(("));
    }
}

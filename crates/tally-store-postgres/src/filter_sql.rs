//! Translating a `where` tree ([`tally_aggregate::Filter`]) into a SQL condition
//! over the `record` JSONB column, with exactly the pure evaluator's semantics
//! (see `tally_aggregate::filter`):
//!
//! - a missing key and a JSON null are both null: `COALESCE(jsonb_typeof(v),
//!   'null') = 'null'`;
//! - equality is JSONB equality, which is typed (`1` never equals `"1"`),
//!   numeric for numbers (`1` equals `1.0`) and byte-wise for strings;
//! - order operators apply only when the stored value has the literal's type,
//!   numbers as `numeric`, strings under `COLLATE "C"` (bytes); a `CASE` guards
//!   every cast, because SQL does not promise to evaluate `AND` left to right;
//! - every condition is a non-null boolean, so `NOT` (for `not_equals` and
//!   `not_in`) is exactly the evaluator's negation.
//!
//! Every operator translates, so a `where` tree is always pushed down. Values
//! are bound as parameters, never spliced into the SQL text.

use tally_aggregate::{Condition, Filter, Literal, Operand, Operator};
use tally_event::decimal_to_json;

/// A SQL boolean expression and the text parameters it binds, numbered from the
/// `first_param` given to [`filter_sql`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlCondition {
    /// The condition, with `$n` placeholders.
    pub sql: String,
    /// The values of the placeholders, in order from `first_param`.
    pub params: Vec<String>,
}

/// The condition `filter` stands for, over a `record` JSONB column in scope.
pub fn filter_sql(filter: &Filter, first_param: usize) -> SqlCondition {
    let mut builder = Builder {
        params: Vec::new(),
        first_param,
    };
    let sql = builder.filter(filter);
    SqlCondition {
        sql,
        params: builder.params,
    }
}

struct Builder {
    params: Vec<String>,
    first_param: usize,
}

impl Builder {
    /// Binds a text parameter and returns its placeholder.
    fn bind(&mut self, value: String) -> String {
        self.params.push(value);
        format!("${}", self.first_param + self.params.len() - 1)
    }

    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::All(children) => self.join(children, " AND ", "TRUE"),
            Filter::Any(children) => self.join(children, " OR ", "FALSE"),
            Filter::Condition(condition) => self.condition(condition),
        }
    }

    fn join(&mut self, children: &[Filter], op: &str, empty: &str) -> String {
        if children.is_empty() {
            return empty.to_owned();
        }
        let parts: Vec<String> = children.iter().map(|child| self.filter(child)).collect();
        format!("({})", parts.join(op))
    }

    fn condition(&mut self, condition: &Condition) -> String {
        // Decided before binding the key: a placeholder the SQL does not use
        // would make the statement's parameter count wrong.
        if let Some(constant) = constant(condition) {
            return constant.to_owned();
        }
        let key = self.bind(condition.property.clone());
        let value = format!("(record -> {key}::text)");
        let text = format!("(record ->> {key}::text)");
        let typeof_ = format!("jsonb_typeof{value}");
        match (condition.op, &condition.operand) {
            (Operator::IsNull, _) => is_null(&typeof_),
            (Operator::IsNotNull, _) => format!("NOT {}", is_null(&typeof_)),
            (Operator::Equals, Operand::Value(lit)) => self.equals(&value, &typeof_, lit),
            (Operator::NotEquals, Operand::Value(lit)) => {
                format!("NOT {}", self.equals(&value, &typeof_, lit))
            }
            (Operator::In, Operand::List(items)) => self.any_equal(&value, &typeof_, items),
            (Operator::NotIn, Operand::List(items)) => {
                format!("NOT {}", self.any_equal(&value, &typeof_, items))
            }
            (op, Operand::Value(lit)) if order_sql(op).is_some() => {
                self.order(&value, &text, &typeof_, op, lit)
            }
            (Operator::Contains, Operand::Value(lit)) => {
                self.contains(&value, &text, &typeof_, lit)
            }
            (Operator::StartsWith, Operand::Value(Literal::String(prefix))) => {
                let prefix = self.bind(prefix.clone());
                format!(
                    "(CASE WHEN {typeof_} = 'string' \
                     THEN starts_with({text} COLLATE \"C\", {prefix}::text) ELSE FALSE END)"
                )
            }
            // `constant` answered every other shape.
            _ => "FALSE".to_owned(),
        }
    }

    fn equals(&mut self, value: &str, typeof_: &str, literal: &Literal) -> String {
        match literal_json(literal) {
            None => is_null(typeof_),
            Some(json) => {
                let json = self.bind(json);
                format!("COALESCE({value} = {json}::jsonb, FALSE)")
            }
        }
    }

    fn any_equal(&mut self, value: &str, typeof_: &str, items: &[Literal]) -> String {
        let parts: Vec<String> = items
            .iter()
            .map(|item| self.equals(value, typeof_, item))
            .collect();
        format!("({})", parts.join(" OR "))
    }

    fn order(
        &mut self,
        value: &str,
        text: &str,
        typeof_: &str,
        op: Operator,
        literal: &Literal,
    ) -> String {
        let sql_op = order_sql(op).unwrap_or("=");
        match literal {
            Literal::Number(n) => {
                let n = self.bind(n.to_string());
                format!(
                    "(CASE WHEN {typeof_} = 'number' \
                     THEN {value}::numeric {sql_op} {n}::numeric ELSE FALSE END)"
                )
            }
            Literal::String(s) => {
                let s = self.bind(s.clone());
                format!(
                    "(CASE WHEN {typeof_} = 'string' \
                     THEN {text} COLLATE \"C\" {sql_op} {s}::text COLLATE \"C\" ELSE FALSE END)"
                )
            }
            // `constant` answered booleans and null, which have no order.
            Literal::Bool(_) | Literal::Null => "FALSE".to_owned(),
        }
    }

    /// Substring of a string property (string literal), or membership in an
    /// array property (any literal but null).
    fn contains(&mut self, value: &str, text: &str, typeof_: &str, literal: &Literal) -> String {
        let json = self.bind(literal_json(literal).unwrap_or_default());
        let in_array = format!("WHEN 'array' THEN {value} @> jsonb_build_array({json}::jsonb)");
        let in_string = match literal {
            Literal::String(s) => {
                let s = self.bind(s.clone());
                format!("WHEN 'string' THEN strpos({text} COLLATE \"C\", {s}::text) > 0")
            }
            _ => String::new(),
        };
        format!("(CASE {typeof_} {in_string} {in_array} ELSE FALSE END)")
    }
}

/// The value of a condition that does not depend on the record: an empty list,
/// a literal that cannot match, or an operand of the wrong shape (only a
/// hand-built tree has one; the evaluator treats it as false too).
fn constant(condition: &Condition) -> Option<&'static str> {
    match (condition.op, &condition.operand) {
        (Operator::IsNull | Operator::IsNotNull, _) => None,
        (Operator::Equals | Operator::NotEquals, Operand::Value(_)) => None,
        (Operator::In, Operand::List(items)) if items.is_empty() => Some("FALSE"),
        (Operator::NotIn, Operand::List(items)) if items.is_empty() => Some("TRUE"),
        (Operator::In | Operator::NotIn, Operand::List(_)) => None,
        (op, Operand::Value(Literal::Number(_) | Literal::String(_)))
            if order_sql(op).is_some() =>
        {
            None
        }
        (Operator::Contains, Operand::Value(lit)) if *lit != Literal::Null => None,
        (Operator::StartsWith, Operand::Value(Literal::String(_))) => None,
        _ => Some("FALSE"),
    }
}

fn is_null(typeof_: &str) -> String {
    format!("(COALESCE({typeof_}, 'null') = 'null')")
}

fn order_sql(op: Operator) -> Option<&'static str> {
    match op {
        Operator::GreaterThan => Some(">"),
        Operator::GreaterThanOrEqual => Some(">="),
        Operator::LowerThan => Some("<"),
        Operator::LowerThanOrEqual => Some("<="),
        _ => None,
    }
}

/// A literal as JSON text, numbers exact; `None` for null.
fn literal_json(literal: &Literal) -> Option<String> {
    let json = match literal {
        Literal::Null => return None,
        Literal::Bool(b) => serde_json::Value::Bool(*b),
        Literal::Number(n) => decimal_to_json(*n),
        Literal::String(s) => serde_json::Value::String(s.clone()),
    };
    Some(json.to_string())
}

//! Formulas (Hyperline's `sql_formula`): a quantity computed from aggregates of
//! per-event expressions, such as `greatest(sum(totalMinutes) - 50000, 0)`.
//!
//! # Grammar
//!
//! ```text
//! formula    = or END
//! or         = and ( "or" and )*
//! and        = not ( "and" not )*
//! not        = "not" not | comparison
//! comparison = additive [ ( "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ) additive ]
//! additive   = term ( ( "+" | "-" ) term )*
//! term       = unary ( ( "*" | "/" ) unary )*
//! unary      = "-" unary | primary
//! primary    = NUMBER | STRING | "true" | "false" | "null"
//!            | call | property | "(" or ")"
//! call       = NAME "(" [ "*" | or ( "," or )* ] ")"
//! property   = NAME | QUOTED
//!
//! NUMBER     = digit+ [ "." digit+ ]            exact decimal, no exponent
//! STRING     = "'" ( any but "'" | "''" )* "'"  '' is a quote
//! QUOTED     = '"' ( any but '"' | '""' )* '"'  a property name with any characters
//! NAME       = ( letter | "_" ) ( letter | digit | "_" )*
//! ```
//!
//! Keywords (`and`, `or`, `not`, `true`, `false`, `null`) and function names are
//! case-insensitive; property names are not. A property named like a keyword is
//! written quoted: `sum("not")`. Comparisons do not chain (`a < b < c` is an error).
//! Formulas are at most [`MAX_FORMULA_CHARS`] characters and nest at most
//! [`MAX_NESTING`] levels.
//!
//! # Two levels
//!
//! Aggregates `sum(e)`, `avg(e)`, `min(e)`, `max(e)`, `count(e)` and `count(*)` run
//! once per event over a *per-event expression* `e`, in which names are record
//! properties (a missing property is null). Outside aggregates, names are not
//! allowed: the outer expression combines aggregates and constants. Aggregates do
//! not nest.
//!
//! # Semantics
//!
//! - `sum`, `avg`, `min`, `max` skip an event whose expression is null (counted as
//!   `skipped_missing`) or not a number (`skipped_not_numeric`); each event is
//!   counted at most once in the diagnostics, by the first aggregate that skips it.
//!   Over no values, every aggregate is 0 (like the operations `sum`, `min`, …).
//! - `count(*)` counts every selected event; `count(e)` those where `e` is not null.
//! - arithmetic (`+ - * /`, unary `-`) on numbers is exact decimal arithmetic;
//!   null with anything is null; any other operand (string, boolean, array) makes
//!   the value not a number. Overflow and division by zero are evaluation errors.
//! - comparisons use the typed rules of filters (`crate::filter`): numbers by
//!   value, strings by bytes, a mismatch is false, `null = null` is true. They never
//!   produce null, so `type = 'one_off'` is false when `type` is missing.
//! - `and`, `or`, `not` and `if` treat only `true` as true (null is not true);
//!   `and`, `or` and `if` evaluate lazily, so `if(q = 0, 0, a / q)` is safe.
//! - `greatest(a, …)` and `least(a, …)` take one or more numbers and ignore nulls
//!   (null only when every argument is null); any other argument is not a number.
//! - the formula's value must be a number (null gives 0); a boolean or a string is
//!   an evaluation error.

mod eval;
mod lexer;
mod parser;

use rust_decimal::Decimal;

use crate::error::{DefinitionError, ErrorCode};

pub(crate) use eval::FormulaState;

/// Longest formula, in characters.
pub const MAX_FORMULA_CHARS: usize = 4096;
/// Deepest nesting of parentheses, calls and unary operators.
pub const MAX_NESTING: usize = 64;

/// A parsed, validated formula.
#[derive(Debug, Clone, PartialEq)]
pub struct Formula {
    source: String,
    expr: Expr,
    aggregates: Vec<AggregateCall>,
}

impl Formula {
    /// Parses and checks a formula (see the module documentation for the grammar).
    ///
    /// # Errors
    ///
    /// A [`FormulaError`] with the 1-based column of the first problem and whether it
    /// is a syntax error or a meaningless formula.
    ///
    /// ```
    /// use tally_aggregate::formula::{AggregateFn, Formula, FormulaErrorKind};
    ///
    /// let formula = Formula::parse("sum(totalAmount) - sum(if(type = 'one_off', 500, 0))").unwrap();
    /// assert_eq!(formula.aggregates().len(), 2);
    /// assert_eq!(formula.aggregates()[0].function, AggregateFn::Sum);
    ///
    /// let error = Formula::parse("sum(minutes) +").unwrap_err();
    /// assert_eq!(error.kind, FormulaErrorKind::Syntax);
    /// let error = Formula::parse("minutes * 2").unwrap_err();
    /// assert_eq!(error.kind, FormulaErrorKind::Invalid); // a property outside an aggregate
    /// ```
    pub fn parse(source: &str) -> Result<Formula, FormulaError> {
        let (expr, aggregates) = parser::parse(source)?;
        Ok(Formula {
            source: source.to_owned(),
            expr,
            aggregates,
        })
    }

    /// The formula text as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The outer expression; [`Expr::Aggregate`] indexes [`Formula::aggregates`].
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The aggregate calls, in the order they appear in the text.
    pub fn aggregates(&self) -> &[AggregateCall] {
        &self.aggregates
    }
}

/// An expression: per-event inside an aggregate, over aggregates outside.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal, exact.
    Number(Decimal),
    /// A string literal (`'one_off'`), quotes removed.
    String(String),
    /// `true` or `false`.
    Bool(bool),
    /// `null`.
    Null,
    /// A record property (per-event expressions only).
    Property(String),
    /// The value of `aggregates[index]` (outer expression only).
    Aggregate(usize),
    /// Unary minus.
    Neg(Box<Expr>),
    /// Logical `not`: true whenever the operand is not `true`, so `not null` is true.
    Not(Box<Expr>),
    /// An arithmetic, comparison or logical operator.
    Binary {
        /// The operator.
        op: BinaryOp,
        /// The left operand.
        left: Box<Expr>,
        /// The right operand.
        right: Box<Expr>,
        /// Where the operator is, for division-by-zero errors.
        column: usize,
    },
    /// A scalar function call.
    Call {
        /// Which function.
        function: Function,
        /// Its arguments; arity is checked at parse time.
        args: Vec<Expr>,
    },
}

/// A binary operator of the formula language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`, exact decimal addition.
    Add,
    /// `-`.
    Sub,
    /// `*`.
    Mul,
    /// `/`; dividing by zero is [`crate::EvalError::DivisionByZero`].
    Div,
    /// `=` or `==`: typed equality, as in filters.
    Eq,
    /// `!=` or `<>`.
    Ne,
    /// `<`.
    Lt,
    /// `<=`.
    Le,
    /// `>`.
    Gt,
    /// `>=`.
    Ge,
    /// `and`, evaluated lazily.
    And,
    /// `or`, evaluated lazily.
    Or,
}

/// Scalar functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `greatest(a, …)`: the largest number, nulls ignored.
    Greatest,
    /// `least(a, …)`: the smallest number, nulls ignored.
    Least,
    /// `if(cond, a, b)`: `a` when `cond` is `true`, else `b`; only one branch is
    /// evaluated.
    If,
}

/// An aggregate function, run once per selected event over its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggregateFn {
    /// `sum(e)`: 0 over no values.
    Sum,
    /// `count(*)` (every event) or `count(e)` (events where `e` is not null).
    Count,
    /// `avg(e)`: 0 over no values.
    Avg,
    /// `min(e)`: 0 over no values.
    Min,
    /// `max(e)`: 0 over no values.
    Max,
}

/// One aggregate of a formula; `arg` is `None` for `count(*)`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateCall {
    /// The aggregate function.
    pub function: AggregateFn,
    /// The per-event expression; `None` for `count(*)`.
    pub arg: Option<Expr>,
}

/// Whether a formula is malformed text or well-formed but meaningless.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormulaErrorKind {
    /// Unexpected character or token, unterminated string, unbalanced parentheses.
    Syntax,
    /// Unknown function, wrong arity, nested aggregates, a property outside an
    /// aggregate.
    Invalid,
}

/// A formula that does not parse, with the 1-based column (in characters) of the
/// problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column {column}: {message}")]
pub struct FormulaError {
    /// 1-based column, in characters, where the problem is.
    pub column: usize,
    /// Syntax (code `formula_syntax`) or meaning (`formula_invalid`).
    pub kind: FormulaErrorKind,
    /// A lowercase explanation.
    pub message: String,
}

impl FormulaError {
    pub(crate) fn syntax(column: usize, message: impl Into<String>) -> Self {
        Self {
            column,
            kind: FormulaErrorKind::Syntax,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(column: usize, message: impl Into<String>) -> Self {
        Self {
            column,
            kind: FormulaErrorKind::Invalid,
            message: message.into(),
        }
    }

    /// The error as a definition problem at `path`, the column in the message.
    pub fn to_definition_error(&self, path: &str) -> DefinitionError {
        let code = match self.kind {
            FormulaErrorKind::Syntax => ErrorCode::FormulaSyntax,
            FormulaErrorKind::Invalid => ErrorCode::FormulaInvalid,
        };
        DefinitionError::new(path, code, self.to_string())
    }
}

//! Evaluation: per-event expressions fold into aggregate slots, then the outer
//! expression combines the slots. Semantics are in the module doc.

use rust_decimal::Decimal;
use tally_event::{Record, Value};

use super::{AggregateCall, AggregateFn, BinaryOp, Expr, Formula, Function};
use crate::aggregator::SkipReason;
use crate::compare::{View, equal, order};
use crate::error::EvalError;
use crate::rollup::PartialSlot;

/// A value during evaluation. Strings are borrowed from the formula or the record.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Val<'a> {
    Null,
    Bool(bool),
    Number(Decimal),
    Str(&'a str),
    /// An array property, or the result of arithmetic on a non-number.
    Other,
}

impl<'a> Val<'a> {
    fn view(self) -> View<'a> {
        match self {
            Val::Null => View::Null,
            Val::Bool(b) => View::Bool(b),
            Val::Number(n) => View::Number(n),
            Val::Str(s) => View::Str(s),
            Val::Other => View::Other,
        }
    }

    fn is_true(self) -> bool {
        self == Val::Bool(true)
    }
}

/// Where names and aggregates get their values.
enum Env<'a> {
    Record(&'a Record),
    Aggregates(&'a [Decimal]),
}

fn eval<'a>(expr: &'a Expr, env: &Env<'a>) -> Result<Val<'a>, EvalError> {
    Ok(match expr {
        Expr::Number(n) => Val::Number(*n),
        Expr::String(s) => Val::Str(s),
        Expr::Bool(b) => Val::Bool(*b),
        Expr::Null => Val::Null,
        Expr::Property(name) => match env {
            Env::Record(record) => property(record.get(name)),
            Env::Aggregates(_) => Val::Null,
        },
        Expr::Aggregate(index) => match env {
            Env::Aggregates(values) => values.get(*index).map_or(Val::Null, |n| Val::Number(*n)),
            Env::Record(_) => Val::Null,
        },
        Expr::Neg(operand) => match eval(operand, env)? {
            Val::Number(n) => Val::Number(-n),
            Val::Null => Val::Null,
            _ => Val::Other,
        },
        Expr::Not(operand) => Val::Bool(!eval(operand, env)?.is_true()),
        Expr::Binary {
            op,
            left,
            right,
            column,
        } => binary(*op, left, right, *column, env)?,
        Expr::Call { function, args } => call(*function, args, env)?,
    })
}

fn property(value: Option<&Value>) -> Val<'_> {
    match value {
        None | Some(Value::Null) => Val::Null,
        Some(Value::Bool(b)) => Val::Bool(*b),
        Some(Value::Number(n)) => Val::Number(*n),
        Some(Value::String(s)) => Val::Str(s),
        Some(Value::Array(_)) => Val::Other,
    }
}

fn binary<'a>(
    op: BinaryOp,
    left: &'a Expr,
    right: &'a Expr,
    column: usize,
    env: &Env<'a>,
) -> Result<Val<'a>, EvalError> {
    use std::cmp::Ordering::{Equal, Greater, Less};
    // Lazy: the right side of and/or is evaluated only when it decides.
    match op {
        BinaryOp::And => {
            return Ok(Val::Bool(
                eval(left, env)?.is_true() && eval(right, env)?.is_true(),
            ));
        }
        BinaryOp::Or => {
            return Ok(Val::Bool(
                eval(left, env)?.is_true() || eval(right, env)?.is_true(),
            ));
        }
        _ => {}
    }
    let (l, r) = (eval(left, env)?, eval(right, env)?);
    let ordering = || order(l.view(), r.view());
    Ok(match op {
        BinaryOp::Eq => Val::Bool(equal(l.view(), r.view())),
        BinaryOp::Ne => Val::Bool(!equal(l.view(), r.view())),
        BinaryOp::Lt => Val::Bool(ordering() == Some(Less)),
        BinaryOp::Le => Val::Bool(matches!(ordering(), Some(Less | Equal))),
        BinaryOp::Gt => Val::Bool(ordering() == Some(Greater)),
        BinaryOp::Ge => Val::Bool(matches!(ordering(), Some(Greater | Equal))),
        _ => arithmetic(op, l, r, column)?,
    })
}

fn arithmetic<'a>(
    op: BinaryOp,
    l: Val<'a>,
    r: Val<'a>,
    column: usize,
) -> Result<Val<'a>, EvalError> {
    let (a, b) = match (l, r) {
        (Val::Number(a), Val::Number(b)) => (a, b),
        (Val::Null, _) | (_, Val::Null) => return Ok(Val::Null),
        _ => return Ok(Val::Other),
    };
    let result = match op {
        BinaryOp::Add => a.checked_add(b),
        BinaryOp::Sub => a.checked_sub(b),
        BinaryOp::Mul => a.checked_mul(b),
        BinaryOp::Div if b.is_zero() => return Err(EvalError::DivisionByZero { column }),
        BinaryOp::Div => a.checked_div(b),
        // Comparisons and logic are handled by the caller.
        _ => return Ok(Val::Other),
    };
    result.map(Val::Number).ok_or(EvalError::Overflow)
}

fn call<'a>(function: Function, args: &'a [Expr], env: &Env<'a>) -> Result<Val<'a>, EvalError> {
    match function {
        Function::If => {
            let [condition, then, otherwise] = args else {
                return Ok(Val::Null);
            };
            let branch = if eval(condition, env)?.is_true() {
                then
            } else {
                otherwise
            };
            eval(branch, env)
        }
        Function::Greatest => extremum(args, env, Decimal::max),
        Function::Least => extremum(args, env, Decimal::min),
    }
}

fn extremum<'a>(
    args: &'a [Expr],
    env: &Env<'a>,
    pick: fn(Decimal, Decimal) -> Decimal,
) -> Result<Val<'a>, EvalError> {
    let mut best: Option<Decimal> = None;
    for arg in args {
        match eval(arg, env)? {
            Val::Number(n) => best = Some(best.map_or(n, |b| pick(b, n))),
            Val::Null => {}
            _ => return Ok(Val::Other),
        }
    }
    Ok(best.map_or(Val::Null, Val::Number))
}

/// One aggregate's running value.
#[derive(Debug, Clone, PartialEq)]
enum Slot {
    Sum(Decimal),
    Count(u64),
    Avg { total: Decimal, count: u64 },
    Min(Option<Decimal>),
    Max(Option<Decimal>),
}

/// The running state of a formula: one slot per aggregate, constant size.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FormulaState {
    slots: Vec<Slot>,
}

impl FormulaState {
    pub(crate) fn new(formula: &Formula) -> Self {
        let slots = formula
            .aggregates
            .iter()
            .map(|call| match call.function {
                AggregateFn::Sum => Slot::Sum(Decimal::ZERO),
                AggregateFn::Count => Slot::Count(0),
                AggregateFn::Avg => Slot::Avg {
                    total: Decimal::ZERO,
                    count: 0,
                },
                AggregateFn::Min => Slot::Min(None),
                AggregateFn::Max => Slot::Max(None),
            })
            .collect();
        Self { slots }
    }

    /// Folds one selected event; returns why the first skipping aggregate skipped it.
    pub(crate) fn push(
        &mut self,
        formula: &Formula,
        record: &Record,
    ) -> Result<Option<SkipReason>, EvalError> {
        let env = Env::Record(record);
        let mut skipped = None;
        for (slot, call) in self.slots.iter_mut().zip(&formula.aggregates) {
            if let Err(reason) = fold(slot, call, &env)? {
                skipped.get_or_insert(reason);
            }
        }
        Ok(skipped)
    }

    pub(crate) fn merge(&mut self, other: FormulaState) -> Result<(), EvalError> {
        let add = |a: Decimal, b: Decimal| a.checked_add(b).ok_or(EvalError::Overflow);
        for (slot, other) in self.slots.iter_mut().zip(other.slots) {
            match (slot, other) {
                (Slot::Sum(a), Slot::Sum(b)) => *a = add(*a, b)?,
                (Slot::Count(a), Slot::Count(b)) => *a += b,
                (Slot::Avg { total, count }, Slot::Avg { total: t, count: c }) => {
                    *total = add(*total, t)?;
                    *count += c;
                }
                (Slot::Min(a), Slot::Min(b)) => *a = either(*a, b, Decimal::min),
                (Slot::Max(a), Slot::Max(b)) => *a = either(*a, b, Decimal::max),
                // Both states come from the same formula: slots always pair up.
                _ => {}
            }
        }
        Ok(())
    }

    /// The slots as a rollup stores them.
    pub(crate) fn slots(&self) -> Vec<PartialSlot> {
        let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Sum(total) => PartialSlot::Sum(*total),
                Slot::Count(n) => PartialSlot::Count(count(*n)),
                Slot::Avg { total, count: n } => PartialSlot::Avg(*total, count(*n)),
                Slot::Min(v) => PartialSlot::Min(*v),
                Slot::Max(v) => PartialSlot::Max(*v),
            })
            .collect()
    }

    /// The state a rollup's slots stand for; `None` for a negative count
    /// (a partial retracted past what it held).
    pub(crate) fn from_slots(slots: &[PartialSlot]) -> Option<Self> {
        let count = |n: i64| u64::try_from(n).ok();
        let slots = slots
            .iter()
            .map(|slot| {
                Some(match slot {
                    PartialSlot::Sum(total) => Slot::Sum(*total),
                    PartialSlot::Count(n) => Slot::Count(count(*n)?),
                    PartialSlot::Avg(total, n) => Slot::Avg {
                        total: *total,
                        count: count(*n)?,
                    },
                    PartialSlot::Min(v) => Slot::Min(*v),
                    PartialSlot::Max(v) => Slot::Max(*v),
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Self { slots })
    }

    /// The formula's value over the events folded so far.
    pub(crate) fn result(&self, formula: &Formula) -> Result<Decimal, EvalError> {
        let values = self
            .slots
            .iter()
            .map(slot_value)
            .collect::<Result<Vec<_>, _>>()?;
        match eval(&formula.expr, &Env::Aggregates(&values))? {
            Val::Number(n) => Ok(n),
            Val::Null => Ok(Decimal::ZERO),
            _ => Err(EvalError::FormulaNotNumeric),
        }
    }
}

fn either(
    a: Option<Decimal>,
    b: Option<Decimal>,
    f: fn(Decimal, Decimal) -> Decimal,
) -> Option<Decimal> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// Over no values every aggregate is 0, like the operations of the same name.
fn slot_value(slot: &Slot) -> Result<Decimal, EvalError> {
    Ok(match slot {
        Slot::Sum(total) => *total,
        Slot::Count(count) => Decimal::from(*count),
        Slot::Avg { count: 0, .. } => Decimal::ZERO,
        Slot::Avg { total, count } => total
            .checked_div(Decimal::from(*count))
            .ok_or(EvalError::Overflow)?,
        Slot::Min(value) | Slot::Max(value) => value.unwrap_or_default(),
    })
}

/// Folds one event into a slot: `Ok(Err(reason))` when the aggregate skipped it.
fn fold(
    slot: &mut Slot,
    call: &AggregateCall,
    env: &Env<'_>,
) -> Result<Result<(), SkipReason>, EvalError> {
    let Some(arg) = &call.arg else {
        // count(*)
        if let Slot::Count(count) = slot {
            *count += 1;
        }
        return Ok(Ok(()));
    };
    let value = eval(arg, env)?;
    if let Slot::Count(count) = slot {
        if value != Val::Null {
            *count += 1;
        }
        return Ok(Ok(()));
    }
    let n = match value {
        Val::Number(n) => n,
        Val::Null => return Ok(Err(SkipReason::Missing)),
        _ => return Ok(Err(SkipReason::NotNumeric)),
    };
    match slot {
        Slot::Sum(total) => *total = total.checked_add(n).ok_or(EvalError::Overflow)?,
        Slot::Avg { total, count } => {
            *total = total.checked_add(n).ok_or(EvalError::Overflow)?;
            *count += 1;
        }
        Slot::Min(min) => *min = Some(min.map_or(n, |m| m.min(n))),
        Slot::Max(max) => *max = Some(max.map_or(n, |m| m.max(n))),
        Slot::Count(_) => {}
    }
    Ok(Ok(()))
}

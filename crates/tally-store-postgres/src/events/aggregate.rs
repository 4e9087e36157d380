//! Aggregation pushed down to SQL.
//!
//! `count`, `sum`, `min`, `max`, `avg`, `latest` and `unique_count` run as one
//! query over the customer's current events in the window, the aggregator's
//! `where` and the named filter translated by [`crate::filter_sql`]. Sums are `numeric`
//! (exact, never floats), and a value is used as a number only when its JSON
//! type is `number`, so a string in the property counts as "not numeric" in the
//! diagnostics instead of aborting the query. Formulas stream through the pure
//! evaluator. Either way the result is the evaluator's, which the conformance
//! property test checks.

use std::str::FromStr;

use rust_decimal::Decimal;
use sqlx::postgres::PgPool;
use tally_aggregate::{AggregateResult, Aggregator, Diagnostics, EvalError, Filter, Operation};
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventWindow, StoreResult, eval_error,
};

use crate::filter_sql::filter_sql;
use crate::map_sqlx_error;

/// Parameters $1..$5 of every aggregation query; the property and the filters'
/// parameters follow.
const FIXED_PARAMS: usize = 5;

/// The customer's current versions in the window (`event_versions_usage`).
const FROM_WINDOW: &str = "FROM event_versions \
     WHERE account_id = $1 AND customer_id = $2 AND event_type = $3 AND ts >= $4 AND ts < $5 \
     AND current_until IS NULL";

#[derive(sqlx::FromRow)]
struct Totals {
    matched: i64,
    missing: i64,
    not_numeric: i64,
    usable: i64,
    /// The operation's value as numeric text (exact), NULL when no event had one.
    value: Option<String>,
}

/// Whether the operation is computed in SQL; formulas are not.
pub(super) fn pushed_down(aggregator: &Aggregator) -> bool {
    aggregator.operation() != Operation::Formula
}

pub(super) async fn aggregate_in_sql(
    pool: &PgPool,
    account: &AccountId,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    customer: &CustomerId,
    window: EventWindow,
) -> StoreResult<AggregateResult> {
    let named = named_filter(aggregator, filter)?;
    let (sql, params) = query(aggregator, named);
    let mut query = sqlx::query_as::<_, Totals>(&sql)
        .bind(account.as_str())
        .bind(customer.as_str())
        .bind(aggregator.event_type().as_str())
        .bind(window.start_ms())
        .bind(window.end_ms());
    for param in params {
        query = query.bind(param);
    }
    let totals = query.fetch_one(pool).await.map_err(map_sqlx_error)?;
    result(aggregator, totals)
}

/// The named filter's tree, looked up as the evaluator does; `InvalidInput`
/// when the id is not the aggregator's.
fn named_filter<'a>(
    aggregator: &'a Aggregator,
    filter: Option<&AggregatorFilterId>,
) -> StoreResult<Option<&'a Filter>> {
    match filter {
        None => Ok(None),
        Some(id) => aggregator.named_filter(id.as_str()).map_err(eval_error),
    }
}

/// The query and its parameters after the fixed five.
fn query(aggregator: &Aggregator, named: Option<&Filter>) -> (String, Vec<String>) {
    let mut params = Vec::new();
    let select = match aggregator.property() {
        Some(property) => {
            params.push(property.to_owned());
            property_columns(aggregator.operation(), FIXED_PARAMS + 1)
        }
        None => "count(*) AS matched, 0::int8 AS missing, 0::int8 AS not_numeric, \
                 count(*) AS usable, NULL::text AS value"
            .to_owned(),
    };
    let mut sql = format!("SELECT {select} {FROM_WINDOW}");
    for tree in aggregator.where_filter().into_iter().chain(named) {
        let condition = filter_sql(tree, FIXED_PARAMS + params.len() + 1);
        sql.push_str(" AND ");
        sql.push_str(&condition.sql);
        params.extend(condition.params);
    }
    (sql, params)
}

/// The select list of an operation on the property bound at `$param`.
fn property_columns(op: Operation, param: usize) -> String {
    let v = format!("(record -> ${param}::text)");
    let kind = format!("COALESCE(jsonb_typeof{v}, 'null')");
    let number = format!("CASE WHEN {kind} = 'number' THEN {v}::numeric END");
    let value = match op {
        Operation::Sum | Operation::Avg => format!("sum({number})::text"),
        Operation::Min => format!("min({number})::text"),
        Operation::Max => format!("max({number})::text"),
        // The greatest (timestamp, record id) wins, record ids compared as bytes
        // (the column is COLLATE "C").
        Operation::Latest => format!(
            "((array_agg({number} ORDER BY ts DESC, record_id DESC) \
             FILTER (WHERE {kind} = 'number'))[1])::text"
        ),
        // JSONB equality is the evaluator's: typed, numbers by value.
        Operation::UniqueCount => {
            format!("(count(DISTINCT {v}) FILTER (WHERE {kind} <> 'null'))::text")
        }
        Operation::Count | Operation::Formula => "NULL::text".to_owned(),
    };
    // unique_count uses any non-null value; the others need numbers.
    let (not_numeric, usable) = match op {
        Operation::UniqueCount => ("0::int8".to_owned(), format!("{kind} <> 'null'")),
        _ => (
            format!("count(*) FILTER (WHERE {kind} NOT IN ('number', 'null'))"),
            format!("{kind} = 'number'"),
        ),
    };
    format!(
        "count(*) AS matched, count(*) FILTER (WHERE {kind} = 'null') AS missing, \
         {not_numeric} AS not_numeric, count(*) FILTER (WHERE {usable}) AS usable, \
         {value} AS value"
    )
}

/// The evaluator's result from the SQL totals: same event counts, and the
/// evaluator's own normalization and clamping (`Aggregator::finish_quantity`).
fn result(aggregator: &Aggregator, totals: Totals) -> StoreResult<AggregateResult> {
    let count = |n: i64| u64::try_from(n).unwrap_or_default();
    let value = totals.value.as_deref().map(decimal).transpose()?;
    let usable = count(totals.usable);
    let (quantity, event_count) = match aggregator.operation() {
        Operation::Count => (Decimal::from(usable), usable),
        Operation::Avg if usable > 0 => {
            let total = value.unwrap_or_default();
            let avg = total.checked_div(Decimal::from(usable));
            (avg.ok_or_else(|| eval_error(EvalError::Overflow))?, usable)
        }
        Operation::UniqueCount => {
            let distinct = value.unwrap_or_default();
            (distinct, u64::try_from(distinct).unwrap_or_default())
        }
        _ => (value.unwrap_or_default(), usable),
    };
    let mut diagnostics = Diagnostics {
        matched_events: count(totals.matched),
        skipped_missing: count(totals.missing),
        skipped_not_numeric: count(totals.not_numeric),
        clamped_from: None,
    };
    let quantity = aggregator.finish_quantity(quantity, &mut diagnostics);
    Ok(AggregateResult {
        quantity,
        event_count,
        diagnostics,
    })
}

/// Numeric text as a decimal; beyond a decimal's range it is the evaluator's
/// overflow error.
fn decimal(text: &str) -> StoreResult<Decimal> {
    Decimal::from_str(text).map_err(|_| eval_error(EvalError::Overflow))
}

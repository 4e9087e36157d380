//! The SQL translation of `where` trees agrees with the pure evaluator
//! (`Filter::matches`) on random records and random filters, on a real server.

use std::str::FromStr;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use rust_decimal::Decimal;
use serde_json::{Value as Json, json};
use sqlx::postgres::PgPool;
use tally_aggregate::{Condition, Filter, Literal, Operand, Operator};
use tally_event::record_from_stored_json;
use tally_store_postgres::filter_sql::filter_sql;

use crate::harness::fresh_database;

const KEYS: [&str; 3] = ["a", "b", "c"];
/// Numbers with equal values written differently, and strings whose byte order
/// differs from most locales' order (case, digits, accents).
const NUMBERS: [&str; 8] = [
    "0",
    "1",
    "1.0",
    "1.50",
    "-2.5",
    "9",
    "10",
    "12345678901234.5678",
];
const STRINGS: [&str; 10] = ["", "a", "A", "ab", "b", "10", "9", "é", "e", "a%_"];

fn number() -> impl Strategy<Value = &'static str> {
    proptest::sample::select(&NUMBERS[..])
}

fn string() -> impl Strategy<Value = String> {
    proptest::sample::select(&STRINGS[..]).prop_map(str::to_owned)
}

fn scalar_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        any::<bool>().prop_map(Json::Bool),
        number().prop_map(|n| Json::Number(serde_json::Number::from_str(n).unwrap())),
        string().prop_map(Json::String),
    ]
}

fn value_json() -> impl Strategy<Value = Json> {
    prop_oneof![
        Just(Json::Null),
        scalar_json(),
        scalar_json(),
        proptest::collection::vec(scalar_json(), 0..4).prop_map(Json::Array),
    ]
}

fn record_json() -> impl Strategy<Value = Json> {
    proptest::collection::btree_map(proptest::sample::select(&KEYS[..]), value_json(), 0..4)
        .prop_map(|props| {
            let mut object: serde_json::Map<String, Json> =
                props.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
            object.insert("id".into(), json!("r"));
            Json::Object(object)
        })
}

fn literal() -> impl Strategy<Value = Literal> {
    prop_oneof![
        Just(Literal::Null),
        any::<bool>().prop_map(Literal::Bool),
        number().prop_map(|n| Literal::Number(Decimal::from_str(n).unwrap())),
        string().prop_map(Literal::String),
    ]
}

fn condition() -> impl Strategy<Value = Filter> {
    let op = proptest::sample::select(&Operator::ALL[..]);
    let operand = prop_oneof![
        Just(Operand::None),
        literal().prop_map(Operand::Value),
        proptest::collection::vec(literal(), 0..4).prop_map(Operand::List),
    ];
    let key = proptest::sample::select(&["a", "b", "c", "id", "missing"][..]);
    (key, op, operand).prop_map(|(property, op, operand)| {
        Filter::Condition(Condition {
            property: property.to_owned(),
            op,
            operand,
        })
    })
}

fn filter() -> impl Strategy<Value = Filter> {
    condition().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Filter::All),
            proptest::collection::vec(inner, 0..4).prop_map(Filter::Any),
        ]
    })
}

async fn matching_rows(pool: &PgPool, filter: &Filter) -> Vec<i32> {
    let condition = filter_sql(filter, 1);
    let sql = format!("SELECT n FROM records WHERE {} ORDER BY n", condition.sql);
    let mut query = sqlx::query_scalar(&sql);
    for param in &condition.params {
        query = query.bind(param);
    }
    query.fetch_all(pool).await.unwrap()
}

#[test]
fn sql_filters_agree_with_the_evaluator() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_db, pool) = runtime.block_on(async {
        let db = fresh_database().await;
        let pool = PgPool::connect_with(db.options.clone()).await.unwrap();
        sqlx::query("CREATE TABLE records (n INT PRIMARY KEY, record JSONB NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        (db, pool)
    });
    let records = proptest::collection::vec(record_json(), 1..24);
    let mut runner = TestRunner::new(Config::with_cases(128));
    runner
        .run(&(records, filter()), |(records, filter)| {
            let expected: Vec<i32> = (0..)
                .zip(&records)
                .filter(|(_, json)| filter.matches(&record_from_stored_json(json).unwrap()))
                .map(|(n, _)| n)
                .collect();
            let actual = runtime.block_on(async {
                sqlx::query("TRUNCATE records")
                    .execute(&pool)
                    .await
                    .unwrap();
                for (n, json) in (0..).zip(&records) {
                    sqlx::query("INSERT INTO records VALUES ($1, $2::jsonb)")
                        .bind(n)
                        .bind(json.to_string())
                        .execute(&pool)
                        .await
                        .unwrap();
                }
                matching_rows(&pool, &filter).await
            });
            prop_assert_eq!(actual, expected, "filter {:?} over {:?}", filter, records);
            Ok(())
        })
        .unwrap();
}

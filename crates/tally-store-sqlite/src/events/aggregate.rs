//! `aggregate` for SQLite: the filter pushed down as a prefilter, the exact
//! evaluation done by the pure evaluator on the rows that pass it.
//!
//! Quantities are never summed by SQLite (its SUM over non-integers is a float
//! sum): rows stream into a `tally_aggregate::Accumulator`, which sums in
//! `Decimal`, so the answer is the evaluator's by construction.
//!
//! What is read is cut to what the evaluation needs:
//! - a `count` without filters reads no record at all: `COUNT(*)` over the range
//!   of the `event_versions_usage` index, which covers it (the current-version
//!   test included);
//! - otherwise each row brings only the properties the evaluation reads
//!   ([`Scope::read_properties`]), as `record -> '$."key"'`: SQLite renders the
//!   stored JSONB value back as JSON text with its number's digits unchanged
//!   (records are stored as Tally's own JSON of exact decimals, and JSONB
//!   keeps a number's text as it is: `jsonb_keeps_the_text_of_numbers`),
//!   which `serde_json` then reads exactly, like the full record;
//! - a formula, whose arguments are not listed, and a key that a JSON path
//!   cannot spell read whole records.

use futures::TryStreamExt;
use tally_aggregate::{AggregateResult, Aggregator, Scope, Window};
use tally_event::{CustomerRef, Event, Record, RecordId, Timestamp, value_from_stored_json};
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventWindow, StoreError, StoreResult, eval_error,
};

use super::{UsageScan, number_placeholders};
use crate::error::{corrupt, db_err};
use crate::filter_sql::{SqlFilter, json_path, prefilter};
use crate::open::SqliteStore;

/// The events of one customer and type in a window, counted on the usage index.
const COUNT_USAGE: &str = "\
SELECT COUNT(*) FROM event_versions INDEXED BY event_versions_usage
WHERE customer_num = (SELECT num FROM event_customers WHERE account_id = ?1 AND customer_id = ?2)
  AND type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?3)
  AND ts >= ?4 AND ts < ?5 AND current_until IS NULL";

/// One chunk of the lean scan: up to ?7 rows after the cursor (?4, ?6), each
/// as `[ts, record_id, [values…]]`, in one JSON text. SQLite hands rows to the
/// async side one at a time through a channel, which costs more than reading
/// them; a chunk crosses over once. The property columns and the prefilter are
/// spliced in by [`lean_sql`]; ?4 holds the cursor's timestamp (the window's
/// start folded in, as in `UsageScan`).
const LEAN_HEAD: &str = "SELECT json_group_array(json_array(ts, record_id, json_array(";
const LEAN_FROM: &str = "))) FROM (
SELECT ts, record_id, record FROM event_versions INDEXED BY event_versions_usage
WHERE customer_num = (SELECT num FROM event_customers WHERE account_id = ?1 AND customer_id = ?2)
  AND type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?3)
  AND ts < ?5 AND (ts, record_id) > (?4, ?6) AND current_until IS NULL";
const LEAN_TAIL: &str = " ORDER BY ts, record_id LIMIT ?7)";

/// Rows per chunk of the lean scan (a few hundred kilobytes of JSON); tiny under
/// test so that chunk boundaries fall inside runs of equal timestamps.
#[cfg(not(test))]
const LEAN_CHUNK: i64 = 10_000;
#[cfg(test)]
const LEAN_CHUNK: i64 = 3;

/// A row of a lean chunk: timestamp, record id, the listed properties' values.
type LeanRow = (i64, String, Vec<serde_json::Value>);

/// The binds of the window: account, customer, event type, start, end.
struct Range {
    account: String,
    customer: String,
    event_type: String,
    start_ms: i64,
    end_ms: i64,
}

impl SqliteStore {
    pub(crate) async fn aggregate_pushed_down(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
    ) -> StoreResult<AggregateResult> {
        let filter_id = filter.map(AggregatorFilterId::as_str);
        let scope = aggregator.scope(window, filter_id).map_err(eval_error)?;
        let named = match filter_id {
            Some(id) => aggregator.named_filter(id).map_err(eval_error)?,
            None => None,
        };
        let event_window = EventWindow::from(window);
        let range = Range {
            account: account.as_str().to_owned(),
            customer: customer.as_str().to_owned(),
            event_type: aggregator.event_type().as_str().to_owned(),
            start_ms: event_window.start_ms(),
            end_ms: event_window.end_ms(),
        };
        let filter = prefilter(aggregator.where_filter().into_iter().chain(named));
        if scope.counts_without_reading() {
            return self.count_usage(scope, &range).await;
        }
        let paths = scope.read_properties().and_then(|properties| {
            properties
                .into_iter()
                .map(|key| Some((key, json_path(key)?)))
                .collect::<Option<Vec<_>>>()
        });
        match paths {
            Some(paths) => {
                self.lean_scan(scope, customer, &range, &paths, filter)
                    .await
            }
            None => self.full_scan(scope, range, filter).await,
        }
    }

    async fn count_usage(&self, scope: Scope<'_>, range: &Range) -> StoreResult<AggregateResult> {
        let count: i64 = sqlx::query_scalar(COUNT_USAGE)
            .bind(&range.account)
            .bind(&range.customer)
            .bind(&range.event_type)
            .bind(range.start_ms)
            .bind(range.end_ms)
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("event"))?;
        let mut accumulator = scope.accumulator();
        let count = u64::try_from(count).map_err(|err| corrupt("count", err))?;
        if !accumulator.push_unread(count) {
            return Err(StoreError::Internal(
                "count pushed down for a filtered scope".into(),
            ));
        }
        accumulator.finish().map_err(eval_error)
    }

    async fn lean_scan(
        &self,
        scope: Scope<'_>,
        customer: &CustomerId,
        range: &Range,
        paths: &[(&str, String)],
        filter: Option<SqlFilter>,
    ) -> StoreResult<AggregateResult> {
        let sql = lean_sql(paths.len(), filter.as_ref());
        let mut event = Event {
            event_type: scope.aggregator().event_type().clone(),
            customer: CustomerRef::parse(customer.as_str())
                .map_err(|err| StoreError::Internal(format!("customer id as reference: {err}")))?,
            timestamp: Timestamp::from_millis(0).map_err(|err| corrupt("timestamp", err))?,
            record: Record::from_trusted_parts(placeholder_id()?, Default::default()),
        };
        let mut accumulator = scope.accumulator();
        // Record ids are never empty: (start, "") is `ts >= start`.
        let mut cursor = (range.start_ms, String::new());
        loop {
            let mut query = sqlx::query_scalar::<_, String>(&sql)
                .bind(&range.account)
                .bind(&range.customer)
                .bind(&range.event_type)
                .bind(cursor.0)
                .bind(range.end_ms)
                .bind(&cursor.1)
                .bind(LEAN_CHUNK);
            for (_, path) in paths {
                query = query.bind(path);
            }
            for value in filter.iter().flat_map(|f| &f.binds) {
                query = query.bind(value);
            }
            let chunk = query
                .fetch_one(&self.reader)
                .await
                .map_err(db_err("event"))?;
            let rows: Vec<LeanRow> =
                serde_json::from_str(&chunk).map_err(|err| corrupt("json", err))?;
            let full = rows.len() as i64 >= LEAN_CHUNK;
            let mut last = None;
            for (ts, id, values) in rows {
                event.timestamp =
                    Timestamp::from_millis(ts).map_err(|err| corrupt("timestamp", err))?;
                event.record = lean_record(&id, paths, values)?;
                accumulator.push(&event);
                if last
                    .as_ref()
                    .is_none_or(|(t, i): &(i64, String)| (ts, id.as_str()) > (*t, i.as_str()))
                {
                    last = Some((ts, id));
                }
            }
            match last {
                Some(last) if full => cursor = last,
                _ => break,
            }
        }
        accumulator.finish().map_err(eval_error)
    }

    /// Whole records, page by page: for a formula, whose properties
    /// [`Scope::read_properties`] does not list, and for a key that a JSON path
    /// cannot spell (one holding `"` or `\`).
    async fn full_scan(
        &self,
        scope: Scope<'_>,
        range: Range,
        filter: Option<SqlFilter>,
    ) -> StoreResult<AggregateResult> {
        let scan = UsageScan {
            pool: self.reader.clone(),
            account: range.account,
            customer: Some(range.customer),
            event_type: range.event_type,
            start_ms: range.start_ms,
            end_ms: range.end_ms,
            filter,
            as_of: tally_store::AsOf::CURRENT,
        };
        let mut accumulator = scope.accumulator();
        let mut events = scan.into_stream();
        while let Some(event) = events.try_next().await? {
            accumulator.push(&event.to_event()?);
        }
        accumulator.finish().map_err(eval_error)
    }
}

/// The chunk query: one `record -> ?n` per property from ?8 on, then the
/// prefilter's placeholders.
fn lean_sql(properties: usize, filter: Option<&SqlFilter>) -> String {
    let columns: Vec<String> = (0..properties)
        .map(|i| format!("record -> ?{}", 8 + i))
        .collect();
    let mut sql = format!("{LEAN_HEAD}{}{LEAN_FROM}", columns.join(", "));
    if let Some(filter) = filter {
        let tail = format!(" AND ({})", filter.sql);
        sql.push_str(&number_placeholders(&tail, 8 + properties));
    }
    sql.push_str(LEAN_TAIL);
    sql
}

fn placeholder_id() -> StoreResult<RecordId> {
    RecordId::parse("0").map_err(|err| StoreError::Internal(format!("record id: {err}")))
}

/// A row of the lean scan as the evaluator's record: its id and the listed
/// properties. A JSON array cannot hold SQL's "missing", so a missing property
/// and a null one both arrive as `null` and are left out: the evaluator reads a
/// missing property as null (docs/aggregation.md), so the two evaluate alike.
fn lean_record(
    id: &str,
    paths: &[(&str, String)],
    values: Vec<serde_json::Value>,
) -> StoreResult<Record> {
    if values.len() != paths.len() {
        return Err(corrupt("event", "lean row of the wrong width"));
    }
    let mut properties = std::collections::BTreeMap::new();
    for ((key, _), json) in paths.iter().zip(values) {
        if json.is_null() {
            continue;
        }
        let value = value_from_stored_json(&json)
            .ok_or_else(|| corrupt("record", "not a property value"))?;
        properties.insert((*key).to_owned(), value);
    }
    let id = RecordId::parse(id).map_err(|err| corrupt("id", err))?;
    Ok(Record::from_trusted_parts(id, properties))
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tally_aggregate::{AggregatorDef, evaluate};
    use tally_event::{EventType, Period, record_from_stored_json};
    use tally_store::{EventId, EventStore, NewEvent};

    use super::*;

    fn def(
        operation: &str,
        property: Option<&str>,
        where_: Option<serde_json::Value>,
    ) -> AggregatorDef {
        AggregatorDef {
            name: "chunks".into(),
            event_type: "calls".into(),
            operation: operation.into(),
            property: property.map(str::to_owned),
            formula: None,
            kind: "metered".into(),
            unit_name: None,
            allow_negative_values: false,
            where_,
            custom_event_name: None,
            exposed_event_keys: None,
            filters: Vec::new(),
            thresholds: Vec::new(),
        }
    }

    /// The plan SQLite picks, as `EXPLAIN QUERY PLAN` details joined by "; ".
    async fn plan(sql: &str, binds: usize) -> String {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {sql}");
        let mut query = sqlx::query_as::<_, (i64, i64, i64, String)>(&sql);
        for i in 0..binds {
            query = query.bind(i as i64);
        }
        let rows = query.fetch_all(&store.reader).await.unwrap();
        let plan = rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ");
        println!("{plan}");
        plan
    }

    // The count never reads the table; a chunk seeks the usage index to its
    // cursor, so a month costs one pass whatever the number of chunks.
    #[tokio::test]
    async fn usage_queries_seek_the_usage_index() {
        let count = plan(COUNT_USAGE, 5).await;
        assert!(
            count.contains("COVERING INDEX event_versions_usage"),
            "{count}"
        );
        let filter = prefilter([
            &tally_aggregate::Filter::parse(&json!({"conditional": "and",
            "fields": [{"property": "plan", "operator": "equals", "value": "a"}]}))
            .unwrap(),
        ]);
        let chunk = plan(&lean_sql(2, filter.as_ref()), 12).await;
        assert!(chunk.contains("INDEX event_versions_usage"), "{chunk}");
        assert!(chunk.contains("(ts,record_id)>(?,?)"), "{chunk}");
        assert!(!chunk.contains("TEMP B-TREE"), "{chunk}");
    }

    // Records are stored as JSONB: a number must come back from `->` and
    // from `json()` with the digits Tally wrote, never through a float.
    #[tokio::test]
    async fn jsonb_keeps_the_text_of_numbers() {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        for number in [
            "0.0000000001",
            "1.5",
            "-12.340000000000000000000001",
            "79228162514264337593543950335",
            "18446744073709551617",
            "1e3",
        ] {
            let text = format!(r#"{{"id":"r","n":{number}}}"#);
            let (whole, one): (String, String) =
                sqlx::query_as("SELECT json(jsonb(?1)), jsonb(?1) -> '$.n'")
                    .bind(&text)
                    .fetch_one(&store.reader)
                    .await
                    .unwrap();
            assert_eq!(whole, text);
            assert_eq!(one, number);
        }
    }

    // 11 events over 3-row chunks, timestamps repeating across chunk boundaries:
    // every event is read once, whatever the cursor.
    #[tokio::test]
    async fn chunks_read_every_event_once() {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let account = AccountId::parse("acc_chunks").unwrap();
        let customer = CustomerId::parse("cus_chunks").unwrap();
        let at = |ms: i64| Timestamp::from_millis(ms).unwrap();
        let events: Vec<NewEvent> = (0..11)
            .map(|i| NewEvent {
                id: EventId::random(),
                event_type: EventType::parse("calls").unwrap(),
                customer_id: customer.clone(),
                timestamp: at(1_000 + (i / 4) * 10),
                record: record_from_stored_json(
                    &json!({"id": format!("r{}", 20 - i), "n": i, "plan": (["a", "b"][(i % 2) as usize])}),
                )
                .unwrap(),
                ingested_at: at(0),
            })
            .collect();
        store.upsert_events(&account, &events).await.unwrap();
        let current: Vec<Event> = events.iter().map(|e| e.to_event().unwrap()).collect();
        let plan_a = json!({"conditional": "and", "fields": [
            {"property": "plan", "operator": "equals", "value": "a"}]});
        let window = Window::Range(Period::new(at(1_000), at(1_030)).unwrap());
        for def in [
            def("sum", Some("n"), None),
            def("unique_count", Some("n"), None),
            def("latest", Some("n"), None),
            def("sum", Some("n"), Some(plan_a)),
        ] {
            let aggregator = Aggregator::compile(&def).unwrap();
            let expected = evaluate(&aggregator, window, None, &current).unwrap();
            let got = store
                .aggregate(&account, &aggregator, None, &customer, window)
                .await
                .unwrap();
            assert_eq!(got, expected, "{def:?}");
        }
    }
}

//! `EventStore` for SQLite.

use async_trait::async_trait;
use std::sync::Arc;

use futures::stream::BoxStream;
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};
use tally_event::{EventKey, EventType, RecordId, UpsertOutcome};
use tally_store::{
    AccountId, CustomerId, EventQuery, EventStore, EventWindow, KeysetCursor, NewEvent, Page,
    SortOrder, StoreResult, StoredEvent, UpsertResult, keyset_stream,
};

use crate::error::db_err;
use crate::filter_sql::SqlFilter;
use crate::open::SqliteStore;
use crate::rows::EventRow;

/// The upsert: one statement per event. `RETURNING id, revision` yields the
/// row's id and revision when it was inserted (revision 0) or updated (the stored
/// id, kept because `id` is not in the SET list, and a revision bumped past 0),
/// and no row when the `WHERE` of `DO UPDATE` refused an older event. The
/// revision, not the id, tells created from updated: a resubmitted `NewEvent`
/// (or a seeded id generator) can offer a fresh id equal to the stored one.
pub(crate) const UPSERT_EVENT: &str = "\
INSERT INTO events (account_id, event_type, record_id, id, customer_id, ts, record, ingested_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
ON CONFLICT (account_id, event_type, record_id) DO UPDATE SET
    customer_id = excluded.customer_id,
    ts = excluded.ts,
    record = excluded.record,
    ingested_at = excluded.ingested_at,
    revision = events.revision + 1
WHERE excluded.ts >= events.ts
RETURNING id, revision";

/// A stale upsert changed nothing; it reports the stored event's id.
const STORED_EVENT_ID: &str =
    "SELECT id FROM events WHERE account_id = ?1 AND event_type = ?2 AND record_id = ?3";

pub(crate) const EVENT_COLUMNS: &str = "id, event_type, customer_id, ts, record, ingested_at";

const GET_EVENT: &str = "\
SELECT id, event_type, customer_id, ts, record, ingested_at FROM events
WHERE account_id = ?1 AND event_type = ?2 AND record_id = ?3";

/// Keyset pagination over the usage index, in (ts, record_id) order
/// (`tally_store::keyset_stream` drives it). An aggregation's pushed-down filter goes after it
/// (its `?` placeholders number on from ?8), then `ORDER BY … LIMIT ?`.
///
/// The window's start is not a condition of its own: given both `ts >= ?` and the
/// row value, SQLite's planner seeks the index to the window's start and filters
/// every row before the cursor, page after page (quadratic over a long window).
/// [`UsageScan::page`] folds the start into the cursor instead (`?4` stays bound,
/// unused), so each page seeks straight to its cursor.
const STREAM_PAGE_HEAD: &str = "\
SELECT id, event_type, customer_id, ts, record, ingested_at FROM events
WHERE account_id = ?1 AND customer_id = ?2 AND event_type = ?3
  AND ts < ?5 AND (ts, record_id) > (?6, ?7)";
/// The same over every customer (an aggregator-wide time series), served by
/// `events_time`. ?2 is bound (NULL) but unused: SQLite allows a gap in numbered
/// placeholders, so both heads share the binds.
const TYPE_STREAM_PAGE_HEAD: &str = "\
SELECT id, event_type, customer_id, ts, record, ingested_at FROM events
WHERE account_id = ?1 AND event_type = ?3
  AND ts < ?5 AND (ts, record_id) > (?6, ?7)";
const STREAM_PAGE_TAIL: &str = " ORDER BY ts, record_id LIMIT ?";

/// Numbers the `?` placeholders of `sql` from `first` on (sqlx binds SQLite
/// parameters by position, so a bare `?` after `?7` must be spelled `?8`).
/// Filter SQL carries its values as binds, never as literals holding a `?`.
fn number_placeholders(sql: &str, first: usize) -> String {
    let mut numbered = String::with_capacity(sql.len() + 16);
    let mut next = first;
    for c in sql.chars() {
        numbered.push(c);
        if c == '?' {
            numbered.push_str(&next.to_string());
            next += 1;
        }
    }
    numbered
}

/// Events read per page while streaming: bounds memory whatever the window holds.
const STREAM_PAGE_SIZE: u32 = 1_000;

/// Record ids per `IN (…)` list when deleting, well under SQLite's variable limit.
const DELETE_CHUNK: usize = 500;

async fn upsert_one(
    conn: &mut SqliteConnection,
    account: &AccountId,
    event: &NewEvent,
) -> StoreResult<UpsertResult> {
    let record_id = event.record.id().as_str();
    let returned: Option<(String, i64)> = sqlx::query_as(UPSERT_EVENT)
        .bind(account.as_str())
        .bind(event.event_type.as_str())
        .bind(record_id)
        .bind(event.id.as_str())
        .bind(event.customer_id.as_str())
        .bind(event.timestamp.as_millis())
        .bind(event.record.to_json().to_string())
        .bind(event.ingested_at.as_millis())
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_err("event"))?;
    let (id, outcome) = match returned {
        Some((id, 0)) => (id, UpsertOutcome::Created),
        Some((id, _)) => (id, UpsertOutcome::Updated),
        None => {
            let stored: String = sqlx::query_scalar(STORED_EVENT_ID)
                .bind(account.as_str())
                .bind(event.event_type.as_str())
                .bind(record_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err("event"))?;
            (stored, UpsertOutcome::Stale)
        }
    };
    let event_id = crate::rows::id(&id, tally_store::EventId::parse)?;
    Ok(UpsertResult { event_id, outcome })
}

/// `WHERE …` of an event list, shared by the count and the page.
fn push_list_filters(builder: &mut QueryBuilder<'_, Sqlite>, account: &AccountId, q: &EventQuery) {
    builder
        .push(" WHERE account_id = ")
        .push_bind(account.as_str().to_owned());
    if let Some(event_type) = &q.event_type {
        builder
            .push(" AND event_type = ")
            .push_bind(event_type.as_str().to_owned());
    }
    if let Some(customer) = &q.customer_id {
        builder
            .push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned());
    }
    if let Some(ids) = &q.record_ids {
        if ids.is_empty() {
            builder.push(" AND 0");
        } else {
            builder.push(" AND record_id IN (");
            let mut list = builder.separated(", ");
            for id in ids {
                list.push_bind(id.as_str().to_owned());
            }
            builder.push(")");
        }
    }
    if let Some(gte) = q.timestamp_gte {
        builder.push(" AND ts >= ").push_bind(gte.as_millis());
    }
    if let Some(lte) = q.timestamp_lte {
        builder.push(" AND ts <= ").push_bind(lte.as_millis());
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(events.len());
        for event in events {
            results.push(upsert_one(&mut tx, account, event).await?);
        }
        tx.commit().await.map_err(db_err("event"))?;
        Ok(results)
    }

    async fn get_event(&self, account: &AccountId, key: &EventKey) -> StoreResult<StoredEvent> {
        let row: EventRow = sqlx::query_as(GET_EVENT)
            .bind(account.as_str())
            .bind(key.event_type.as_str())
            .bind(key.record_id.as_str())
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("event"))?;
        row.try_into()
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        let (limit, offset) = query.page.limit_offset()?;
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM events");
        push_list_filters(&mut count, account, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("event"))?;
        let mut select = QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM events"));
        push_list_filters(&mut select, account, query);
        select.push(match query.order {
            SortOrder::Asc => " ORDER BY ts, event_type, record_id",
            SortOrder::Desc => " ORDER BY ts DESC, event_type DESC, record_id DESC",
        });
        select.push(" LIMIT ").push_bind(limit);
        select.push(" OFFSET ").push_bind(offset);
        let rows: Vec<EventRow> = select
            .build_query_as()
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("event"))?;
        let items = rows
            .into_iter()
            .map(StoredEvent::try_from)
            .collect::<StoreResult<_>>()?;
        let total = u64::try_from(total).unwrap_or_default();
        Ok(Page { total, items })
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut deleted = 0;
        for chunk in record_ids.chunks(DELETE_CHUNK) {
            let mut delete = QueryBuilder::<Sqlite>::new("DELETE FROM events WHERE account_id = ");
            delete
                .push_bind(account.as_str())
                .push(" AND event_type = ");
            delete
                .push_bind(event_type.as_str())
                .push(" AND record_id IN (");
            let mut list = delete.separated(", ");
            for id in chunk {
                list.push_bind(id.as_str());
            }
            delete.push(")");
            let done = delete
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err("event"))?;
            deleted += done.rows_affected();
        }
        tx.commit().await.map_err(db_err("event"))?;
        Ok(deleted)
    }

    async fn aggregate(
        &self,
        account: &AccountId,
        aggregator: &tally_aggregate::Aggregator,
        filter: Option<&tally_store::AggregatorFilterId>,
        customer: &CustomerId,
        window: tally_aggregate::Window,
    ) -> StoreResult<tally_aggregate::AggregateResult> {
        self.aggregate_pushed_down(account, aggregator, filter, customer, window)
            .await
    }

    fn stream_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        self.scan(account, Some(customer), event_type, window)
            .into_stream()
    }

    fn stream_events_of_type<'a>(
        &'a self,
        account: &'a AccountId,
        event_type: &'a EventType,
        window: EventWindow,
    ) -> BoxStream<'a, StoreResult<StoredEvent>> {
        self.scan(account, None, event_type, window).into_stream()
    }
}

impl SqliteStore {
    fn scan(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
    ) -> UsageScan {
        UsageScan {
            pool: self.reader.clone(),
            account: account.as_str().to_owned(),
            customer: customer.map(|c| c.as_str().to_owned()),
            event_type: event_type.as_str().to_owned(),
            start_ms: window.start_ms(),
            end_ms: window.end_ms(),
            filter: None,
        }
    }
}

/// One customer's (or every customer's) events of one type in a window, read
/// page by page.
pub(crate) struct UsageScan {
    pub(crate) pool: sqlx::SqlitePool,
    pub(crate) account: String,
    /// `None`: every customer.
    pub(crate) customer: Option<String>,
    pub(crate) event_type: String,
    pub(crate) start_ms: i64,
    pub(crate) end_ms: i64,
    /// A prefilter pushed down from an aggregator (`filter_sql`).
    pub(crate) filter: Option<SqlFilter>,
}

impl UsageScan {
    /// Every page, in order, as one stream.
    pub(crate) fn into_stream(self) -> BoxStream<'static, StoreResult<StoredEvent>> {
        let scan = Arc::new(self);
        keyset_stream(STREAM_PAGE_SIZE, move |after| {
            let scan = Arc::clone(&scan);
            async move { scan.page(&after).await }
        })
    }

    /// The cursor a page reads after, with the window's start folded in: record
    /// ids are never empty, so `(ts, record_id) > (start, '')` is `ts >= start`.
    fn cursor_from<'a>(&self, after: &'a KeysetCursor) -> (i64, &'a str) {
        if after.ts_ms < self.start_ms {
            (self.start_ms, "")
        } else {
            (after.ts_ms, after.record_id.as_str())
        }
    }

    /// The events after `after`, at most `STREAM_PAGE_SIZE`.
    async fn page(&self, after: &KeysetCursor) -> StoreResult<Vec<StoredEvent>> {
        let tail = match &self.filter {
            None => STREAM_PAGE_TAIL.to_owned(),
            Some(f) => format!(" AND ({}){STREAM_PAGE_TAIL}", f.sql),
        };
        let head = match self.customer {
            Some(_) => STREAM_PAGE_HEAD,
            None => TYPE_STREAM_PAGE_HEAD,
        };
        let sql = format!("{head}{}", number_placeholders(&tail, 8));
        let (after_ts, after_id) = self.cursor_from(after);
        let mut query = sqlx::query_as::<_, EventRow>(&sql)
            .bind(&self.account)
            .bind(&self.customer)
            .bind(&self.event_type)
            .bind(self.start_ms)
            .bind(self.end_ms)
            .bind(after_ts)
            .bind(after_id);
        for value in self.filter.iter().flat_map(|f| &f.binds) {
            query = query.bind(value);
        }
        let rows = query
            .bind(i64::from(STREAM_PAGE_SIZE))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err("event"))?;
        rows.into_iter().map(StoredEvent::try_from).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plan SQLite picks for a stream page, as `EXPLAIN QUERY PLAN` details.
    async fn page_plan(head: &str) -> String {
        let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {head}{STREAM_PAGE_TAIL}");
        let rows: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql)
            .bind("acc")
            .bind("cus")
            .bind("api_call")
            .bind(0_i64)
            .bind(10_i64)
            .bind(5_i64)
            .bind("r")
            .bind(1000_i64)
            .fetch_all(&store.reader)
            .await
            .unwrap();
        rows.into_iter()
            .map(|row| row.3)
            .collect::<Vec<_>>()
            .join("; ")
    }

    // A customer's page must seek the usage index to its cursor: a plan that seeks
    // to the window's start reads every earlier row again on each page. (The
    // type-wide stream runs on `events_time`, which has no record id: it seeks to
    // the cursor's timestamp.)
    #[tokio::test]
    async fn a_stream_page_seeks_to_its_cursor() {
        let plan = page_plan(STREAM_PAGE_HEAD).await;
        assert!(plan.contains("events_usage"), "{plan}");
        assert!(plan.contains("(ts,record_id)>(?,?)"), "{plan}");
    }

    #[tokio::test]
    async fn the_window_start_folds_into_the_first_cursor() {
        let scan = |start_ms| UsageScan {
            pool: sqlx::SqlitePool::connect_lazy("sqlite::memory:").unwrap(),
            account: String::new(),
            customer: None,
            event_type: String::new(),
            start_ms,
            end_ms: 100,
            filter: None,
        };
        let first = KeysetCursor::start();
        let later = KeysetCursor {
            ts_ms: 50,
            record_id: "b".into(),
        };
        assert_eq!(scan(20).cursor_from(&first), (20, ""));
        assert_eq!(scan(20).cursor_from(&later), (50, "b"));
        assert_eq!(scan(i64::MIN).cursor_from(&first), (i64::MIN, ""));
    }
}

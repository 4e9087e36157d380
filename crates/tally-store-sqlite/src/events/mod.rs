//! `EventStore` for SQLite: the upsert (`upsert`), the reads and the
//! aggregation push-down (`aggregate`), laid out as the PostgreSQL backend's
//! `events` module.

mod aggregate;
mod interned;
mod rollups;
pub(crate) mod upsert;

use async_trait::async_trait;
use std::sync::Arc;

use futures::stream::BoxStream;
use sqlx::{QueryBuilder, Sqlite};
use tally_event::{EventKey, EventType, RecordId};
use tally_store::{
    AccountId, AsOf, CustomerId, EventGroup, EventQuery, EventSeq, EventStore, EventVersion,
    EventWindow, KeysetCursor, NewEvent, Page, SortOrder, StoreResult, StoredEvent, UpsertResult,
    keyset_stream,
};

use self::upsert::{read_last_seq, store_last_seq, upsert_groups};
use crate::error::corrupt;
use crate::error::db_err;
use crate::filter_sql::SqlFilter;
use crate::open::SqliteStore;
use crate::rows::{EventRow, PagedEvent};

/// The columns of an [`EventRow`] from `event_versions AS v`: interned numbers
/// spelled out by their own lookups, which leave the plan of the row's query
/// alone, and the JSONB record as JSON text (docs/storage.md, "Lean event rows").
pub(crate) const EVENT_COLUMNS: &str = "v.id, \
(SELECT name FROM event_types WHERE num = v.type_num) AS event_type, \
(SELECT customer_id FROM event_customers WHERE num = v.customer_num) AS customer_id, \
v.ts, json(v.record) AS record, v.ingested_at, v.seq, v.current_until, v.deleted_seq";

/// Every version of one key (account ?1, record id ?2, type ?3), in sequence order.
fn key_history_sql() -> String {
    format!(
        "SELECT {EVENT_COLUMNS} FROM event_versions AS v \
         WHERE v.type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?3) \
         AND v.record_id = ?2 ORDER BY v.seq"
    )
}

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
SELECT v.id, ?3 AS event_type, ?2 AS customer_id, v.ts, v.record_id,
       json(v.record) AS record, v.ingested_at, v.seq
FROM event_versions AS v INDEXED BY event_versions_usage
WHERE v.customer_num = (SELECT num FROM event_customers WHERE account_id = ?1 AND customer_id = ?2)
  AND v.type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?3)
  AND v.ts < ?5 AND (v.ts, v.record_id) > (?6, ?7)";
/// The same over every customer (an aggregator-wide time series), served by
/// `event_versions_time` for current reads. ?2 is bound (NULL) but unused:
/// SQLite allows a gap in numbered placeholders, so both heads share the binds.
const TYPE_STREAM_PAGE_HEAD: &str = "\
SELECT v.id, ?3 AS event_type,
       (SELECT customer_id FROM event_customers WHERE num = v.customer_num) AS customer_id,
       v.ts, v.record_id, json(v.record) AS record, v.ingested_at, v.seq
FROM event_versions AS v
WHERE v.account_num = (SELECT num FROM event_accounts WHERE account_id = ?1)
  AND v.type_num = (SELECT num FROM event_types WHERE account_id = ?1 AND name = ?3)
  AND v.ts < ?5 AND (v.ts, v.record_id) > (?6, ?7)";
const STREAM_PAGE_TAIL: &str = " ORDER BY v.ts, v.record_id LIMIT ?";

/// A page crosses from SQLite as one JSON text of `[id, event_type, customer_id,
/// ts, record_id, record, ingested_at, seq]` rows: sqlx hands rows over one at a time
/// through a channel, which cost more than reading them. The stored record text
/// is spliced in as is (it is the JSON `serde_json` wrote), so SQLite parses no
/// JSON.
const PAGE_AS_JSON: &str = "\
SELECT '[' || group_concat('[' || json_quote(id) || ',' || json_quote(event_type) || ','
    || json_quote(customer_id) || ',' || ts || ',' || json_quote(record_id) || ','
    || record || ',' || ingested_at || ',' || seq || ']', ',') || ']'
FROM (";
const PAGE_AS_JSON_END: &str = ")";

/// Numbers the `?` placeholders of `sql` from `first` on (sqlx binds SQLite
/// parameters by position, so a bare `?` after `?7` must be spelled `?8`).
/// Filter SQL carries its values as binds, never as literals holding a `?`.
pub(crate) fn number_placeholders(sql: &str, first: usize) -> String {
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

/// `WHERE …` of an event list, shared by the count and the page.
fn push_list_filters(builder: &mut QueryBuilder<'_, Sqlite>, account: &AccountId, q: &EventQuery) {
    builder
        .push(" WHERE v.current_until IS NULL AND v.account_num = ")
        .push("(SELECT num FROM event_accounts WHERE account_id = ")
        .push_bind(account.as_str().to_owned())
        .push(")");
    if let Some(event_type) = &q.event_type {
        builder
            .push(" AND v.type_num = (SELECT num FROM event_types WHERE account_id = ")
            .push_bind(account.as_str().to_owned())
            .push(" AND name = ")
            .push_bind(event_type.as_str().to_owned())
            .push(")");
    }
    if let Some(customer) = &q.customer_id {
        builder
            .push(" AND v.customer_num = (SELECT num FROM event_customers WHERE account_id = ")
            .push_bind(account.as_str().to_owned())
            .push(" AND customer_id = ")
            .push_bind(customer.as_str().to_owned())
            .push(")");
    }
    if let Some(ids) = &q.record_ids {
        if ids.is_empty() {
            builder.push(" AND 0");
        } else {
            builder.push(" AND v.record_id IN (");
            let mut list = builder.separated(", ");
            for id in ids {
                list.push_bind(id.as_str().to_owned());
            }
            builder.push(")");
        }
    }
    if let Some(gte) = q.timestamp_gte {
        builder.push(" AND v.ts >= ").push_bind(gte.as_millis());
    }
    if let Some(lte) = q.timestamp_lte {
        builder.push(" AND v.ts <= ").push_bind(lte.as_millis());
    }
}

/// The test that picks, per key, the version `as_of` sees, on the row `v`
/// (docs/storage.md, "Versions"): one row per key passes it. Sequence numbers
/// and instants are integers, written as literals.
pub(crate) fn as_of_sql(as_of: AsOf) -> String {
    let alive = |t: &str| match as_of.known_at {
        None => format!("{t}.deleted_seq IS NULL"),
        Some(s) => format!("{t}.seq <= {s} AND ({t}.deleted_seq IS NULL OR {t}.deleted_seq > {s})"),
    };
    match (as_of.valid_at, as_of.known_at) {
        (None, None) => "v.current_until IS NULL".to_owned(),
        (None, Some(s)) => {
            format!("v.seq <= {s} AND (v.current_until IS NULL OR v.current_until > {s})")
        }
        (Some(at), _) => {
            let at = at.as_millis();
            format!(
                "v.ts <= {at} AND {} AND NOT EXISTS (SELECT 1 FROM event_versions AS w \
                 WHERE w.type_num = v.type_num AND w.record_id = v.record_id AND w.ts <= {at} AND {} \
                 AND (w.ts > v.ts OR (w.ts = v.ts AND w.seq > v.seq)))",
                alive("v"),
                alive("w")
            )
        }
    }
}

/// `UPDATE … WHERE type_num = (…) AND record_id IN (…)` and the like, for one
/// chunk of record ids; `head` names `event_versions` (as `v` where it reads rows).
fn by_record_ids<'a>(
    head: &str,
    account: &'a AccountId,
    event_type: &'a EventType,
    chunk: &'a [RecordId],
    tail: &str,
) -> QueryBuilder<'a, Sqlite> {
    let mut builder = QueryBuilder::<Sqlite>::new(head);
    builder
        .push(" WHERE type_num = (SELECT num FROM event_types WHERE account_id = ")
        .push_bind(account.as_str())
        .push(" AND name = ")
        .push_bind(event_type.as_str())
        .push(") AND record_id IN (");
    let mut list = builder.separated(", ");
    for id in chunk {
        list.push_bind(id.as_str());
    }
    builder.push(")").push(tail);
    builder
}

/// `record_ids` without repeats (a deletion or purge works in chunks).
fn distinct(record_ids: &[RecordId]) -> Vec<RecordId> {
    let unique: std::collections::BTreeSet<&RecordId> = record_ids.iter().collect();
    unique.into_iter().cloned().collect()
}

/// The current versions of the keys of `event_type` with these record ids.
/// Every live version (not deleted) of the keys `record_ids` of `event_type`:
/// what a deletion or purge takes out of the rollups, and the lives a
/// licensed rollup reads for a stale version.
pub(crate) async fn lives_of(
    conn: &mut sqlx::SqliteConnection,
    account: &AccountId,
    event_type: &EventType,
    record_ids: &[RecordId],
) -> StoreResult<Vec<StoredEvent>> {
    let mut live = Vec::new();
    for chunk in record_ids.chunks(DELETE_CHUNK) {
        let head = format!("SELECT {EVENT_COLUMNS} FROM event_versions AS v");
        let mut select = by_record_ids(&head, account, event_type, chunk, "");
        select.push(" AND deleted_seq IS NULL");
        let rows: Vec<EventRow> = select
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err("event"))?;
        for row in rows {
            live.push(StoredEvent::try_from(row)?);
        }
    }
    Ok(live)
}

#[async_trait]
impl EventStore for SqliteStore {
    /// Every group in one transaction (one fsync at commit).
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        let parts: Vec<(&AccountId, &[NewEvent])> = groups
            .iter()
            .map(|group| (&group.account, group.events.as_slice()))
            .collect();
        let mut tx = self.begin_write().await?;
        let results = upsert_groups(&mut tx, &self.compiler, &parts).await?;
        tx.commit().await.map_err(db_err("event"))?;
        Ok(results)
    }

    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq> {
        let mut conn = self.reader.acquire().await.map_err(db_err("event"))?;
        read_last_seq(&mut conn, account).await
    }

    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>> {
        let rows: Vec<EventRow> = sqlx::query_as(&key_history_sql())
            .bind(account.as_str())
            .bind(key.record_id.as_str())
            .bind(key.event_type.as_str())
            .fetch_all(&self.reader)
            .await
            .map_err(db_err("event"))?;
        rows.into_iter().map(EventVersion::try_from).collect()
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        let (limit, offset) = query.page.limit_offset()?;
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM event_versions AS v");
        push_list_filters(&mut count, account, query);
        let total: i64 = count
            .build_query_scalar()
            .fetch_one(&self.reader)
            .await
            .map_err(db_err("event"))?;
        let mut select =
            QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM event_versions AS v"));
        push_list_filters(&mut select, account, query);
        select.push(match query.order {
            SortOrder::Asc => " ORDER BY v.ts, event_type, v.record_id",
            SortOrder::Desc => " ORDER BY v.ts DESC, event_type DESC, v.record_id DESC",
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
        // An id repeated across chunks must count once.
        let record_ids = distinct(record_ids);
        let mut tx = self.begin_write().await?;
        let live = lives_of(&mut tx, account, event_type, &record_ids).await?;
        if live.is_empty() {
            return Ok(0);
        }
        let deleted = live
            .iter()
            .map(StoredEvent::record_id)
            .collect::<std::collections::HashSet<_>>()
            .len();
        let deletion = read_last_seq(&mut tx, account).await?.next();
        for chunk in record_ids.chunks(DELETE_CHUNK) {
            let head = format!(
                "UPDATE event_versions SET current_until = COALESCE(current_until, {deletion}), \
                 deleted_seq = {deletion}"
            );
            let mut update = by_record_ids(&head, account, event_type, chunk, "");
            update.push(" AND deleted_seq IS NULL");
            update
                .build()
                .execute(&mut *tx)
                .await
                .map_err(db_err("event"))?;
        }
        store_last_seq(&mut tx, account, deletion).await?;
        // After the deletion: a cell recomputed reads what is left.
        rollups::retract(&mut tx, &self.compiler, account, &live).await?;
        tx.commit().await.map_err(db_err("event"))?;
        Ok(deleted as u64)
    }

    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let live = lives_of(&mut tx, account, event_type, record_ids).await?;
        let mut purged = 0;
        for chunk in record_ids.chunks(DELETE_CHUNK) {
            let mut delete = by_record_ids(
                "DELETE FROM event_versions",
                account,
                event_type,
                chunk,
                " RETURNING record_id",
            );
            let mut gone: Vec<String> = delete
                .build_query_scalar()
                .fetch_all(&mut *tx)
                .await
                .map_err(db_err("event"))?;
            gone.sort_unstable();
            gone.dedup();
            purged += gone.len() as u64;
        }
        rollups::retract(&mut tx, &self.compiler, account, &live).await?;
        tx.commit().await.map_err(db_err("event"))?;
        Ok(purged)
    }

    async fn aggregate(
        &self,
        account: &AccountId,
        aggregator: &tally_aggregate::Aggregator,
        filter: Option<&tally_store::AggregatorFilterId>,
        customer: &CustomerId,
        window: tally_aggregate::Window,
    ) -> StoreResult<tally_aggregate::AggregateResult> {
        let served = tally_store::rollups::aggregate_from_rollups(
            self, account, aggregator, filter, customer, window,
        )
        .await?;
        match served {
            Some(result) => Ok(result),
            None => {
                self.aggregate_pushed_down(account, aggregator, filter, customer, window)
                    .await
            }
        }
    }

    async fn register_rollups(
        &self,
        account: &AccountId,
        specs: &[tally_store::rollups::RollupSpec],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        rollups::register(&mut tx, account, specs).await?;
        tx.commit().await.map_err(db_err("rollup"))
    }

    async fn retain_rollups(&self, account: &AccountId, keep: &[String]) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        rollups::retain(&mut tx, account, keep).await?;
        tx.commit().await.map_err(db_err("rollup"))
    }

    async fn rollup_progress(
        &self,
        account: &AccountId,
    ) -> StoreResult<Vec<tally_store::rollups::RollupProgress>> {
        let mut conn = self.reader.acquire().await.map_err(db_err("rollup"))?;
        rollups::progress(&mut conn, account).await
    }

    async fn backfill_rollups(&self, max_events: u64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let worked = rollups::backfill_step(&mut tx, &self.compiler, max_events).await?;
        tx.commit().await.map_err(db_err("rollup"))?;
        Ok(worked)
    }

    async fn rollup_cells(
        &self,
        account: &AccountId,
        fingerprint: &str,
        customer: Option<&CustomerId>,
        hours: (i64, i64),
    ) -> StoreResult<Option<Vec<(i64, tally_aggregate::Partial)>>> {
        let mut conn = self.reader.acquire().await.map_err(db_err("rollup"))?;
        rollups::cells(&mut conn, account, fingerprint, customer, hours).await
    }

    fn stream_events_as_of(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
        as_of: AsOf,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        let mut scan = self.scan(account, customer, event_type, window);
        scan.as_of = as_of;
        scan.into_stream()
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
            as_of: AsOf::CURRENT,
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
    /// Which version of each key the scan reads.
    pub(crate) as_of: AsOf,
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
        let versions = format!(" AND {}", as_of_sql(self.as_of));
        let tail = match &self.filter {
            None => format!("{versions}{STREAM_PAGE_TAIL}"),
            Some(f) => format!("{versions} AND ({}){STREAM_PAGE_TAIL}", f.sql),
        };
        let head = match self.customer {
            Some(_) => STREAM_PAGE_HEAD,
            None => TYPE_STREAM_PAGE_HEAD,
        };
        let sql = format!(
            "{PAGE_AS_JSON}{head}{}{PAGE_AS_JSON_END}",
            number_placeholders(&tail, 8)
        );
        let (after_ts, after_id) = self.cursor_from(after);
        let mut query = sqlx::query_scalar::<_, Option<String>>(&sql)
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
        let page = query
            .bind(i64::from(STREAM_PAGE_SIZE))
            .fetch_one(&self.pool)
            .await
            .map_err(db_err("event"))?;
        let Some(page) = page else {
            return Ok(Vec::new());
        };
        let mut rows: Vec<PagedEvent> =
            serde_json::from_str(&page).map_err(|err| corrupt("json", err))?;
        // `group_concat` keeps the subquery's order in practice, not by contract.
        rows.sort_unstable_by(|a, b| a.order_key().cmp(&b.order_key()));
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
        assert!(plan.contains("event_versions_usage"), "{plan}");
        assert!(plan.contains("(ts,record_id)>(?,?)"), "{plan}");
    }

    // Every customer's current events of a type come by time from the
    // partial time index, not from the type's whole key range sorted (only
    // the record ids of one instant are sorted: the index ends at `ts`).
    #[tokio::test]
    async fn a_type_wide_page_reads_by_time() {
        let head = format!("{TYPE_STREAM_PAGE_HEAD} AND {}", as_of_sql(AsOf::CURRENT));
        let plan = page_plan(&head).await;
        assert!(plan.contains("event_versions_time"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE FOR ORDER BY"), "{plan}");
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
            as_of: AsOf::CURRENT,
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

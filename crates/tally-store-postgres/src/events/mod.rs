//! `EventStore` for PostgreSQL: every version of an event is a row of
//! `event_versions`, numbered by the account's counter in `event_sequences`
//! (docs/storage.md, "Versions").

mod aggregate;
mod rollups;
mod sql;
mod upsert;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::Transaction;
use sqlx::postgres::{PgPool, Postgres};
use tally_aggregate::{AggregateResult, Aggregator, Window};
use tally_event::{EventKey, EventType, RecordId, record_from_stored_json};
use tally_store::{
    AccountId, AggregatorFilterId, AsOf, CustomerId, EventGroup, EventQuery, EventSeq, EventStore,
    EventVersion, EventWindow, KeysetCursor, NewEvent, Page, SortOrder, StoreError, StoreResult,
    StoredEvent, UpsertResult, evaluate_stream, keyset_stream,
};

use crate::rows::{corrupt, parse, timestamp, total};
use crate::{PgStore, map_sqlx_error};

/// Events read per query while streaming: bounds memory whatever the period holds.
const STREAM_PAGE_SIZE: u32 = 1000;

#[derive(sqlx::FromRow)]
struct EventRow {
    id: String,
    event_type: String,
    customer_id: String,
    ts: i64,
    record: serde_json::Value,
    ingested_at: i64,
    seq: i64,
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        let record = record_from_stored_json(&row.record)
            .ok_or_else(|| corrupt("event_versions.record", "not a flat record with an id"))?;
        Ok(StoredEvent {
            id: parse(row.id, "event_versions.id")?,
            event_type: parse(row.event_type, "event_versions.event_type")?,
            customer_id: parse(row.customer_id, "event_versions.customer_id")?,
            timestamp: timestamp(row.ts, "event_versions.ts")?,
            record,
            ingested_at: timestamp(row.ingested_at, "event_versions.ingested_at")?,
            seq: EventSeq::new(row.seq)?,
        })
    }
}

/// A version with what became of it (`event_history`).
#[derive(sqlx::FromRow)]
struct VersionRow {
    #[sqlx(flatten)]
    event: EventRow,
    current_until: Option<i64>,
    deleted_seq: Option<i64>,
}

impl TryFrom<VersionRow> for EventVersion {
    type Error = StoreError;

    fn try_from(row: VersionRow) -> StoreResult<Self> {
        Ok(EventVersion {
            event: row.event.try_into()?,
            current_until: row.current_until.map(EventSeq::new).transpose()?,
            deleted_at: row.deleted_seq.map(EventSeq::new).transpose()?,
        })
    }
}

/// Locks the account's sequence counter for the rest of the transaction and
/// returns its last sequence number (see `sql::LOCK_SEQUENCE`).
async fn lock_sequence(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
) -> StoreResult<EventSeq> {
    let last: i64 = sqlx::query_scalar(sql::LOCK_SEQUENCE)
        .bind(account.as_str())
        .fetch_one(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    EventSeq::new(last)
}

/// Every live version of the keys of `event_type` with these record ids.
pub(super) async fn lives_of(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    event_type: &EventType,
    record_ids: &[&str],
) -> StoreResult<Vec<StoredEvent>> {
    let rows: Vec<EventRow> = sqlx::query_as(sql::LIVES_OF_KEYS)
        .bind(account.as_str())
        .bind(event_type.as_str())
        .bind(record_ids)
        .fetch_all(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

#[async_trait]
impl EventStore for PgStore {
    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        let groups: Vec<upsert::Group<'_>> = groups
            .iter()
            .map(|g| (&g.account, g.events.as_slice()))
            .collect();
        upsert::upsert_groups(&self.pool, &self.compiler, &groups).await
    }

    /// One group without copying the events into an `EventGroup`.
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        let mut results =
            upsert::upsert_groups(&self.pool, &self.compiler, &[(account, events)]).await?;
        results
            .pop()
            .ok_or_else(|| StoreError::Internal("upsert lost its group".into()))
    }

    async fn latest_seq(&self, account: &AccountId) -> StoreResult<EventSeq> {
        let last: Option<i64> = sqlx::query_scalar(sql::LATEST_SEQ)
            .bind(account.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        last.map_or(Ok(EventSeq::ZERO), EventSeq::new)
    }

    async fn event_history(
        &self,
        account: &AccountId,
        key: &EventKey,
    ) -> StoreResult<Vec<EventVersion>> {
        let rows: Vec<VersionRow> = sqlx::query_as(sql::HISTORY)
            .bind(account.as_str())
            .bind(key.event_type.as_str())
            .bind(key.record_id.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        rows.into_iter().map(EventVersion::try_from).collect()
    }

    async fn list_events(
        &self,
        account: &AccountId,
        query: &EventQuery,
    ) -> StoreResult<Page<StoredEvent>> {
        let (limit, offset) = query.page.limit_offset()?;
        let record_ids: Option<Vec<&str>> = query
            .record_ids
            .as_ref()
            .map(|ids| ids.iter().map(RecordId::as_str).collect());
        let filters = (
            account.as_str(),
            query.event_type.as_ref().map(EventType::as_str),
            query.customer_id.as_ref().map(CustomerId::as_str),
            record_ids,
            query.timestamp_gte.map(|t| t.as_millis()),
            query.timestamp_lte.map(|t| t.as_millis()),
        );
        let count: i64 = sqlx::query_scalar(sql::LIST_COUNT)
            .bind(filters.0)
            .bind(filters.1)
            .bind(filters.2)
            .bind(filters.3.clone())
            .bind(filters.4)
            .bind(filters.5)
            .fetch_one(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        let list = match query.order {
            SortOrder::Asc => sql::LIST_ASC,
            SortOrder::Desc => sql::LIST_DESC,
        };
        let rows: Vec<EventRow> = sqlx::query_as(list)
            .bind(filters.0)
            .bind(filters.1)
            .bind(filters.2)
            .bind(filters.3)
            .bind(filters.4)
            .bind(filters.5)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        let items = rows
            .into_iter()
            .map(StoredEvent::try_from)
            .collect::<StoreResult<_>>()?;
        Ok(Page {
            total: total(count),
            items,
        })
    }

    async fn delete_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        if record_ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = record_ids.iter().map(RecordId::as_str).collect();
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        let last = lock_sequence(&mut tx, account).await?;
        let live = lives_of(&mut tx, account, event_type, &ids).await?;
        if live.is_empty() {
            // Nothing to delete: no sequence number used, nothing written.
            tx.rollback().await.map_err(map_sqlx_error)?;
            return Ok(0);
        }
        let deletion = last.next();
        sqlx::query(sql::MARK_DELETED)
            .bind(account.as_str())
            .bind(event_type.as_str())
            .bind(&ids)
            .bind(deletion.get())
            .execute(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        set_sequence(&mut tx, account, deletion).await?;
        // After the deletion: a cell recomputed reads what is left.
        let deleted = live
            .iter()
            .map(StoredEvent::record_id)
            .collect::<std::collections::HashSet<_>>()
            .len();
        rollups::retract(&mut tx, &self.compiler, account, &live).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(deleted as u64)
    }

    /// Under the account's counter lock like every other writer, so an
    /// upsert never plans against a version a purge is erasing.
    async fn purge_events(
        &self,
        account: &AccountId,
        event_type: &EventType,
        record_ids: &[RecordId],
    ) -> StoreResult<u64> {
        if record_ids.is_empty() {
            return Ok(0);
        }
        let ids: Vec<&str> = record_ids.iter().map(RecordId::as_str).collect();
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        lock_sequence(&mut tx, account).await?;
        let live = lives_of(&mut tx, account, event_type, &ids).await?;
        let purged: i64 = sqlx::query_scalar(sql::PURGE)
            .bind(account.as_str())
            .bind(event_type.as_str())
            .bind(ids)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_sqlx_error)?;
        rollups::retract(&mut tx, &self.compiler, account, &live).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(total(purged))
    }

    async fn register_rollups(
        &self,
        account: &AccountId,
        specs: &[tally_store::rollups::RollupSpec],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        // Under the account's lock, like `retain`, which may delete a set
        // this registration would use.
        lock_sequence(&mut tx, account).await?;
        rollups::register(&mut tx, account, specs).await?;
        tx.commit().await.map_err(map_sqlx_error)
    }

    async fn retain_rollups(&self, account: &AccountId, keep: &[String]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        lock_sequence(&mut tx, account).await?;
        rollups::retain(&mut tx, account, keep).await?;
        tx.commit().await.map_err(map_sqlx_error)
    }

    async fn rollup_progress(
        &self,
        account: &AccountId,
    ) -> StoreResult<Vec<tally_store::rollups::RollupProgress>> {
        rollups::progress(&self.pool, account).await
    }

    /// The rollup is picked without a lock, then its account's sequence lock
    /// is taken and the rollup read again under it: two processes
    /// backfilling the same rollup take turns, each from the other's cursor.
    async fn backfill_rollups(&self, max_events: u64) -> StoreResult<bool> {
        let Some((id, account)) = rollups::next_building(&self.pool).await? else {
            return Ok(false);
        };
        let mut tx = self.pool.begin().await.map_err(map_sqlx_error)?;
        lock_sequence(&mut tx, &account).await?;
        rollups::backfill_step(&mut tx, &self.compiler, id, &account, max_events).await?;
        tx.commit().await.map_err(map_sqlx_error)?;
        Ok(true)
    }

    async fn rollup_cells(
        &self,
        account: &AccountId,
        fingerprint: &str,
        customer: Option<&CustomerId>,
        hours: (i64, i64),
    ) -> StoreResult<Option<Vec<(i64, tally_aggregate::Partial)>>> {
        rollups::cells(&self.pool, account, fingerprint, customer, hours).await
    }

    fn stream_events_as_of(
        &self,
        account: &AccountId,
        customer: Option<&CustomerId>,
        event_type: &EventType,
        window: EventWindow,
        as_of: AsOf,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        let scope = StreamScope {
            pool: self.pool.clone(),
            sql: sql::stream_page(customer.is_some(), &as_of),
            account: account.as_str().to_owned(),
            customer: customer.map(|c| c.as_str().to_owned()),
            event_type: event_type.as_str().to_owned(),
            window,
            as_of,
        };
        stream_pages(scope)
    }

    /// In SQL when the operation allows it (see `aggregate`), otherwise the
    /// customer's events stream through the pure evaluator.
    async fn aggregate(
        &self,
        account: &AccountId,
        aggregator: &Aggregator,
        filter: Option<&AggregatorFilterId>,
        customer: &CustomerId,
        window: Window,
    ) -> StoreResult<AggregateResult> {
        let served = tally_store::rollups::aggregate_from_rollups(
            self, account, aggregator, filter, customer, window,
        )
        .await?;
        if let Some(result) = served {
            return Ok(result);
        }
        if aggregate::pushed_down(aggregator) {
            return aggregate::aggregate_in_sql(
                &self.pool,
                account,
                aggregator,
                filter,
                customer,
                window.into(),
            )
            .await;
        }
        let events = self.stream_events(account, customer, aggregator.event_type(), window.into());
        evaluate_stream(events, aggregator, filter, window).await
    }
}

/// Sets the account's counter, whose row the transaction has locked.
async fn set_sequence(
    tx: &mut Transaction<'static, Postgres>,
    account: &AccountId,
    seq: EventSeq,
) -> StoreResult<()> {
    sqlx::query(sql::SET_SEQUENCES)
        .bind([account.as_str()])
        .bind([seq.get()])
        .execute(&mut **tx)
        .await
        .map_err(map_sqlx_error)?;
    Ok(())
}

/// What a stream reads, owned so the stream can outlive the call.
struct StreamScope {
    pool: PgPool,
    /// The page query for this customer filter and `as_of` (`sql::stream_page`).
    sql: String,
    account: String,
    /// `None`: every customer.
    customer: Option<String>,
    event_type: String,
    window: EventWindow,
    as_of: AsOf,
}

/// Keyset pagination over (ts, record_id) (`tally_store::keyset_stream`): each
/// page is one short query, so a long stream holds no connection or snapshot
/// between pages. A read with `known_at` is stable anyway: writes after that
/// sequence never change which versions it sees (only a purge erases).
fn stream_pages(scope: StreamScope) -> BoxStream<'static, StoreResult<StoredEvent>> {
    let scope = Arc::new(scope);
    keyset_stream(STREAM_PAGE_SIZE, move |after| {
        let scope = Arc::clone(&scope);
        async move { read_page(&scope, &after).await }
    })
}

/// One page; the optional parameters are bound in `sql::stream_page`'s order:
/// customer, `known_at`, `valid_at`.
async fn read_page(scope: &StreamScope, after: &KeysetCursor) -> StoreResult<Vec<StoredEvent>> {
    let mut query = sqlx::query_as(&scope.sql)
        .bind(&scope.account)
        .bind(&scope.event_type)
        .bind(scope.window.start_ms())
        .bind(scope.window.end_ms())
        .bind(after.ts_ms)
        .bind(&after.record_id)
        .bind(i64::from(STREAM_PAGE_SIZE));
    if let Some(customer) = &scope.customer {
        query = query.bind(customer);
    }
    if let Some(known) = scope.as_of.known_at {
        query = query.bind(known.get());
    }
    if let Some(valid) = scope.as_of.valid_at {
        query = query.bind(valid.as_millis());
    }
    let rows: Vec<EventRow> = query.fetch_all(&scope.pool).await.map_err(map_sqlx_error)?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

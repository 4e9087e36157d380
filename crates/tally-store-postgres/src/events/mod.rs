//! `EventStore` for PostgreSQL.

mod aggregate;
mod sql;
mod upsert;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::postgres::PgPool;
use tally_aggregate::{AggregateResult, Aggregator, Window};
use tally_event::{EventKey, EventType, RecordId, record_from_stored_json};
use tally_store::{
    AccountId, AggregatorFilterId, CustomerId, EventGroup, EventQuery, EventStore, EventWindow,
    KeysetCursor, NewEvent, Page, SortOrder, StoreError, StoreResult, StoredEvent, UpsertResult,
    evaluate_stream, keyset_stream,
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
}

impl TryFrom<EventRow> for StoredEvent {
    type Error = StoreError;

    fn try_from(row: EventRow) -> StoreResult<Self> {
        let record = record_from_stored_json(&row.record)
            .ok_or_else(|| corrupt("events.record", "not a flat record with an id"))?;
        Ok(StoredEvent {
            id: parse(row.id, "events.id")?,
            event_type: parse(row.event_type, "events.event_type")?,
            customer_id: parse(row.customer_id, "events.customer_id")?,
            timestamp: timestamp(row.ts, "events.ts")?,
            record,
            ingested_at: timestamp(row.ingested_at, "events.ingested_at")?,
        })
    }
}

#[async_trait]
impl EventStore for PgStore {
    async fn upsert_events(
        &self,
        account: &AccountId,
        events: &[NewEvent],
    ) -> StoreResult<Vec<UpsertResult>> {
        upsert::upsert_events(&self.pool, account, events).await
    }

    async fn upsert_event_groups(
        &self,
        groups: &[EventGroup],
    ) -> StoreResult<Vec<Vec<UpsertResult>>> {
        upsert::upsert_event_groups(&self.pool, groups).await
    }

    async fn get_event(&self, account: &AccountId, key: &EventKey) -> StoreResult<StoredEvent> {
        let row: Option<EventRow> = sqlx::query_as(sql::GET)
            .bind(account.as_str())
            .bind(key.event_type.as_str())
            .bind(key.record_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        row.ok_or(StoreError::not_found("event"))?.try_into()
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
        let ids: Vec<&str> = record_ids.iter().map(RecordId::as_str).collect();
        let done = sqlx::query(sql::DELETE)
            .bind(account.as_str())
            .bind(event_type.as_str())
            .bind(ids)
            .execute(&self.pool)
            .await
            .map_err(map_sqlx_error)?;
        Ok(done.rows_affected())
    }

    fn stream_events(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        event_type: &EventType,
        window: EventWindow,
    ) -> BoxStream<'static, StoreResult<StoredEvent>> {
        let scope = StreamScope {
            pool: self.pool.clone(),
            account: account.as_str().to_owned(),
            customer: Some(customer.as_str().to_owned()),
            event_type: event_type.as_str().to_owned(),
            window,
        };
        stream_pages(scope)
    }

    fn stream_events_of_type<'a>(
        &'a self,
        account: &'a AccountId,
        event_type: &'a EventType,
        window: EventWindow,
    ) -> BoxStream<'a, StoreResult<StoredEvent>> {
        let scope = StreamScope {
            pool: self.pool.clone(),
            account: account.as_str().to_owned(),
            customer: None,
            event_type: event_type.as_str().to_owned(),
            window,
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

/// What a stream reads, owned so the stream can outlive the call.
struct StreamScope {
    pool: PgPool,
    account: String,
    /// `None`: every customer.
    customer: Option<String>,
    event_type: String,
    window: EventWindow,
}

/// Keyset pagination over (ts, record_id) (`tally_store::keyset_stream`): each
/// page is one short query, so a long stream holds no connection or snapshot
/// between pages.
fn stream_pages(scope: StreamScope) -> BoxStream<'static, StoreResult<StoredEvent>> {
    let scope = Arc::new(scope);
    keyset_stream(STREAM_PAGE_SIZE, move |after| {
        let scope = Arc::clone(&scope);
        async move { read_page(&scope, &after).await }
    })
}

async fn read_page(scope: &StreamScope, after: &KeysetCursor) -> StoreResult<Vec<StoredEvent>> {
    let query = match &scope.customer {
        Some(customer) => sqlx::query_as(sql::STREAM_PAGE)
            .bind(&scope.account)
            .bind(customer),
        None => sqlx::query_as(sql::TYPE_STREAM_PAGE).bind(&scope.account),
    };
    let rows: Vec<EventRow> = query
        .bind(&scope.event_type)
        .bind(scope.window.start_ms())
        .bind(scope.window.end_ms())
        .bind(after.ts_ms)
        .bind(&after.record_id)
        .bind(i64::from(STREAM_PAGE_SIZE))
        .fetch_all(&scope.pool)
        .await
        .map_err(map_sqlx_error)?;
    rows.into_iter().map(StoredEvent::try_from).collect()
}

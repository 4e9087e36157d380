//! The default aggregation of every store: stream the events through the pure
//! evaluator of `tally-aggregate`, the reference semantics.

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};
use tally_aggregate::{AggregateResult, Aggregator, Bucket, EvalError, SeriesAccumulator, Window};
use tally_event::{EventType, Period, RecordId, Timestamp};

use crate::error::{StoreError, StoreResult};
use crate::events::{EventQuery, EventWindow, StoredEvent};
use crate::ids::{AccountId, AggregatorFilterId};
use crate::page::{MAX_TAKE, PageRequest};
use crate::traits::EventStore;

/// An evaluation error as a store error: an unknown filter id is the caller's
/// mistake, the rest are evaluation failures.
pub fn eval_error(error: EvalError) -> StoreError {
    match error {
        EvalError::UnknownFilter { .. } => StoreError::InvalidInput(error.to_string()),
        other => StoreError::Aggregation(other.to_string()),
    }
}

impl From<Window> for EventWindow {
    fn from(window: Window) -> Self {
        match window {
            Window::Range(period) => EventWindow::Range(period),
            Window::Before(end) => EventWindow::Before(end),
        }
    }
}

impl From<EventWindow> for Window {
    fn from(window: EventWindow) -> Self {
        match window {
            EventWindow::Range(period) => Window::Range(period),
            EventWindow::Before(end) => Window::Before(end),
        }
    }
}

/// Pushes every streamed event into one accumulator.
pub async fn evaluate_stream(
    mut events: BoxStream<'static, StoreResult<StoredEvent>>,
    aggregator: &Aggregator,
    filter: Option<&AggregatorFilterId>,
    window: Window,
) -> StoreResult<AggregateResult> {
    let mut accumulator = aggregator
        .accumulator(window, filter.map(AggregatorFilterId::as_str))
        .map_err(eval_error)?;
    while let Some(event) = events.try_next().await? {
        accumulator.push(&event.to_event()?);
    }
    accumulator.finish().map_err(eval_error)
}

/// Quantities per bucket over `range`, as `tally_aggregate::time_series`
/// computes them, from `events` (in any order): each event goes into its
/// bucket's accumulator as it arrives, so memory holds the buckets, not the
/// events.
pub async fn series_stream(
    mut events: BoxStream<'_, StoreResult<StoredEvent>>,
    aggregator: &Aggregator,
    range: Period,
    bucket: Bucket,
    filter: Option<&AggregatorFilterId>,
) -> StoreResult<Vec<(Timestamp, AggregateResult)>> {
    let filter = filter.map(AggregatorFilterId::as_str);
    let mut series =
        SeriesAccumulator::new(aggregator, range, bucket, filter).map_err(eval_error)?;
    while let Some(event) = events.try_next().await? {
        series.push(&event.to_event()?);
    }
    series.finish().map_err(eval_error)
}

/// The events of one type, of every customer, in `window` and in (timestamp,
/// record id) order, read page by page through `list_events`: the default of
/// `EventStore::stream_events_of_type`.
///
/// `list_events` has no cursor, so the pages are keyed by timestamp: each
/// starts at the last timestamp read and skips only the events already read
/// at that timestamp (ties), so an upsert elsewhere in the history does not
/// shift the pages as an OFFSET would; an event at or before the last one read
/// is dropped, so an event inserted at the cursor's timestamp does not make the
/// next one count twice. Unlike a true keyset, it can miss an event when
/// another one at the cursor's timestamp is deleted or moved away meanwhile;
/// backends with a real keyset (the built-in ones) override it.
pub fn stream_type_by_list<'a, S: EventStore + ?Sized>(
    store: &'a S,
    account: &'a AccountId,
    event_type: &'a EventType,
    window: EventWindow,
) -> BoxStream<'a, StoreResult<StoredEvent>> {
    let Some(last_ms) = window.end_ms().checked_sub(1) else {
        return stream::empty().boxed();
    };
    let (Ok(start), Ok(last)) = (
        Timestamp::from_millis(window.start_ms()),
        Timestamp::from_millis(last_ms),
    ) else {
        return stream::empty().boxed();
    };
    let cursor = TypeCursor {
        from: start,
        seen_at_from: 0,
        last: None,
    };
    stream::try_unfold(Some(cursor), move |cursor| async move {
        let Some(mut cursor) = cursor else {
            return Ok(None);
        };
        let query = EventQuery {
            event_type: Some(event_type.clone()),
            timestamp_gte: Some(cursor.from),
            timestamp_lte: Some(last),
            page: PageRequest {
                take: MAX_TAKE,
                skip: cursor.seen_at_from,
            },
            ..EventQuery::default()
        };
        let page = store.list_events(account, &query).await?;
        let full = page.items.len() == MAX_TAKE as usize;
        let mut fresh = Vec::with_capacity(page.items.len());
        for event in page.items {
            let key = (event.timestamp, event.record_id().clone());
            if cursor.last.as_ref().is_some_and(|last| key <= *last) {
                continue;
            }
            if event.timestamp == cursor.from {
                cursor.seen_at_from += 1;
            } else {
                cursor.from = event.timestamp;
                cursor.seen_at_from = 1;
            }
            cursor.last = Some(key);
            fresh.push(Ok(event));
        }
        Ok(Some((stream::iter(fresh), full.then_some(cursor))))
    })
    .try_flatten()
    .boxed()
}

/// Where the next page of [`stream_type_by_list`] starts.
struct TypeCursor {
    /// The last timestamp read (the window start before the first page).
    from: Timestamp,
    /// How many events at `from` were read already.
    seen_at_from: u64,
    /// The last (timestamp, record id) read.
    last: Option<(Timestamp, RecordId)>,
}

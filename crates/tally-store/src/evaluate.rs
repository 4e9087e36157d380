//! The default aggregation of every store: stream the events through the pure
//! evaluator of `tally-aggregate`, the reference semantics.

use futures::stream::{BoxStream, TryStreamExt};
use tally_aggregate::{AggregateResult, Aggregator, Bucket, EvalError, Window};
use tally_event::{Event, Period, Timestamp};

use crate::error::{StoreError, StoreResult};
use crate::events::{EventQuery, EventWindow};
use crate::ids::{AccountId, AggregatorFilterId, CustomerId};
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
    mut events: BoxStream<'static, StoreResult<crate::events::StoredEvent>>,
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

/// Every event of the aggregator's type before `range.end()` (of one customer
/// or all),
/// read page by page through `list_events`; licensed series need the events
/// before the range too.
pub async fn events_for_series<S: EventStore + ?Sized>(
    store: &S,
    account: &AccountId,
    aggregator: &Aggregator,
    customer: Option<&CustomerId>,
    range: Period,
) -> StoreResult<Vec<Event>> {
    let end_inclusive = Timestamp::from_millis(range.end().as_millis() - 1).ok();
    let mut query = EventQuery {
        event_type: Some(aggregator.event_type().clone()),
        customer_id: customer.cloned(),
        timestamp_lte: end_inclusive,
        page: PageRequest {
            take: MAX_TAKE,
            skip: 0,
        },
        ..EventQuery::default()
    };
    let mut events = Vec::new();
    loop {
        let page = store.list_events(account, &query).await?;
        let full = page.items.len() == MAX_TAKE as usize;
        for event in &page.items {
            events.push(event.to_event()?);
        }
        if !full {
            return Ok(events);
        }
        query.page.skip += u64::from(MAX_TAKE);
    }
}

/// Quantities per bucket, as `tally_aggregate::time_series` computes them.
pub fn series(
    aggregator: &Aggregator,
    range: Period,
    bucket: Bucket,
    filter: Option<&AggregatorFilterId>,
    events: &[Event],
) -> StoreResult<Vec<(Timestamp, AggregateResult)>> {
    let filter = filter.map(AggregatorFilterId::as_str);
    tally_aggregate::time_series(aggregator, range, bucket, filter, events).map_err(eval_error)
}

//! The default aggregation of every store: stream the events through the pure
//! evaluator of `tally-aggregate`, the reference semantics.

use futures::stream::{BoxStream, TryStreamExt};
use tally_aggregate::{AggregateResult, Aggregator, Bucket, EvalError, SeriesAccumulator, Window};
use tally_event::{Period, Timestamp};

use crate::error::{StoreError, StoreResult};
use crate::events::{EventWindow, StoredEvent};
use crate::ids::AggregatorFilterId;

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

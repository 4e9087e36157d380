//! Per-bucket quantities over a range: hours, days or calendar months, in UTC.
//!
//! Buckets start on UTC boundaries (the first at the boundary at or before the
//! range's start) and cover the range without gaps; the first and last are clipped
//! to it, so the events of a metered series add up to the evaluation of the whole
//! range. Every bucket is present: one without events gives quantity 0 with
//! `event_count` 0 whatever the operation (`min`, `max`, `avg` and `latest` included,
//! as an evaluation over no events does).
//!
//! - `metered`: a bucket aggregates the events in [bucket start, bucket end) ∩ range.
//! - `licensed`: a bucket gives the entities alive at its end: every event with a
//!   timestamp before min(bucket end, range end), as the evaluation of a period
//!   ending there would. Over one version per entity, as here, an entity
//!   filtered out today (e.g. by `deleted_at`) is absent from every bucket; a
//!   store that keeps versions reads each bucket as of its end instead
//!   ([`bucket_bounds`]; docs/aggregation.md).

use chrono::{Datelike, Months, NaiveDate, TimeZone, Utc};
use tally_event::{Event, Period, Timestamp};

use crate::aggregator::{Aggregator, AggregatorKind, Window};
use crate::error::EvalError;
use crate::evaluate::{Accumulator, AggregateResult};

/// Most buckets one series may have (about eleven years of hours).
pub const MAX_BUCKETS: usize = 100_000;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// The width of a time-series bucket; buckets are aligned in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bucket {
    /// One hour, starting on the hour.
    Hour,
    /// One UTC calendar day, starting at midnight.
    Day,
    /// One calendar month, starting on the 1st at midnight UTC.
    Month,
}

impl Bucket {
    /// The bucket named `hour`, `day` or `month` (the API's `group_by`), `None` for
    /// any other text.
    pub fn parse(name: &str) -> Option<Bucket> {
        match name {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            "month" => Some(Bucket::Month),
            _ => None,
        }
    }

    /// The UTC boundary at or before `at`.
    fn floor(self, at: Timestamp) -> Timestamp {
        let ms = at.as_millis();
        let floored = match self {
            Bucket::Hour => ms - ms.rem_euclid(HOUR_MS),
            Bucket::Day => ms - ms.rem_euclid(DAY_MS),
            Bucket::Month => {
                let date = at.to_datetime().date_naive();
                NaiveDate::from_ymd_opt(date.year(), date.month(), 1)
                    .and_then(|first| first.and_hms_opt(0, 0, 0))
                    .map_or(ms, |midnight| {
                        Utc.from_utc_datetime(&midnight).timestamp_millis()
                    })
            }
        };
        // A boundary of an instant in range is in range too (1970-01-01 is one).
        Timestamp::from_millis(floored).unwrap_or(at)
    }

    /// The next boundary, `None` past the last representable instant.
    fn next(self, start: Timestamp) -> Option<Timestamp> {
        let ms = match self {
            Bucket::Hour => start.as_millis().checked_add(HOUR_MS)?,
            Bucket::Day => start.as_millis().checked_add(DAY_MS)?,
            Bucket::Month => start
                .to_datetime()
                .checked_add_months(Months::new(1))?
                .timestamp_millis(),
        };
        Timestamp::from_millis(ms).ok()
    }
}

/// The bucket starts covering `range`.
fn bucket_starts(range: Period, bucket: Bucket) -> Result<Vec<Timestamp>, EvalError> {
    let mut starts = vec![bucket.floor(range.start())];
    while let Some(next) = starts.last().and_then(|last| bucket.next(*last)) {
        if next >= range.end() {
            break;
        }
        if starts.len() >= MAX_BUCKETS {
            return Err(EvalError::TooManyBuckets { max: MAX_BUCKETS });
        }
        starts.push(next);
    }
    Ok(starts)
}

/// The window of bucket `index`, clipped to the range.
fn bucket_window(
    kind: AggregatorKind,
    range: Period,
    starts: &[Timestamp],
    index: usize,
) -> Window {
    let start = starts
        .get(index)
        .map_or(range.start(), |s| (*s).max(range.start()));
    let end = starts
        .get(index + 1)
        .map_or(range.end(), |e| (*e).min(range.end()));
    match (kind, Period::new(start, end)) {
        (AggregatorKind::Metered, Ok(period)) => Window::Range(period),
        // Clipped buckets are never empty; fall back to the whole range if one were.
        (AggregatorKind::Metered, Err(_)) => Window::Range(range),
        (AggregatorKind::Licensed, _) => Window::Before(end),
    }
}

/// Each bucket's start and its end clipped to `range`, in time order: the
/// instants at which a licensed series reads its entities (a store keeping
/// versions reads each bucket as of its end rather than feeding one stream).
pub fn bucket_bounds(
    range: Period,
    bucket: Bucket,
) -> Result<Vec<(Timestamp, Timestamp)>, EvalError> {
    let starts = bucket_starts(range, bucket)?;
    let ends = starts
        .iter()
        .skip(1)
        .map(|next| (*next).min(range.end()))
        .chain(std::iter::once(range.end()));
    Ok(starts.iter().copied().zip(ends).collect())
}

/// Quantities per bucket over `range`, optionally narrowed by a named filter.
/// The same as pushing every event into a [`SeriesAccumulator`].
pub fn time_series<'e>(
    aggregator: &Aggregator,
    range: Period,
    bucket: Bucket,
    filter: Option<&str>,
    events: impl IntoIterator<Item = &'e Event>,
) -> Result<Vec<(Timestamp, AggregateResult)>, EvalError> {
    let mut series = SeriesAccumulator::new(aggregator, range, bucket, filter)?;
    for event in events {
        series.push(event);
    }
    series.finish()
}

/// A streaming [`time_series`]: push events one at a time, in any order, then
/// [`finish`](SeriesAccumulator::finish). It holds one [`Accumulator`] per bucket,
/// never the events, so a store can feed it from a stream of any length.
///
/// Only events in the aggregator's window of `range` (`Aggregator::window`)
/// count: metered events before the range start are ignored like those at or
/// after its end, so a reader need not fetch them.
#[derive(Debug, Clone)]
pub struct SeriesAccumulator<'a> {
    kind: AggregatorKind,
    range: Period,
    starts: Vec<Timestamp>,
    accumulators: Vec<Accumulator<'a>>,
}

impl<'a> SeriesAccumulator<'a> {
    /// `TooManyBuckets` past [`MAX_BUCKETS`], `UnknownFilter` for a filter id the
    /// aggregator does not have.
    pub fn new(
        aggregator: &'a Aggregator,
        range: Period,
        bucket: Bucket,
        filter: Option<&str>,
    ) -> Result<Self, EvalError> {
        let starts = bucket_starts(range, bucket)?;
        let kind = aggregator.kind();
        let accumulators = (0..starts.len())
            .map(|index| aggregator.accumulator(bucket_window(kind, range, &starts, index), filter))
            .collect::<Result<Vec<Accumulator<'a>>, _>>()?;
        Ok(Self {
            kind,
            range,
            starts,
            accumulators,
        })
    }

    /// Feeds one event to the bucket holding its timestamp.
    pub fn push(&mut self, event: &Event) {
        if event.timestamp >= self.range.end() {
            return;
        }
        // Licensed events before the range are alive in its first bucket already.
        let index = self
            .starts
            .partition_point(|start| *start <= event.timestamp);
        if let Some(accumulator) = self.accumulators.get_mut(index.saturating_sub(1)) {
            accumulator.push(event);
        }
    }

    /// Every bucket's start and result, in time order.
    pub fn finish(self) -> Result<Vec<(Timestamp, AggregateResult)>, EvalError> {
        let results = match self.kind {
            AggregatorKind::Metered => self
                .accumulators
                .iter()
                .map(Accumulator::result)
                .collect::<Result<Vec<_>, _>>()?,
            AggregatorKind::Licensed => cumulative(self.accumulators)?,
        };
        Ok(self.starts.into_iter().zip(results).collect())
    }
}

/// Licensed buckets hold what every earlier bucket holds, plus their own events.
fn cumulative(accumulators: Vec<Accumulator<'_>>) -> Result<Vec<AggregateResult>, EvalError> {
    let mut results = Vec::with_capacity(accumulators.len());
    let mut running: Option<Accumulator<'_>> = None;
    for accumulator in accumulators {
        let merged = match running.take() {
            None => accumulator,
            Some(mut previous) => {
                previous.merge(accumulator);
                previous
            }
        };
        results.push(merged.result()?);
        running = Some(merged);
    }
    Ok(results)
}

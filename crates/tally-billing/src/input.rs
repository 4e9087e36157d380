//! Request parameters shared by several use cases: pagination and date ranges.
//!
//! They hold what the caller sent, loosely typed (an out-of-range `take` is a
//! value to report, not a parse failure), and are validated here so that every
//! use case reports problems the same way.

use tally_event::{Period, Timestamp};
use tally_store::{MAX_TAKE, PageRequest};

use crate::error::{BillingResult, Problems};

/// Default `take` of every list.
pub const DEFAULT_TAKE: u32 = 50;

/// `take` (0..=100, default 50) and `skip` (≥ 0, default 0). Out of range is an
/// error (`/take`, `/skip`: `out_of_range`), never a silent clamp.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Pagination {
    /// How many items, 0..=100; default 50.
    #[serde(default)]
    pub take: Option<i64>,
    /// How many items to skip first, at least 0; default 0.
    #[serde(default)]
    pub skip: Option<i64>,
}

impl Pagination {
    /// A page of `take` items after `skip` (checked when used).
    pub fn new(take: i64, skip: i64) -> Self {
        Pagination {
            take: Some(take),
            skip: Some(skip),
        }
    }

    pub(crate) fn check(&self, problems: &mut Problems) -> PageRequest {
        let take = match self.take {
            None => DEFAULT_TAKE,
            Some(take) => u32::try_from(take)
                .ok()
                .filter(|take| *take <= MAX_TAKE)
                .unwrap_or_else(|| {
                    problems.push("/take", "out_of_range", "take must be between 0 and 100");
                    DEFAULT_TAKE
                }),
        };
        let skip = match self.skip {
            None => 0,
            Some(skip) => u64::try_from(skip).unwrap_or_else(|_| {
                problems.push("/skip", "out_of_range", "skip must not be negative");
                0
            }),
        };
        PageRequest { take, skip }
    }

    /// The validated page request.
    pub fn to_page_request(&self) -> BillingResult<PageRequest> {
        let mut problems = Problems::default();
        let page = self.check(&mut problems);
        problems.finish()?;
        Ok(page)
    }
}

/// `start_date` / `end_date` as sent, in any form `Timestamp::parse_input`
/// takes (a date, a date-time with or without an offset, epoch
/// milliseconds). A missing bound takes the use case's default; the resulting
/// start must be before the end (`/start_date`: `start_not_before_end`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
pub struct DateRange {
    /// ISO 8601 / RFC 3339 (`2024-12-01T00:00:00Z`), a date (`2024-12-01`) or a naive date
    /// time; inclusive.
    #[serde(default)]
    pub start_date: Option<String>,
    /// Same forms; exclusive.
    #[serde(default)]
    pub end_date: Option<String>,
}

impl DateRange {
    /// Both bounds (checked when used).
    pub fn new(start_date: &str, end_date: &str) -> Self {
        DateRange {
            start_date: Some(start_date.to_owned()),
            end_date: Some(end_date.to_owned()),
        }
    }

    /// Whether neither bound is set (the use case's default period applies).
    pub fn is_empty(&self) -> bool {
        self.start_date.is_none() && self.end_date.is_none()
    }

    /// The period, each missing bound taken from `default`.
    pub(crate) fn resolve(&self, default: Period, problems: &mut Problems) -> Option<Period> {
        let start = parse_date(self.start_date.as_deref(), "/start_date", problems);
        let end = parse_date(self.end_date.as_deref(), "/end_date", problems);
        let (Ok(start), Ok(end)) = (start, end) else {
            return None;
        };
        let start = start.unwrap_or(default.start());
        let end = end.unwrap_or(default.end());
        match Period::new(start, end) {
            Ok(period) => Some(period),
            Err(_) => {
                problems.push(
                    "/start_date",
                    "start_not_before_end",
                    "start_date must be before end_date",
                );
                None
            }
        }
    }
}

/// A date parameter: `Ok(None)` when absent, `Err(())` once reported.
/// An integer, also when written with a zero fraction (`12.0`): JSON has one
/// number type, and JSON Schema counts such a number as an integer, so a
/// client may send one. `None` for a fraction or a float beyond exactness.
pub fn integral(number: &serde_json::Number) -> Option<i64> {
    number.as_i64().or_else(|| {
        let float = number.as_f64()?;
        // In range and without a fraction, the cast is exact.
        (float.fract() == 0.0 && float.abs() < 9.0e15).then_some(float as i64)
    })
}

pub(crate) fn parse_date(
    text: Option<&str>,
    path: &str,
    problems: &mut Problems,
) -> Result<Option<Timestamp>, ()> {
    let Some(text) = text else {
        return Ok(None);
    };
    Timestamp::parse_input(text).map(Some).map_err(|error| {
        problems.push(path, error.code(), date_message(&error));
    })
}

/// A date input's problem, with every accepted form when the form is wrong.
pub fn date_message(error: &tally_event::TimestampError) -> String {
    match error {
        tally_event::TimestampError::InvalidFormat => {
            "expected a date (2024-12-01), a date-time with Z or an offset \
             (2024-12-01T10:00:00Z), a date-time taken as UTC (2024-12-01 10:00:00) \
             or epoch milliseconds (1733047200000)"
                .to_owned()
        }
        other => other.to_string(),
    }
}

/// `#[serde(default, deserialize_with = "present")]`: a field sent, possibly
/// `null`, is `Some(None)` or `Some(Some(value))`; a field left out is `None`
/// (a patch tells "clear it" from "keep it").
pub(crate) fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(deserializer).map(Some)
}

/// [`present`] for a JSON value whose `null` means something (unlimited,
/// clear): `Some(Value::Null)` for `null`, `None` when left out.
pub(crate) fn present_value<'de, D>(deserializer: D) -> Result<Option<serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let sent = present::<D, serde_json::Value>(deserializer)?;
    Ok(sent.map(|value| value.unwrap_or(serde_json::Value::Null)))
}

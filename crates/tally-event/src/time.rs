//! `Timestamp`: an instant in UTC with millisecond precision, and its accepted forms.

use std::fmt;

use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A number of milliseconds below this looks like seconds since the epoch (10^11 ms is
/// March 1973; 10^11 s is the year 5138).
pub const SECONDS_HINT_BELOW_MS: i64 = 100_000_000_000;

/// First instant accepted: 1970-01-01T00:00:00Z.
const MIN_MS: i64 = 0;
/// Last instant accepted: 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// Why a timestamp was refused; the validator turns it into a coded error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// A string in none of the accepted forms (code `invalid_timestamp`).
    #[error(
        "must be RFC 3339 (2024-12-20T16:04:11Z), YYYY-MM-DD HH:MM:SS[.fff] in UTC, or integer milliseconds since the epoch"
    )]
    InvalidFormat,
    /// An epoch number below [`SECONDS_HINT_BELOW_MS`], which is most likely seconds
    /// (code `timestamp_in_seconds`); holds the number sent.
    #[error("{0} looks like seconds since the epoch: send milliseconds ({0}000)")]
    LooksLikeSeconds(i64),
    /// An instant before 1970-01-01 or after 9999-12-31 (code `timestamp_out_of_range`).
    #[error("year must be between 1970 and 9999")]
    OutOfRange,
}

impl TimestampError {
    /// The problem code every date input reports it with, events included:
    /// `invalid_timestamp`, `timestamp_in_seconds` or `timestamp_out_of_range`.
    pub fn code(&self) -> &'static str {
        match self {
            TimestampError::InvalidFormat => "invalid_timestamp",
            TimestampError::LooksLikeSeconds(_) => "timestamp_in_seconds",
            TimestampError::OutOfRange => "timestamp_out_of_range",
        }
    }
}

/// An instant in UTC, in whole milliseconds since the Unix epoch, within years
/// 1970..=9999.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Timestamp(i64);

impl Timestamp {
    /// The last instant a timestamp may hold: 9999-12-31T23:59:59.999Z.
    pub const MAX: Timestamp = Timestamp(MAX_MS);

    /// Milliseconds since the epoch, refusing instants outside years 1970..=9999.
    pub fn from_millis(ms: i64) -> Result<Self, TimestampError> {
        if (MIN_MS..=MAX_MS).contains(&ms) {
            Ok(Self(ms))
        } else {
            Err(TimestampError::OutOfRange)
        }
    }

    /// A chrono instant, truncated to the millisecond.
    pub fn from_datetime(at: DateTime<Utc>) -> Result<Self, TimestampError> {
        Self::from_millis(at.timestamp_millis())
    }

    /// The wire's integer form. Numbers below 10^11 are refused as probable seconds.
    pub fn from_epoch_millis_input(ms: i64) -> Result<Self, TimestampError> {
        if (0..SECONDS_HINT_BELOW_MS).contains(&ms) {
            return Err(TimestampError::LooksLikeSeconds(ms));
        }
        Self::from_millis(ms)
    }

    /// The wire's string forms: RFC 3339 with `Z` or an offset, or a naive
    /// `YYYY-MM-DD[ T]HH:MM:SS[.fff]` taken as UTC. Digits below the millisecond are
    /// truncated.
    ///
    /// ```
    /// use tally_event::Timestamp;
    ///
    /// let utc = Timestamp::parse("2024-12-20T16:04:11Z").unwrap();
    /// assert_eq!(Timestamp::parse("2024-12-20T18:04:11+02:00"), Ok(utc));
    /// assert_eq!(Timestamp::parse("2024-12-20 16:04:11"), Ok(utc));
    /// assert_eq!(utc.as_millis(), 1_734_710_651_000);
    /// ```
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        if let Ok(at) = DateTime::parse_from_rfc3339(text) {
            return Self::from_datetime(at.with_timezone(&Utc));
        }
        for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"] {
            if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
                return Self::from_datetime(Utc.from_utc_datetime(&naive));
            }
        }
        Err(TimestampError::InvalidFormat)
    }

    /// Every form a date input of the API takes (a range's `start_date` and
    /// `end_date`, an invoice's `at`, a price's `effective_from`, a
    /// subscription's `starts_at`): the event forms of [`Timestamp::parse`], a
    /// bare `YYYY-MM-DD` (midnight UTC), or epoch milliseconds written as
    /// digits. An event's own timestamp stays an instant: it takes no bare
    /// date.
    ///
    /// ```
    /// use tally_event::Timestamp;
    ///
    /// let midnight = Timestamp::parse("2026-10-15T00:00:00Z").unwrap();
    /// assert_eq!(Timestamp::parse_input("2026-10-15"), Ok(midnight));
    /// assert_eq!(Timestamp::parse_input("1792022400000"), Ok(midnight));
    /// assert_eq!(Timestamp::parse_input("2026-10-15 00:00:00"), Ok(midnight));
    /// assert!(Timestamp::parse_input("1792022400").is_err()); // seconds
    /// ```
    pub fn parse_input(text: &str) -> Result<Self, TimestampError> {
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let ms: i64 = text.parse().map_err(|_| TimestampError::OutOfRange)?;
            return Self::from_epoch_millis_input(ms);
        }
        Self::parse(text).or_else(|error| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .ok()
                .and_then(|date| date.and_hms_opt(0, 0, 0))
                .map_or(Err(error), |midnight| {
                    Self::from_datetime(Utc.from_utc_datetime(&midnight))
                })
        })
    }

    /// Milliseconds since 1970-01-01T00:00:00Z; never negative.
    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// The same instant as a chrono `DateTime<Utc>`.
    pub fn to_datetime(self) -> DateTime<Utc> {
        // In range by construction, so chrono always has the instant.
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// RFC 3339 with milliseconds and `Z`: `2024-12-20T16:04:11.000Z`.
    pub fn to_rfc3339(self) -> String {
        self.to_datetime()
            .to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl TryFrom<String> for Timestamp {
    type Error = TimestampError;
    fn try_from(value: String) -> Result<Self, TimestampError> {
        Self::parse(&value)
    }
}

impl From<Timestamp> for String {
    fn from(value: Timestamp) -> String {
        value.to_rfc3339()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        Timestamp::parse(text).unwrap().as_millis()
    }

    #[test]
    fn every_string_form_gives_the_same_instant() {
        let expected = 1_734_710_651_000;
        assert_eq!(ms("2024-12-20T16:04:11Z"), expected);
        assert_eq!(ms("2024-12-20T16:04:11.000Z"), expected);
        assert_eq!(ms("2024-12-20T18:04:11+02:00"), expected);
        assert_eq!(ms("2024-12-20 16:04:11"), expected);
        assert_eq!(ms("2024-12-20T16:04:11"), expected);
        assert_eq!(ms("2024-12-20 16:04:11.250"), expected + 250);
    }

    #[test]
    fn sub_millisecond_digits_are_truncated() {
        assert_eq!(ms("2024-12-20T16:04:11.123999Z"), 1_734_710_651_123);
    }

    #[test]
    fn seconds_are_refused_with_a_hint() {
        let err = Timestamp::from_epoch_millis_input(1_734_710_651).unwrap_err();
        assert_eq!(err, TimestampError::LooksLikeSeconds(1_734_710_651));
        assert!(err.to_string().contains("1734710651000"));
        assert!(Timestamp::from_epoch_millis_input(1_734_710_651_000).is_ok());
    }

    #[test]
    fn year_range_is_enforced() {
        assert_eq!(
            Timestamp::parse("1969-12-31T23:59:59Z"),
            Err(TimestampError::OutOfRange)
        );
        assert!(Timestamp::parse("1970-01-01T00:00:00Z").is_ok());
        assert!(Timestamp::parse("9999-12-31T23:59:59.999Z").is_ok());
        assert_eq!(
            Timestamp::from_millis(MAX_MS + 1),
            Err(TimestampError::OutOfRange)
        );
    }

    #[test]
    fn display_round_trips() {
        let at = Timestamp::parse("2023-11-12 00:00:00").unwrap();
        assert_eq!(at.to_string(), "2023-11-12T00:00:00.000Z");
        assert_eq!(Timestamp::parse(&at.to_string()), Ok(at));
    }
}

//! `Period`: a half-open time range [start, end) such as a billing period.

use serde::{Deserialize, Serialize};

use crate::time::Timestamp;

/// Why a period was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeriodError {
    /// `start >= end`: a period holds at least one millisecond.
    #[error("start must be before end")]
    StartNotBeforeEnd,
}

/// A half-open range of instants, [start, end), never empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawPeriod", into = "RawPeriod")]
pub struct Period {
    start: Timestamp,
    end: Timestamp,
}

impl Period {
    /// The period [start, end); refused unless `start < end`.
    ///
    /// ```
    /// use tally_event::{Period, PeriodError, Timestamp};
    ///
    /// let start = Timestamp::parse("2024-01-01T00:00:00Z").unwrap();
    /// let end = Timestamp::parse("2024-02-01T00:00:00Z").unwrap();
    /// let january = Period::new(start, end).unwrap();
    /// assert!(january.contains(start));
    /// assert!(!january.contains(end));
    /// assert_eq!(Period::new(end, start), Err(PeriodError::StartNotBeforeEnd));
    /// ```
    pub fn new(start: Timestamp, end: Timestamp) -> Result<Self, PeriodError> {
        if start < end {
            Ok(Self { start, end })
        } else {
            Err(PeriodError::StartNotBeforeEnd)
        }
    }

    /// The first instant inside the period.
    pub fn start(&self) -> Timestamp {
        self.start
    }

    /// The first instant after the period (excluded).
    pub fn end(&self) -> Timestamp {
        self.end
    }

    /// Whether `at` lies in [start, end).
    pub fn contains(&self, at: Timestamp) -> bool {
        self.start <= at && at < self.end
    }
}

#[derive(Serialize, Deserialize)]
struct RawPeriod {
    start: Timestamp,
    end: Timestamp,
}

impl TryFrom<RawPeriod> for Period {
    type Error = PeriodError;
    fn try_from(raw: RawPeriod) -> Result<Self, PeriodError> {
        Period::new(raw.start, raw.end)
    }
}

impl From<Period> for RawPeriod {
    fn from(period: Period) -> Self {
        RawPeriod {
            start: period.start,
            end: period.end,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn half_open() {
        let period = Period::new(at(10), at(20)).unwrap();
        assert!(period.contains(at(10)));
        assert!(period.contains(at(19)));
        assert!(!period.contains(at(20)));
        assert!(!period.contains(at(9)));
    }

    #[test]
    fn empty_or_reversed_is_refused() {
        assert_eq!(
            Period::new(at(10), at(10)),
            Err(PeriodError::StartNotBeforeEnd)
        );
        assert_eq!(
            Period::new(at(11), at(10)),
            Err(PeriodError::StartNotBeforeEnd)
        );
    }
}

//! Decoding helpers shared by the row structs: a stored value that no longer
//! parses is `Corrupt`, never a panic.

use std::fmt::Display;

use tally_event::Timestamp;
use tally_store::{StoreError, StoreResult};

pub(crate) fn corrupt(column: &str, err: impl Display) -> StoreError {
    StoreError::Corrupt(format!("{column}: {err}"))
}

/// Any id newtype (`cus_…`, `evt_…`, an event type) from its column.
pub(crate) fn parse<T>(value: String, column: &str) -> StoreResult<T>
where
    T: TryFrom<String>,
    T::Error: Display,
{
    T::try_from(value).map_err(|err| corrupt(column, err))
}

pub(crate) fn parse_opt<T>(value: Option<String>, column: &str) -> StoreResult<Option<T>>
where
    T: TryFrom<String>,
    T::Error: Display,
{
    value.map(|v| parse(v, column)).transpose()
}

pub(crate) fn timestamp(ms: i64, column: &str) -> StoreResult<Timestamp> {
    Timestamp::from_millis(ms).map_err(|err| corrupt(column, err))
}

pub(crate) fn timestamp_opt(ms: Option<i64>, column: &str) -> StoreResult<Option<Timestamp>> {
    ms.map(|ms| timestamp(ms, column)).transpose()
}

/// A `COUNT(*)` as the `u64` a `Page` carries.
pub(crate) fn total(count: i64) -> u64 {
    u64::try_from(count).unwrap_or_default()
}

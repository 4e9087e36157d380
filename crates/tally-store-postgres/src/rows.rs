//! Decoding helpers shared by the row structs: a stored value that no longer
//! parses is `Corrupt`, never a panic.

use std::fmt::Display;

use tally_event::Timestamp;
use tally_store::{MAX_TAKE, PageRequest, StoreError, StoreResult};

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

/// `take` and `skip` as SQL `LIMIT` and `OFFSET`, refusing a page larger than
/// the API allows, as every backend does.
pub(crate) fn limit_offset(page: PageRequest) -> StoreResult<(i64, i64)> {
    if page.take > MAX_TAKE {
        return Err(StoreError::InvalidInput(format!(
            "take must be at most {MAX_TAKE}"
        )));
    }
    let offset = i64::try_from(page.skip).unwrap_or(i64::MAX);
    Ok((i64::from(page.take), offset))
}

/// A `COUNT(*)` as the `u64` a `Page` carries.
pub(crate) fn total(count: i64) -> u64 {
    u64::try_from(count).unwrap_or_default()
}

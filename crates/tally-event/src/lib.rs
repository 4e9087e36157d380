//! Tally's usage event model.
//!
//! An [`Event`] is what a company sends for each unit of usage: a customer, an event
//! type, a timestamp and a flat [`Record`]. Every piece is a newtype that can only be
//! built through a parsing constructor, and [`parse_event`] turns untrusted JSON into
//! an `Event`, reporting every problem at once with a JSON-pointer path and a stable
//! code. The crate does no IO and reads no clock: `now` is passed in.

mod event;
mod ids;
mod number;
mod period;
pub mod pii;
mod pointer;
mod stored;
mod time;
mod validate;
mod value;

pub use event::{Event, UpsertOutcome, upsert_outcome};
pub use ids::{
    CustomerRef, EventKey, EventType, IdError, MAX_EVENT_TYPE_CHARS, MAX_ID_CHARS, RecordId,
};
pub use number::exact_decimal;
pub use period::{Period, PeriodError};
pub use pii::{PiiKind, PiiPolicy, PiiWarning};
pub use stored::{record_from_stored_json, value_from_stored_json};
pub use time::{SECONDS_HINT_BELOW_MS, Timestamp, TimestampError};
pub use validate::{
    DEFAULT_MAX_FUTURE_SKEW_MS, ErrorCode, MAX_ARRAY_ITEMS, MAX_EVENT_BYTES, MAX_KEY_CHARS,
    MAX_PROPERTIES, MAX_STRING_BYTES, ParsedEvent, ValidationConfig, ValidationError, parse_event,
    parse_event_bytes,
};
pub use value::{Record, Scalar, Value, decimal_to_json};

//! Tally's usage event model.
//!
//! An [`Event`] is what a company sends for each unit of usage: a customer, an event
//! type, a timestamp and a flat [`Record`]. Every piece is a newtype that can only be
//! built through a parsing constructor, and [`parse_event`] turns untrusted JSON into
//! an `Event`, reporting every problem at once with a JSON-pointer path and a stable
//! code. The crate does no IO and reads no clock: `now` is passed in.

mod event;
mod ids;
mod period;
mod time;
mod value;

pub use event::{Event, UpsertOutcome, upsert_outcome};
pub use ids::{
    CustomerRef, EventKey, EventType, IdError, MAX_EVENT_TYPE_CHARS, MAX_ID_CHARS, RecordId,
};
pub use period::{Period, PeriodError};
pub use time::{SECONDS_HINT_BELOW_MS, Timestamp, TimestampError};
pub use value::{Record, Scalar, Value, decimal_to_json};

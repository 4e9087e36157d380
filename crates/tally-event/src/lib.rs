//! Tally's usage event model.
//!
//! An [`Event`] is what a company sends for each unit of usage: a customer, an event
//! type, a timestamp and a flat [`Record`]. Every piece is a newtype that can only be
//! built through a parsing constructor, and [`parse_event`] turns untrusted JSON into
//! an `Event`, reporting every problem at once with a JSON-pointer path and a stable
//! code. The crate does no IO and reads no clock: `now` is passed in.
//!
//! The main pieces:
//! - [`parse_event`] / [`parse_event_bytes`]: validation, with [`ValidationConfig`]
//!   (future-timestamp tolerance, [`PiiPolicy`]) and errors as [`ValidationError`]s
//!   whose [`ErrorCode`] is stable;
//! - [`Event`], [`Record`], [`Value`]: the validated data, numbers as exact
//!   `rust_decimal::Decimal`s, never `f64`;
//! - [`Timestamp`] (UTC milliseconds) and [`Period`] (a half-open billing period);
//! - [`EventKey`] and [`upsert_outcome`]: the identity of an event and the rule that
//!   decides whether a newer version replaces a stored one;
//! - [`pii`]: detection and masking of e-mail addresses, card numbers, IBANs and
//!   phone numbers.
//!
//! ```
//! use serde_json::json;
//! use tally_event::{Period, Timestamp, UpsertOutcome, ValidationConfig, parse_event, upsert_outcome};
//!
//! let now = Timestamp::parse("2024-02-01T00:00:00Z").unwrap();
//! let wire = json!({
//!     "customer_id": "acme-42",
//!     "timestamp": "2024-01-15T09:30:00Z",
//!     "event_type": "api_call",
//!     "record": {"id": "req-1", "endpoint": "/search", "tokens": 1200}
//! });
//! let event = parse_event(&wire, &ValidationConfig::default(), now).unwrap().event;
//!
//! let january = Period::new(
//!     Timestamp::parse("2024-01-01T00:00:00Z").unwrap(),
//!     Timestamp::parse("2024-02-01T00:00:00Z").unwrap(),
//! )
//! .unwrap();
//! assert!(january.contains(event.timestamp));
//!
//! // The same event sent again changes nothing; a newer version replaces it.
//! let stored = Some((event.timestamp, &event.record));
//! assert_eq!(upsert_outcome(stored, (event.timestamp, &event.record)), UpsertOutcome::Unchanged);
//! let later = Timestamp::from_millis(event.timestamp.as_millis() + 1).unwrap();
//! assert_eq!(upsert_outcome(stored, (later, &event.record)), UpsertOutcome::Updated);
//! // The wire form round-trips.
//! assert_eq!(parse_event(&event.to_json(), &ValidationConfig::default(), now).unwrap().event, event);
//! ```
//!
//! `docs/events.md` in the repository describes every rule and why.

#![warn(missing_docs)]

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

//! Identifier newtypes: each can only hold a value that passed its parsing constructor.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest `customer_id` and string `record.id`, in characters.
pub const MAX_ID_CHARS: usize = 255;
/// Longest `event_type`, in characters.
pub const MAX_EVENT_TYPE_CHARS: usize = 100;

/// Why an identifier was refused; the validator turns it into a coded error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The identifier is `""` (code `empty`).
    #[error("must not be empty")]
    Empty,
    /// The identifier has more than `max` characters (code `too_long`). Characters, not
    /// bytes: `é` counts once.
    #[error("must be at most {max} characters")]
    TooLong {
        /// The limit that was exceeded: [`MAX_ID_CHARS`] or [`MAX_EVENT_TYPE_CHARS`].
        max: usize,
    },
    /// An event type with a character outside `[A-Za-z0-9_.:-]` (code `invalid_characters`).
    #[error("may only contain letters, digits and _ . : -")]
    InvalidCharacters,
    /// PostgreSQL cannot store U+0000 in text, so no backend accepts it.
    #[error("must not contain the NUL character (U+0000)")]
    ContainsNul,
}

fn check_length(value: &str, max: usize) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty);
    }
    if value.chars().count() > max {
        return Err(IdError::TooLong { max });
    }
    if value.contains('\0') {
        return Err(IdError::ContainsNul);
    }
    Ok(())
}

/// The kind of usage an event reports (`api_call`, `users`, …): 1..=100 characters of
/// `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventType(String);

impl EventType {
    /// Checks length (1..=[`MAX_EVENT_TYPE_CHARS`]) and character set; the text is
    /// kept as sent, so `API_call` and `api_call` are different types.
    ///
    /// ```
    /// use tally_event::{EventType, IdError};
    ///
    /// assert_eq!(EventType::parse("api_call.v2").unwrap().as_str(), "api_call.v2");
    /// assert_eq!(EventType::parse("api call"), Err(IdError::InvalidCharacters));
    /// ```
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_length(value, MAX_EVENT_TYPE_CHARS)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if !value.chars().all(allowed) {
            return Err(IdError::InvalidCharacters);
        }
        Ok(Self(value.to_owned()))
    }

    /// The event type as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The identity of a record within its event type. Integer and string ids normalize
/// to one key: `485` and `"485"` are the same record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecordId(String);

impl RecordId {
    /// A string id: 1..=255 characters, kept exactly as sent.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_length(value, MAX_ID_CHARS)?;
        Ok(Self(value.to_owned()))
    }

    /// An integer id, keyed by its decimal text.
    pub fn from_integer(value: i128) -> Self {
        Self(value.to_string())
    }

    /// The normalized id: an integer id in its decimal text (`485`), a string id as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How an event names its customer: a Tally id (`cus_…`) or the customer's external
/// id, 1..=255 characters. Resolving it to a customer is the billing layer's job.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CustomerRef(String);

impl CustomerRef {
    /// Checks length (1..=[`MAX_ID_CHARS`] characters) and refuses U+0000; any other
    /// character is allowed because external ids are the customer's own.
    pub fn parse(value: &str) -> Result<Self, IdError> {
        check_length(value, MAX_ID_CHARS)?;
        Ok(Self(value.to_owned()))
    }

    /// The reference as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The upsert key of an event within an account: (`event_type`, `record.id`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    /// The event's type.
    pub event_type: EventType,
    /// The normalized `record.id`.
    pub record_id: RecordId,
}

macro_rules! string_newtype_conversions {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}

string_newtype_conversions!(EventType, RecordId, CustomerRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_and_string_ids_are_one_key() {
        assert_eq!(RecordId::from_integer(485), RecordId::parse("485").unwrap());
        assert_ne!(
            RecordId::from_integer(485),
            RecordId::parse("0485").unwrap()
        );
    }

    #[test]
    fn event_type_charset_and_length() {
        assert!(EventType::parse("api_call.v2:eu-1").is_ok());
        assert_eq!(EventType::parse(""), Err(IdError::Empty));
        assert_eq!(
            EventType::parse("api call"),
            Err(IdError::InvalidCharacters)
        );
        assert_eq!(
            EventType::parse(&"a".repeat(101)),
            Err(IdError::TooLong { max: 100 })
        );
        assert!(EventType::parse(&"a".repeat(100)).is_ok());
    }

    #[test]
    fn nul_is_refused_in_every_id() {
        assert_eq!(RecordId::parse("a\0b"), Err(IdError::ContainsNul));
        assert_eq!(CustomerRef::parse("\0"), Err(IdError::ContainsNul));
    }

    #[test]
    fn id_length_counts_characters_not_bytes() {
        assert!(CustomerRef::parse(&"é".repeat(255)).is_ok());
        assert!(CustomerRef::parse(&"é".repeat(256)).is_err());
    }
}

//! Object ids: a fixed prefix, `_`, and a random base62 part (`cus_4Zq…`).
//!
//! Ids are never sequential: the random part is drawn from the `rand` generator the
//! caller passes in ([`CustomerId::generate`]) or from the thread-local generator
//! ([`CustomerId::random`]); tests pass a seeded generator to stay deterministic.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Length of the random part of a generated id: 22 base62 characters, about 131
/// bits, so collisions are not a practical concern.
pub const RANDOM_PART_LEN: usize = 22;
/// Longest id accepted by `parse`, prefix included.
pub const MAX_ID_LEN: usize = 64;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a string is not an id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The string does not start with the kind's prefix and `_`.
    #[error("must start with {prefix}_")]
    WrongPrefix {
        /// The expected prefix (`cus`).
        prefix: &'static str,
    },
    /// The part after the prefix is empty, too long or not base62.
    #[error("must be {prefix}_ followed by 1 to {max} letters or digits")]
    Malformed {
        /// The expected prefix (`cus`).
        prefix: &'static str,
        /// The longest random part accepted.
        max: usize,
    },
}

/// `len` random base62 characters.
pub fn random_base62<R: Rng + ?Sized>(rng: &mut R, len: usize) -> String {
    (0..len)
        .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
        .collect()
}

/// `len` base62 characters derived from `parts` (SHA-256 over each part and
/// its length): the same parts always give the same characters, for ids that
/// must be stable without being stored (an invoice's line items).
pub fn derived_base62(parts: &[&[u8]], len: usize) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    digest
        .iter()
        .cycle()
        .take(len)
        .map(|byte| char::from(BASE62[usize::from(*byte) % BASE62.len()]))
        .collect()
}

fn check_id(value: &str, prefix: &'static str) -> Result<(), IdParseError> {
    let rest = value
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .ok_or(IdParseError::WrongPrefix { prefix })?;
    let max = MAX_ID_LEN - prefix.len() - 1;
    if rest.is_empty() || rest.len() > max || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(IdParseError::Malformed { prefix, max });
    }
    Ok(())
}

macro_rules! prefixed_ids {
    ($($(#[$doc:meta])* $name:ident => $prefix:literal,)*) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The prefix before the `_` (`cus` for `cus_…`).
            pub const PREFIX: &'static str = $prefix;

            /// Checks the prefix and the random part's alphabet and length.
            pub fn parse(value: &str) -> Result<Self, IdParseError> {
                check_id(value, $prefix)?;
                Ok(Self(value.to_owned()))
            }

            /// A fresh id from the given generator.
            pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Self {
                Self(format!("{}_{}", $prefix, random_base62(rng, RANDOM_PART_LEN)))
            }

            /// A fresh id from the thread-local generator.
            pub fn random() -> Self {
                Self::generate(&mut rand::rng())
            }

            /// The whole id, prefix included.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdParseError;
            fn try_from(value: String) -> Result<Self, IdParseError> {
                check_id(&value, $prefix)?;
                Ok(Self(value))
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

prefixed_ids! {
    /// An account (tenant): every other object belongs to exactly one.
    AccountId => "acc",
    /// An API key's public id (the secret itself is never stored).
    ApiKeyId => "key",
    /// A customer.
    CustomerId => "cus",
    /// An aggregator.
    AggregatorId => "agg",
    /// A named filter (sub-series) of one aggregator.
    AggregatorFilterId => "agf",
    /// A product (Hyperline calls products items).
    ProductId => "itm",
    /// A price group of one product.
    PriceGroupId => "grp",
    /// A subscription.
    SubscriptionId => "sub",
    /// An invoice.
    InvoiceId => "inv",
    /// A stored event.
    EventId => "evt",
    /// A webhook endpoint: where an account's webhook messages go.
    WebhookEndpointId => "we",
    /// A webhook event: one occurrence in the outbox (`invoice.created`, …).
    /// Its prefix is the usage events' one, as the Standard Webhooks
    /// vocabulary has it; the two are never taken for each other, each has
    /// its own type.
    WebhookEventId => "evt",
    /// A webhook message: one event for one endpoint, with its attempts.
    WebhookMessageId => "msg",
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn generated_ids_parse_back() {
        let mut rng = StdRng::seed_from_u64(7);
        let id = CustomerId::generate(&mut rng);
        assert!(id.as_str().starts_with("cus_"));
        assert_eq!(id.as_str().len(), 4 + RANDOM_PART_LEN);
        assert_eq!(CustomerId::parse(id.as_str()), Ok(id));
    }

    #[test]
    fn prefix_and_alphabet_are_checked() {
        assert_eq!(
            CustomerId::parse("acc_abc"),
            Err(IdParseError::WrongPrefix { prefix: "cus" })
        );
        assert!(matches!(
            CustomerId::parse("cus_"),
            Err(IdParseError::Malformed { .. })
        ));
        assert!(matches!(
            CustomerId::parse("cus_a-b"),
            Err(IdParseError::Malformed { .. })
        ));
        assert!(CustomerId::parse(&format!("cus_{}", "a".repeat(60))).is_ok());
        assert!(CustomerId::parse(&format!("cus_{}", "a".repeat(61))).is_err());
    }
}

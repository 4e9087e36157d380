//! API keys: the clear secret is shown once at creation and only its SHA-256 is
//! stored, so a leaked database does not leak working keys.

use std::fmt;

use rand::Rng;
use sha2::{Digest, Sha256};

use crate::ids::{AccountId, ApiKeyId, random_base62};
use tally_event::Timestamp;

/// Prefix of every clear API key, so leaked keys are easy to spot in logs and scans.
pub const API_KEY_PREFIX: &str = "tally_sk_";
/// Length of the random part of a generated key: 40 base62 characters (~238 bits).
const SECRET_RANDOM_LEN: usize = 40;

/// A new clear API key, to show once and never store.
pub fn generate_api_key_secret<R: Rng + ?Sized>(rng: &mut R) -> String {
    format!("{API_KEY_PREFIX}{}", random_base62(rng, SECRET_RANDOM_LEN))
}

/// The lowercase hex SHA-256 of a clear API key: the only form a store keeps.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiKeyHash(String);

/// A string that is not 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("api key hash must be 64 lowercase hex digits")]
pub struct ApiKeyHashError;

impl ApiKeyHash {
    /// Hashes a clear key as presented in `Authorization: Bearer …`.
    pub fn of_secret(secret: &str) -> Self {
        let digest = Sha256::digest(secret.as_bytes());
        let hex = digest.iter().map(|byte| format!("{byte:02x}")).collect();
        Self(hex)
    }

    /// A hash read back from storage.
    pub fn parse_hex(hex: &str) -> Result<Self, ApiKeyHashError> {
        let ok = hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if ok {
            Ok(Self(hex.to_owned()))
        } else {
            Err(ApiKeyHashError)
        }
    }

    /// The hash as 64 lowercase hexadecimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ApiKeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored API key: which account it opens, identified by the secret's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's id (`key_…`), how it is revoked.
    pub id: ApiKeyId,
    /// The account the key opens.
    pub account_id: AccountId,
    /// SHA-256 of the secret; the secret itself is never stored.
    pub hash: ApiKeyHash,
    /// When the key was registered (UTC milliseconds).
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_sha256_hex() {
        // Known answer: sha256("abc").
        let hash = ApiKeyHash::of_secret("abc");
        assert_eq!(
            hash.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(ApiKeyHash::parse_hex(hash.as_str()), Ok(hash));
        assert_eq!(ApiKeyHash::parse_hex("ABC"), Err(ApiKeyHashError));
    }

    #[test]
    fn secrets_carry_the_prefix() {
        let secret = generate_api_key_secret(&mut rand::rng());
        assert!(secret.starts_with(API_KEY_PREFIX));
        assert_eq!(secret.len(), API_KEY_PREFIX.len() + SECRET_RANDOM_LEN);
    }
}

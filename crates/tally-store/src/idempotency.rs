//! Idempotency keys: the first response to a key, kept for a day so that a
//! retried request gets it again instead of running twice (docs/API.md,
//! "Idempotency").
//!
//! A key is claimed by inserting its row under the unique (account, key)
//! constraint, so two server processes sharing a database cannot both run a
//! request for one key. A claim is either completed with the response or
//! released (the request failed in a way worth retrying). The store only
//! compares a [`RequestHash`]; what the hash covers is the caller's business.

use std::fmt;

use sha2::{Digest, Sha256};
use tally_event::Timestamp;

use crate::error::{StoreError, StoreResult};
use crate::ids::random_base62;

/// How long a key's first response is kept: 24 hours after the claim. After
/// that the key is free again, and its row may be deleted.
pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 60 * 60 * 1000;
/// How long a claim may stay in flight (claimed, neither completed nor
/// released). An older one was left by a process that died mid-request and
/// may be claimed again. Requests run in seconds; a minute leaves room for
/// the slowest without blocking a key for long.
pub const IN_FLIGHT_TIMEOUT_MS: i64 = 60 * 1000;

/// Longest key accepted, in bytes.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdempotencyKey(String);

/// A string that is not a valid idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be 1 to 255 printable ascii characters")]
pub struct IdempotencyKeyError;

impl IdempotencyKey {
    /// The key if `text` is 1..=255 printable ASCII characters (space to `~`).
    pub fn parse(text: &str) -> Result<Self, IdempotencyKeyError> {
        let printable = text.bytes().all(|b| (b' '..=b'~').contains(&b));
        if text.is_empty() || text.len() > MAX_IDEMPOTENCY_KEY_LEN || !printable {
            return Err(IdempotencyKeyError);
        }
        Ok(Self(text.to_owned()))
    }

    /// The key as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 of what identifies a request, as 64 lowercase hex digits: a
/// retry must carry the same hash as the request that claimed the key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestHash(String);

impl RequestHash {
    /// Hashes `parts` in order, each preceded by its length, so that moving
    /// bytes from one part to the next changes the hash.
    pub fn of_parts(parts: &[&[u8]]) -> Self {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        Self(hex(&hasher.finalize()))
    }

    /// A hash read back from storage; `None` unless 64 lowercase hex digits.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let ok = text.len() == 64
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        ok.then(|| Self(text.to_owned()))
    }

    /// The hash as 64 lowercase hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Names one claim of a key, so that only the request holding it completes or
/// releases it: after a claim was taken over as abandoned, the late original
/// request can no longer overwrite its successor's row.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClaimToken(String);

impl ClaimToken {
    /// A fresh token: 22 random base62 characters.
    pub fn random() -> Self {
        Self(random_base62(&mut rand::rng(), 22))
    }

    /// A token read back from storage.
    pub fn from_stored(text: String) -> Self {
        Self(text)
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A request asking to run under a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewClaim {
    /// The client's key.
    pub key: IdempotencyKey,
    /// What the request is: a retry must match it.
    pub request: RequestHash,
    /// Names this claim for [`complete`](crate::IdempotencyStore::complete_idempotency_key)
    /// and [`release`](crate::IdempotencyStore::release_idempotency_key).
    pub token: ClaimToken,
    /// When the request arrived: the start of the claim's timeout and of the
    /// key's lifetime.
    pub now: Timestamp,
}

impl NewClaim {
    /// Rows claimed at or before this instant have expired.
    pub fn expired_before(&self) -> i64 {
        self.now.as_millis() - IDEMPOTENCY_TTL_MS
    }

    /// In-flight claims taken at or before this instant are abandoned.
    pub fn abandoned_before(&self) -> i64 {
        self.now.as_millis() - IN_FLIGHT_TIMEOUT_MS
    }
}

/// A response as stored for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// The `Content-Type` header, if the response had one.
    pub content_type: Option<String>,
    /// The body, exactly as sent.
    pub body: Vec<u8>,
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free (never used, expired, released or abandoned): the
    /// request runs, then completes or releases the claim.
    Claimed,
    /// The key already answered this same request: send this again.
    Replay(StoredResponse),
    /// The key was used for another request.
    Mismatch,
    /// The key's first request is still running.
    InFlight,
}

/// A key's row as a backend reads it back, to decide what a refused claim
/// means. Backends build it; [`StoredClaim::outcome`] is the one decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClaim {
    /// The hash of the request that claimed the key.
    pub request: RequestHash,
    /// The response, once the claim is completed.
    pub response: Option<StoredResponse>,
}

impl StoredClaim {
    /// The claim from its `idempotency_keys` columns as both SQL backends
    /// read them; `Corrupt` when the hash or the status does not read back.
    pub fn from_columns(
        request_hash: &str,
        status: Option<i64>,
        content_type: Option<String>,
        body: Option<Vec<u8>>,
    ) -> StoreResult<Self> {
        let corrupt = |column: &str, detail: String| {
            StoreError::Corrupt(format!("idempotency_keys.{column}: {detail}"))
        };
        let request = RequestHash::parse_hex(request_hash)
            .ok_or_else(|| corrupt("request_hash", request_hash.to_owned()))?;
        let response = match status {
            None => None,
            Some(status) => Some(StoredResponse {
                status: u16::try_from(status).map_err(|e| corrupt("status", e.to_string()))?,
                content_type,
                body: body.unwrap_or_default(),
            }),
        };
        Ok(StoredClaim { request, response })
    }

    /// What a retry with `request` gets from a row it could not take over: a
    /// reused key first (whatever the first request's state), then in flight,
    /// then the replay.
    pub fn outcome(self, request: &RequestHash) -> Claim {
        if self.request != *request {
            return Claim::Mismatch;
        }
        match self.response {
            Some(response) => Claim::Replay(response),
            None => Claim::InFlight,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_up_to_255() {
        for ok in ["a", "order 42/retry-1", "~!", &"k".repeat(255)] {
            assert!(IdempotencyKey::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "tab\there", "é", "line\n", &"k".repeat(256)] {
            assert_eq!(
                IdempotencyKey::parse(bad),
                Err(IdempotencyKeyError),
                "{bad}"
            );
        }
    }

    #[test]
    fn request_hashes_separate_their_parts() {
        let hash = RequestHash::of_parts(&[b"POST", b"/v1/a"]);
        assert_eq!(hash.as_str().len(), 64);
        assert_eq!(RequestHash::parse_hex(hash.as_str()), Some(hash.clone()));
        assert_ne!(hash, RequestHash::of_parts(&[b"POST/", b"v1/a"]));
        assert_eq!(hash, RequestHash::of_parts(&[b"POST", b"/v1/a"]));
        assert_eq!(RequestHash::parse_hex("ABC"), None);
    }
}

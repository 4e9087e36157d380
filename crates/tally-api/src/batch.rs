//! The body of `POST /v1/events/batch`: a JSON array read one event at a time.
//!
//! The array is never built whole before it is counted: the parse stops at
//! the event after [`MAX_BATCH_EVENTS`], so a body of millions of tiny items
//! (`[1,1,1,…]`) costs the parse of 5 001 of them, not a tree of millions of
//! values. Bodies above [`OFF_THREAD_BYTES`] are parsed on Tokio's blocking
//! pool, so a large batch does not hold up the threads serving other requests.

use std::fmt;

use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use tally_billing::{BillingError, MAX_BATCH_EVENTS};

use crate::error::ApiError;
use crate::extract::parse_json;

/// Bodies larger than this are parsed off the async request threads.
pub const OFF_THREAD_BYTES: usize = 1024 * 1024;

/// The events of a batch body, at most [`MAX_BATCH_EVENTS`] of them. Parsed
/// on the blocking pool when the body is larger than [`OFF_THREAD_BYTES`].
pub async fn parse_batch_body(body: axum::body::Bytes) -> Result<Vec<serde_json::Value>, ApiError> {
    off_thread_above(body.len(), OFF_THREAD_BYTES, move || parse_batch(&body)).await
}

/// Runs `work` on the blocking pool when `len` exceeds `threshold`, else here:
/// a small body costs less to parse than a hop to another thread.
async fn off_thread_above<T: Send + 'static>(
    len: usize,
    threshold: usize,
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    if len <= threshold {
        return work();
    }
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("batch parse failed: {error}")))?
}

/// Parses a batch body: a JSON array of at most [`MAX_BATCH_EVENTS`] values.
/// Errors are those of the whole-body parse (`malformed_json`, or
/// `invalid_request` for a body that is not an array) and `batch_too_large`,
/// found at the first event past the limit.
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut seen = 0;
    match parse_bounded(bytes, MAX_BATCH_EVENTS, &mut seen) {
        Ok(events) => Ok(events),
        Err(_) if seen > MAX_BATCH_EVENTS => Err(too_large().into()),
        // The error came at or before the limit, so parsing again to name it
        // reads at most as far as the first parse did.
        Err(_) => parse_json::<Vec<serde_json::Value>>(bytes),
    }
}

fn too_large() -> BillingError {
    BillingError::invalid(
        "",
        "batch_too_large",
        format!("a batch holds at most {MAX_BATCH_EVENTS} events, got more"),
    )
}

/// The array's values, failing as soon as it holds more than `max`; `seen`
/// counts the items read, the one over the limit included.
fn parse_bounded(
    bytes: &[u8],
    max: usize,
    seen: &mut usize,
) -> Result<Vec<serde_json::Value>, serde_json::Error> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let events = BoundedArray { max, seen }.deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(events)
}

struct BoundedArray<'a> {
    max: usize,
    seen: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for BoundedArray<'_> {
    type Value = Vec<serde_json::Value>;

    fn deserialize<D: serde::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for BoundedArray<'_> {
    type Value = Vec<serde_json::Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of at most {} events", self.max)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut events = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(self.max));
        while let Some(event) = seq.next_element::<serde_json::Value>()? {
            *self.seen += 1;
            if *self.seen > self.max {
                return Err(A::Error::custom("too many events"));
            }
            events.push(event);
        }
        Ok(events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;

    fn ones(count: usize) -> Vec<u8> {
        let mut body = b"[".to_vec();
        body.extend(std::iter::repeat_n(&b"1,"[..], count).flatten());
        body.extend(b"1]");
        body
    }

    #[test]
    fn the_parse_stops_at_the_first_event_over_the_limit() {
        let mut seen = 0;
        assert!(parse_bounded(&ones(1_000_000), 3, &mut seen).is_err());
        assert_eq!(seen, 4);
        let error = parse_batch(&ones(1_000_000)).err().map(|e| e.body());
        let body = error.unwrap_or_else(|| panic!("expected an error"));
        assert_eq!(
            (body.code.as_str(), body.errors[0].code.as_str()),
            ("invalid_request", "batch_too_large")
        );
    }

    #[test]
    fn up_to_the_limit_every_event_is_kept() {
        assert_eq!(
            parse_batch(&ones(MAX_BATCH_EVENTS - 1))
                .map(|e| e.len())
                .ok(),
            Some(MAX_BATCH_EVENTS)
        );
    }

    #[test]
    fn other_errors_are_those_of_the_whole_body_parse() {
        let cases: [(&[u8], ErrorCode); 4] = [
            (b"[1, 2", ErrorCode::MalformedJson),
            (b"[1] x", ErrorCode::MalformedJson),
            (b"{\"a\": 1}", ErrorCode::InvalidRequest),
            (b"", ErrorCode::MalformedJson),
        ];
        for (body, code) in cases {
            let expected = parse_json::<Vec<serde_json::Value>>(body)
                .err()
                .map(|e| e.body());
            let got = parse_batch(body).err().map(|e| e.body());
            assert_eq!(got, expected, "{:?}", String::from_utf8_lossy(body));
            assert_eq!(parse_batch(body).err().map(|e| e.code()), Some(code));
        }
    }

    // The runtime of `#[tokio::test]` runs on the test's own thread, so the
    // thread a closure ran on says whether it was moved off the runtime.
    #[tokio::test]
    async fn a_body_over_the_threshold_is_parsed_on_another_thread() {
        let here = std::thread::current().id();
        let at = |len| off_thread_above(len, 10, || Ok(std::thread::current().id()));
        assert_eq!(at(10).await.ok(), Some(here));
        let elsewhere = at(11).await.ok();
        assert!(elsewhere.is_some() && elsewhere != Some(here));
    }
}

//! The body of `POST /v1/events/batch`: a JSON array read one event at a time.
//!
//! The array is never built whole before it is counted: the parse stops at
//! the event after [`MAX_BATCH_EVENTS`], so a body of millions of tiny items
//! (`[1,1,1,…]`) costs the parse of 5 001 of them, not a tree of millions of
//! values. A body up to [`OFF_THREAD_BYTES`] is read whole and parsed where
//! it arrived; a larger one (or one of unknown length) is parsed on Tokio's
//! blocking pool *while it arrives*, chunk by chunk, so that neither the
//! request threads nor the memory pay for it: the body is never held whole,
//! and reading stops as soon as the parse does.

use std::fmt;
use std::io::{self, Read};

use axum::body::{Body, Bytes};
use futures::StreamExt;
use serde::de::{DeserializeSeed, Error as _, SeqAccess, Visitor};
use tally_billing::{BillingError, MAX_BATCH_EVENTS};

use crate::error::{ApiError, FieldError};
use crate::extract::{parse_json, plain};

/// Bodies larger than this are parsed off the async request threads.
pub const OFF_THREAD_BYTES: usize = 1024 * 1024;

/// Chunks received and not yet parsed: a bound on what a slow parse holds.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Streamed parses at once. Each holds a thread of the blocking pool for as
/// long as its client takes to send the body, so slow uploads must not be
/// able to take the whole pool (512 threads) from every other blocking task;
/// the ones after these wait for a place.
const STREAMED_PARSES: usize = 64;

static STREAMED_PARSE_PLACES: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(STREAMED_PARSES);

/// The events of a batch body of at most `limit` bytes (a larger one is a
/// `413 payload_too_large`), at most [`MAX_BATCH_EVENTS`] of them.
/// `content_length` is the body's exact length, when it is known.
pub async fn read_batch_body(
    body: Body,
    content_length: Option<u64>,
    limit: usize,
) -> Result<Vec<serde_json::Value>, ApiError> {
    match content_length {
        Some(length) if length > limit as u64 => Err(ApiError::payload_too_large()),
        Some(length) if length <= OFF_THREAD_BYTES as u64 => {
            let bytes = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit))
                .await
                .map_err(|_| ApiError::unreadable_body())?
                .to_bytes();
            parse_batch(&bytes)
        }
        _ => parse_while_arriving(body, limit).await,
    }
}

/// Feeds the body's chunks to a parse on the blocking pool, through a
/// channel of [`CHUNKS_IN_FLIGHT`]; stops reading when the parse stops.
async fn parse_while_arriving(
    body: Body,
    limit: usize,
) -> Result<Vec<serde_json::Value>, ApiError> {
    let _place = STREAMED_PARSE_PLACES
        .acquire()
        .await
        .map_err(|error| ApiError::internal(format!("batch parse places closed: {error}")))?;
    let (chunks, received) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
    let parse = tokio::task::spawn_blocking(move || {
        parse_batch_from(io::BufReader::new(ChunkReader {
            chunks: received,
            current: Bytes::new(),
        }))
    });
    let mut stream = body.into_data_stream();
    let mut total = 0_usize;
    let mut over_limit = false;
    loop {
        // The parse may have its answer while the client still sends: then
        // the next chunk is not waited for.
        let chunk = tokio::select! {
            chunk = stream.next() => chunk,
            () = chunks.closed() => None,
        };
        let Some(chunk) = chunk else {
            break;
        };
        let chunk = chunk.map_err(io::Error::other);
        if let Ok(bytes) = &chunk {
            total = total.saturating_add(bytes.len());
            if total > limit {
                over_limit = true;
                break;
            }
        }
        let failed = chunk.is_err();
        // A closed channel: the parse has its answer, the rest is not read.
        if chunks.send(chunk).await.is_err() || failed {
            break;
        }
    }
    drop(chunks);
    let parsed = parse
        .await
        .map_err(|error| ApiError::internal(format!("batch parse failed: {error}")))?;
    if over_limit {
        return Err(ApiError::payload_too_large());
    }
    parsed
}

/// The chunks of a body as a blocking reader (it runs on the blocking pool).
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let count = buffer.len().min(self.current.len());
        buffer[..count].copy_from_slice(&self.current[..count]);
        self.current = self.current.slice(count..);
        Ok(count)
    }
}

/// [`parse_batch`] over a reader: the same answers, except that an error
/// before the limit is explained from the reader's error alone (the body is
/// not kept to be read again).
fn parse_batch_from(reader: impl Read) -> Result<Vec<serde_json::Value>, ApiError> {
    let mut seen = 0;
    let mut deserializer = serde_json::Deserializer::from_reader(reader);
    let parsed = BoundedArray {
        max: MAX_BATCH_EVENTS,
        seen: &mut seen,
    }
    .deserialize(&mut deserializer)
    .and_then(|events| deserializer.end().map(|()| events));
    match parsed {
        Ok(events) => Ok(events),
        Err(_) if seen > MAX_BATCH_EVENTS => Err(too_large().into()),
        Err(error) if error.is_io() => Err(ApiError::unreadable_body()),
        Err(error) if error.is_syntax() || error.is_eof() => Err(ApiError::malformed_json(error)),
        Err(error) => Err(ApiError::wrong_shape(vec![FieldError::new(
            "",
            "invalid_value",
            plain(&error.to_string()),
        )])),
    }
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

    /// A body of `count` items `1,` sent in chunks of `per_chunk` items;
    /// `pulled` counts the chunks the server read.
    fn streamed(
        count: usize,
        per_chunk: usize,
        pulled: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) -> Body {
        let body = ones(count);
        let chunks: Vec<Bytes> = body
            .chunks(per_chunk * 2)
            .map(Bytes::copy_from_slice)
            .collect();
        let stream = futures::stream::iter(chunks).map(move |chunk| {
            pulled.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, io::Error>(chunk)
        });
        Body::from_stream(stream)
    }

    #[tokio::test]
    async fn a_large_body_is_parsed_as_it_arrives_and_read_no_further_than_the_parse() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        let pulled = Arc::new(AtomicUsize::new(0));
        let body = streamed(1_000_000, 100, pulled.clone());
        let error = read_batch_body(body, None, usize::MAX).await.err();
        let error = error
            .map(|e| e.body())
            .unwrap_or_else(|| panic!("expected an error"));
        assert_eq!(error.errors[0].code, "batch_too_large");
        let read = pulled.load(Ordering::SeqCst);
        assert!(
            read < 100 + CHUNKS_IN_FLIGHT + 2,
            "{read} of 10 000 chunks read for 5 001 items"
        );

        let all = Arc::new(AtomicUsize::new(0));
        let events =
            read_batch_body(streamed(MAX_BATCH_EVENTS - 1, 7, all), None, usize::MAX).await;
        assert_eq!(events.map(|e| e.len()).ok(), Some(MAX_BATCH_EVENTS));
    }

    #[tokio::test]
    async fn a_client_that_stops_mid_body_gets_an_answer_not_a_hang() {
        let chunks = vec![
            Ok(Bytes::from_static(b"[1, 2, ")),
            Err(io::Error::new(io::ErrorKind::ConnectionReset, "gone")),
        ];
        let body = Body::from_stream(futures::stream::iter(chunks));
        let answer = read_batch_body(body, None, usize::MAX).await;
        let body = answer
            .err()
            .map(|e| e.body())
            .unwrap_or_else(|| panic!("expected an error"));
        assert_eq!(
            (body.code.as_str(), body.message.as_str()),
            ("invalid_request", "cannot read the request body")
        );
    }

    #[tokio::test]
    async fn a_streamed_body_keeps_the_limit_and_the_error_codes() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicUsize;

        let over = read_batch_body(
            streamed(1_000, 10, Arc::new(AtomicUsize::new(0))),
            None,
            100,
        )
        .await;
        assert_eq!(
            over.err().map(|e| e.code()),
            Some(ErrorCode::PayloadTooLarge)
        );
        let declared = read_batch_body(Body::from("[1]"), Some(10_000), 100).await;
        assert_eq!(
            declared.err().map(|e| e.code()),
            Some(ErrorCode::PayloadTooLarge)
        );
        let cases: [(&'static [u8], ErrorCode); 4] = [
            (b"[1, 2", ErrorCode::MalformedJson),
            (b"[1] x", ErrorCode::MalformedJson),
            (b"{\"a\": 1}", ErrorCode::InvalidRequest),
            (b"", ErrorCode::MalformedJson),
        ];
        for (bytes, code) in cases {
            // No length: the streamed path, whatever the size.
            let got = read_batch_body(Body::from(bytes), None, 1_000).await;
            assert_eq!(got.err().map(|e| e.code()), Some(code), "{bytes:?}");
        }
    }
}

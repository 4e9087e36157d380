//! Keyset streaming over (timestamp, record id), shared by the SQL backends:
//! each page is one short query after the last event read, so a stream holds
//! neither a long read transaction nor more than a page in memory. An upsert
//! during the read affects only the event it writes (read in its old or new
//! version, or both or neither when it crosses the cursor), never which other
//! events are read, as a shifted OFFSET would.

use std::future::Future;

use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::error::StoreResult;
use crate::events::StoredEvent;

/// Where a page starts: strictly after this (timestamp in ms, record id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeysetCursor {
    /// The timestamp of the last event of the previous page, in UTC milliseconds.
    pub ts_ms: i64,
    /// The record id of that event, which breaks timestamp ties.
    pub record_id: String,
}

impl KeysetCursor {
    /// Before every event: where the first page starts.
    pub fn start() -> Self {
        Self {
            ts_ms: i64::MIN,
            record_id: String::new(),
        }
    }

    /// Right after `event`: where the page following it starts.
    pub fn after(event: &StoredEvent) -> Self {
        Self {
            ts_ms: event.timestamp.as_millis(),
            record_id: event.record_id().as_str().to_owned(),
        }
    }
}

/// Every page as one stream. `fetch(cursor)` reads at most `page_size` events
/// after `cursor` in (timestamp, record id) order; a shorter page is the last.
/// After an error the stream yields it and ends.
pub fn keyset_stream<F, Fut>(
    page_size: u32,
    fetch: F,
) -> BoxStream<'static, StoreResult<StoredEvent>>
where
    F: FnMut(KeysetCursor) -> Fut + Send + 'static,
    Fut: Future<Output = StoreResult<Vec<StoredEvent>>> + Send + 'static,
{
    let full = page_size as usize;
    stream::try_unfold(
        (fetch, Some(KeysetCursor::start())),
        move |(mut fetch, cursor)| async move {
            let Some(cursor) = cursor else {
                return Ok(None);
            };
            let events = fetch(cursor).await?;
            let next = if events.len() >= full {
                events.last().map(KeysetCursor::after)
            } else {
                None
            };
            Ok(Some((
                stream::iter(events.into_iter().map(Ok)),
                (fetch, next),
            )))
        },
    )
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures::StreamExt;
    use serde_json::json;
    use tally_event::{EventType, Timestamp, record_from_stored_json};

    use super::*;
    use crate::error::StoreError;
    use crate::ids::{CustomerId, EventId};

    fn stored(ms: i64, id: &str) -> StoredEvent {
        StoredEvent {
            id: EventId::random(),
            event_type: EventType::parse("calls").unwrap(),
            customer_id: CustomerId::random(),
            timestamp: Timestamp::from_millis(ms).unwrap(),
            record: record_from_stored_json(&json!({"id": id})).unwrap(),
            ingested_at: Timestamp::from_millis(ms).unwrap(),
            seq: crate::versions::EventSeq::ZERO,
        }
    }

    /// Pages of 2 over 4 sorted events: the cursor moves past each full page, an
    /// empty page ends the stream, and every fetch saw the right cursor.
    #[tokio::test]
    async fn pages_follow_the_cursor_and_stop_on_a_short_page() {
        let all = vec![
            stored(1, "a"),
            stored(1, "b"),
            stored(2, "a"),
            stored(3, "c"),
        ];
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (events, cursors) = (all.clone(), Arc::clone(&seen));
        let streamed: Vec<StoredEvent> = keyset_stream(2, move |after: KeysetCursor| {
            cursors.lock().unwrap().push(after.clone());
            let page: Vec<StoredEvent> = events
                .iter()
                .filter(|e| {
                    (e.timestamp.as_millis(), e.record_id().as_str())
                        > (after.ts_ms, after.record_id.as_str())
                })
                .take(2)
                .cloned()
                .collect();
            async move { Ok(page) }
        })
        .map(Result::unwrap)
        .collect()
        .await;
        assert_eq!(streamed, all);
        let cursors: Vec<(i64, String)> = seen
            .lock()
            .unwrap()
            .iter()
            .map(|c| (c.ts_ms, c.record_id.clone()))
            .collect();
        let expected = [(i64::MIN, ""), (1, "b"), (3, "c")];
        let expected: Vec<(i64, String)> = expected
            .iter()
            .map(|(t, r)| (*t, (*r).to_owned()))
            .collect();
        assert_eq!(cursors, expected);
    }

    #[tokio::test]
    async fn an_error_ends_the_stream() {
        let streamed: Vec<StoreResult<StoredEvent>> = keyset_stream(1, |_| async {
            Err::<Vec<StoredEvent>, _>(StoreError::Unavailable("down".into()))
        })
        .collect()
        .await;
        assert_eq!(streamed.len(), 1);
        assert!(matches!(streamed[0], Err(StoreError::Unavailable(_))));
    }
}

//! Group commit: ingestion's writes, from any number of concurrent requests,
//! batched into few store transactions.
//!
//! A request validates its events and resolves their customers in its own task
//! (so parsing overlaps writing), then submits them to the queue and waits.
//! One writer task takes whatever is queued (up to
//! [`IngestQueueConfig::max_events_per_commit`] events), writes it with one
//! [`EventStore::upsert_event_groups`](tally_store::EventStore::upsert_event_groups)
//! call (one transaction, one fsync) and then answers each request. Under load,
//! requests that arrive while a commit runs share the next one, so the fsync
//! cost is paid per transaction, not per request.
//!
//! - Nothing is answered `Ok` before the transaction holding it returned `Ok`.
//! - When a combined transaction fails on input the store refused
//!   (`InvalidInput`, `Conflict`, `NotFound`), its requests are retried one by
//!   one, so one bad request does not fail the others. When it fails because
//!   the database is unavailable or broken, every request of it gets that error
//!   at once (a 503 the client retries), rather than one timeout per request.
//! - The queue is bounded by events (a semaphore of
//!   [`IngestQueueConfig::max_queued_events`] permits, held from submit until
//!   the answer): a request that does not fit fails at once with
//!   [`BillingError::Overloaded`] instead of waiting. The queue is asked after
//!   validation and customer resolution, so customers the request named may
//!   have been auto-created even when its events are refused.
//! - The writer is spawned on first use, on the current Tokio runtime; outside
//!   one (an embedder on another executor) requests are written directly,
//!   one transaction each. It stops when every [`Billing`](crate::Billing)
//!   clone is gone, after writing what was queued. It stays on the runtime of
//!   that first use: a program that ingests through one `Billing` from several
//!   runtimes must keep the first one running (a current-thread runtime parked
//!   between `block_on` calls would leave the others' requests waiting), or
//!   give each runtime its own `Billing` (`Billing::with_ingest_queue`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_store::{AccountId, EventGroup, NewEvent, Store, StoreError, StoreResult, UpsertResult};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use crate::error::{BillingError, BillingResult};

/// Default bound of the queue, in events (queued or being written).
pub const DEFAULT_MAX_QUEUED_EVENTS: usize = 50_000;
/// Default size of one group commit, in events.
pub const DEFAULT_MAX_EVENTS_PER_COMMIT: usize = 10_000;
/// What an [`BillingError::Overloaded`] asks the client to wait.
pub const OVERLOADED_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Bounds of the ingestion queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestQueueConfig {
    /// Events queued or being written at once; a request that would exceed it
    /// is refused (`Overloaded`). A request larger than the whole bound is
    /// admitted alone, when the queue is empty.
    pub max_queued_events: usize,
    /// Most events one transaction takes (a single larger request is still
    /// written whole).
    pub max_events_per_commit: usize,
}

impl Default for IngestQueueConfig {
    fn default() -> Self {
        Self {
            max_queued_events: DEFAULT_MAX_QUEUED_EVENTS,
            max_events_per_commit: DEFAULT_MAX_EVENTS_PER_COMMIT,
        }
    }
}

impl IngestQueueConfig {
    /// Both bounds at least 1.
    fn sane(self) -> Self {
        Self {
            // Permits are taken as a u32 count.
            max_queued_events: self
                .max_queued_events
                .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize)),
            max_events_per_commit: self.max_events_per_commit.max(1),
        }
    }
}

type Reply = oneshot::Sender<StoreResult<Vec<UpsertResult>>>;

/// One request's events, its answer channel and its place in the queue.
struct Job {
    group: EventGroup,
    reply: Reply,
    permit: OwnedSemaphorePermit,
}

enum Message {
    Job(Job),
    /// Answered once everything queued before it is written.
    Flush(oneshot::Sender<()>),
}

/// The queue and its writer, shared by every clone of a `Billing`.
pub(crate) struct GroupCommit {
    store: Arc<dyn Store>,
    config: IngestQueueConfig,
    permits: Arc<Semaphore>,
    /// The running writer's queue; replaced if the writer is gone (its runtime
    /// shut down).
    sender: Mutex<Option<mpsc::UnboundedSender<Message>>>,
}

impl GroupCommit {
    pub(crate) fn new(store: Arc<dyn Store>, config: IngestQueueConfig) -> Self {
        let config = config.sane();
        Self {
            store,
            config,
            permits: Arc::new(Semaphore::new(config.max_queued_events)),
            sender: Mutex::new(None),
        }
    }

    pub(crate) fn config(&self) -> IngestQueueConfig {
        self.config
    }

    /// Events queued or being written now.
    pub(crate) fn queued_events(&self) -> usize {
        self.config
            .max_queued_events
            .saturating_sub(self.permits.available_permits())
    }

    /// Upserts one account's events in a group commit; answers once they are
    /// committed, or fails at once with `Overloaded` when the queue is full.
    pub(crate) async fn submit(
        &self,
        account: &AccountId,
        events: Vec<NewEvent>,
    ) -> BillingResult<Vec<UpsertResult>> {
        let Some(sender) = self.writer() else {
            return Ok(self.store.upsert_events(account, &events).await?);
        };
        let wanted = events.len().clamp(1, self.config.max_queued_events);
        let permit = u32::try_from(wanted)
            .ok()
            .and_then(|n| Arc::clone(&self.permits).try_acquire_many_owned(n).ok())
            .ok_or(BillingError::Overloaded {
                retry_after: OVERLOADED_RETRY_AFTER,
            })?;
        let (reply, answer) = oneshot::channel();
        let job = Job {
            group: EventGroup {
                account: account.clone(),
                events,
            },
            reply,
            permit,
        };
        sender.send(Message::Job(job)).map_err(|_| writer_gone())?;
        Ok(answer.await.map_err(|_| writer_gone())??)
    }

    /// Waits until everything submitted before this call is written (or
    /// failed). Returns at once when no writer runs.
    pub(crate) async fn flush(&self) {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let Some(sender) = sender else { return };
        let (done, wait) = oneshot::channel();
        if sender.send(Message::Flush(done)).is_ok() {
            let _ = wait.await;
        }
    }

    /// The writer's queue, spawning the writer on the current runtime if none
    /// runs; `None` outside a Tokio runtime.
    fn writer(&self) -> Option<mpsc::UnboundedSender<Message>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let mut slot = self
            .sender
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(sender) = slot.as_ref().filter(|sender| !sender.is_closed()) {
            return Some(sender.clone());
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        runtime.spawn(run_writer(
            Arc::clone(&self.store),
            receiver,
            self.config.max_events_per_commit,
        ));
        *slot = Some(sender.clone());
        Some(sender)
    }
}

fn writer_gone() -> BillingError {
    BillingError::Store(StoreError::Internal(
        "the ingestion writer stopped before answering".into(),
    ))
}

/// The writer: takes what is queued, writes it in one transaction, answers,
/// again, until every sender is gone and the queue is empty.
async fn run_writer(
    store: Arc<dyn Store>,
    mut receiver: mpsc::UnboundedReceiver<Message>,
    max_events: usize,
) {
    let mut carried: Option<Message> = None;
    loop {
        let first = match carried.take() {
            Some(message) => message,
            None => match receiver.recv().await {
                Some(message) => message,
                None => return,
            },
        };
        let mut jobs = Vec::new();
        let mut flushes = Vec::new();
        let mut events = 0;
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Job(job) => {
                    let size = job.group.events.len();
                    if !jobs.is_empty() && events + size > max_events {
                        carried = Some(Message::Job(job));
                        break;
                    }
                    events += size;
                    jobs.push(job);
                }
                // Answered after this commit: stop collecting.
                Message::Flush(done) => {
                    flushes.push(done);
                    break;
                }
            }
            if events >= max_events {
                break;
            }
            next = receiver.try_recv().ok();
        }
        commit(store.as_ref(), jobs).await;
        for done in flushes {
            let _ = done.send(());
        }
    }
}

/// Writes the jobs in one transaction and answers each; if that fails, writes
/// them one by one so each job gets its own outcome.
async fn commit(store: &dyn Store, jobs: Vec<Job>) {
    if jobs.is_empty() {
        return;
    }
    let (groups, replies): (Vec<EventGroup>, Vec<(Reply, OwnedSemaphorePermit)>) = jobs
        .into_iter()
        .map(|job| (job.group, (job.reply, job.permit)))
        .unzip();
    let combined = store.upsert_event_groups(&groups).await;
    match combined {
        Ok(results) if results.len() == groups.len() => {
            for ((reply, _permit), result) in replies.into_iter().zip(results) {
                let _ = reply.send(Ok(result));
            }
        }
        Ok(_) => {
            for (reply, _permit) in replies {
                let message = "group upsert returned a result count unlike its groups";
                let _ = reply.send(Err(StoreError::Internal(message.into())));
            }
        }
        Err(error) if groups.len() == 1 => {
            if let Some((reply, _permit)) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
        // A database that is down, busy past its timeout or broken fails every
        // job alike: answer them all now (clients retry the 503) instead of
        // retrying each one alone, which would hold the writer for one timeout
        // per request while the queue fills.
        Err(error) if !caused_by_one_request(&error) => {
            let message = error.to_string();
            for (reply, _permit) in replies {
                let _ = reply.send(Err(same_kind(&error, &message)));
            }
        }
        Err(_) => {
            for (group, (reply, _permit)) in groups.iter().zip(replies) {
                let alone = store
                    .upsert_event_groups(std::slice::from_ref(group))
                    .await
                    .and_then(|mut results| {
                        results.pop().ok_or_else(|| {
                            StoreError::Internal("group upsert lost its group".into())
                        })
                    });
                let _ = reply.send(alone);
            }
        }
    }
}

/// Whether a failed combined transaction may be the fault of one of its
/// requests (its input refused by the store), so that retrying each request
/// alone gives the others their commit.
fn caused_by_one_request(error: &StoreError) -> bool {
    matches!(
        error,
        StoreError::InvalidInput(_) | StoreError::Conflict { .. } | StoreError::NotFound { .. }
    )
}

/// The error of a failed combined transaction, for each of its requests
/// (`StoreError` is not `Clone`: its variants carry their message).
fn same_kind(error: &StoreError, message: &str) -> StoreError {
    match error {
        StoreError::Unavailable(_) => StoreError::Unavailable(message.to_owned()),
        StoreError::Corrupt(_) => StoreError::Corrupt(message.to_owned()),
        _ => StoreError::Internal(message.to_owned()),
    }
}

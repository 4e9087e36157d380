//! The worker task: dispatch, claim, deliver, record; and its stop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tally_billing::{Billing, WebhookConfig};
use tally_event::Timestamp;
use tally_store::{
    AttemptOutcome, ClaimRequest, ClaimedMessage, DeliveryAttempt, FinishedAttempt, Store,
};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::backoff::retry_delay;
use crate::deliver::{Report, Tls, attempt};

/// Events dispatched per store transaction.
const DISPATCH_BATCH: u32 = 100;
/// How long the worker waits after the store failed before trying again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// A running worker. [`WebhookWorker::shutdown`] stops it after the attempts
/// in flight end; dropping it without that aborts the task (the attempts in
/// flight are then claimed again after their lease).
pub struct WebhookWorker {
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// Starts delivering, on the current Tokio runtime, with `billing`'s store,
/// clock and webhook settings.
pub fn start(billing: &Billing) -> WebhookWorker {
    let (stop, stopped) = watch::channel(false);
    let worker = Worker {
        store: Arc::clone(billing.store()),
        billing: billing.clone(),
        config: billing.webhook_config(),
        tls: Tls::load(),
    };
    let task = tokio::spawn(worker.run(stopped));
    WebhookWorker {
        stop,
        task: Mutex::new(Some(task)),
    }
}

impl WebhookWorker {
    /// Stops claiming, waits for the attempts in flight to end (each within
    /// its timeout) and records them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let task = self.task.lock().map(|mut t| t.take()).unwrap_or_default();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

impl Drop for WebhookWorker {
    fn drop(&mut self) {
        if let Ok(mut task) = self.task.lock()
            && let Some(task) = task.take()
        {
            task.abort();
        }
    }
}

struct Worker {
    store: Arc<dyn Store>,
    billing: Billing,
    config: WebhookConfig,
    tls: Tls,
}

impl Worker {
    async fn run(self, mut stopped: watch::Receiver<bool>) {
        let worker = Arc::new(self);
        let mut in_flight = JoinSet::new();
        while !*stopped.borrow() {
            let wait = match worker.step(&mut in_flight).await {
                Ok(()) => worker.config.poll_interval,
                Err(error) => {
                    tracing::warn!(%error, "webhook worker: store failed");
                    STORE_RETRY
                }
            };
            tokio::select! {
                _ = stopped.changed() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
    }

    /// Dispatches waiting events, then claims what fits in flight and starts
    /// delivering it.
    async fn step(self: &Arc<Self>, in_flight: &mut JoinSet<()>) -> tally_store::StoreResult<()> {
        while self
            .store
            .dispatch_webhook_events(self.billing.now(), DISPATCH_BATCH)
            .await?
            == u64::from(DISPATCH_BATCH)
        {}
        let room = (self.config.max_in_flight as usize).saturating_sub(in_flight.len());
        if room == 0 {
            return Ok(());
        }
        let now = self.billing.now();
        let request = ClaimRequest {
            now,
            lease_until: later(now, self.config.lease()),
            max_messages: u32::try_from(room).unwrap_or(u32::MAX),
            per_endpoint: self.config.per_endpoint_concurrency,
        };
        for message in self.store.claim_webhook_messages(&request).await? {
            let worker = Arc::clone(self);
            in_flight.spawn(async move { worker.deliver(message).await });
        }
        Ok(())
    }

    async fn deliver(&self, message: ClaimedMessage) {
        let started_at = self.billing.now();
        let report = attempt(&message, &self.config, &self.tls, started_at).await;
        let finished = FinishedAttempt {
            attempt: recorded(&message, started_at, &report),
            outcome: self.outcome(&message, &report),
        };
        if let Some(error) = &report.error {
            tracing::info!(message = %message.id, url = %message.url, attempt = message.attempt,
                %error, "webhook attempt failed");
        }
        let stored = self
            .store
            .finish_webhook_attempt(&message.account, &message.id, &finished)
            .await;
        match stored {
            Ok(true) => {}
            Ok(false) => tracing::info!(message = %message.id,
                "webhook attempt ended after its claim was taken over"),
            Err(error) => tracing::warn!(message = %message.id, %error,
                "webhook attempt not recorded: it runs again after its lease"),
        }
    }

    fn outcome(&self, message: &ClaimedMessage, report: &Report) -> AttemptOutcome {
        if report.succeeded() {
            return AttemptOutcome::Succeeded;
        }
        if message.run_attempt >= self.config.max_attempts {
            return AttemptOutcome::Failed;
        }
        let wait = retry_delay(
            message.run_attempt,
            self.config.backoff_base,
            self.config.backoff_max,
            &mut rand::rng(),
        );
        AttemptOutcome::RetryAt(later(self.billing.now(), wait))
    }
}

fn recorded(message: &ClaimedMessage, started_at: Timestamp, report: &Report) -> DeliveryAttempt {
    DeliveryAttempt {
        attempt: message.attempt,
        started_at,
        duration_ms: u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
        status_code: report.status,
        error: report.error.clone(),
    }
}

/// `now` plus `wait`, kept inside the years a `Timestamp` holds.
fn later(now: Timestamp, wait: Duration) -> Timestamp {
    let millis = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
    Timestamp::from_millis(now.as_millis().saturating_add(millis)).unwrap_or(now)
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tally_billing::{
    Billing, BillingError, MessageFilter, Pagination, WebhookConfig, WebhookEndpointInput,
};
use tally_store::{
    AccountId, MemoryStore, MessageStatus, NewWebhookEvent, Store, WebhookEndpoint, WebhookEventId,
    WebhookEventType, WebhookMessage,
};

use crate::receiver::{Mode, Receiver};

/// How long a test waits for a condition before it fails: generous, since
/// the machines running the tests are shared.
const DEADLINE: Duration = Duration::from_secs(60);

/// Settings that retry quickly and reach loopback receivers.
fn fast(max_attempts: u32) -> WebhookConfig {
    WebhookConfig {
        allow_private_urls: true,
        max_attempts,
        timeout: Duration::from_millis(500),
        backoff_base: Duration::from_millis(100),
        backoff_max: Duration::from_secs(2),
        per_endpoint_concurrency: 2,
        max_in_flight: 16,
        poll_interval: Duration::from_millis(20),
    }
}

struct Harness {
    billing: Billing,
    account: AccountId,
}

impl Harness {
    async fn new(config: WebhookConfig) -> Harness {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let billing = Billing::new(store).with_webhooks(config);
        let account = billing.ensure_account("default").await.unwrap().id;
        Harness { billing, account }
    }

    /// A billing service over the same store with other settings.
    fn with(&self, config: WebhookConfig) -> Billing {
        Billing::new(Arc::clone(self.billing.store())).with_webhooks(config)
    }

    async fn endpoint(&self, receiver: &Receiver, types: &[&str]) -> WebhookEndpoint {
        let endpoint = self
            .endpoint_at(receiver.url("/hooks?source=tally"), types)
            .await;
        receiver.verify_with(&endpoint.secret);
        endpoint
    }

    /// An endpoint at any `url`, a receiver's or not.
    async fn endpoint_at(&self, url: String, types: &[&str]) -> WebhookEndpoint {
        let input = WebhookEndpointInput {
            description: Some("test receiver".into()),
            url,
            secret: None,
            event_types: types.iter().map(|t| (*t).to_owned()).collect(),
        };
        self.billing
            .create_webhook_endpoint(&self.account, &input)
            .await
            .unwrap()
    }

    async fn emit(&self, event_type: WebhookEventType, n: u64) -> WebhookEventId {
        let event = NewWebhookEvent {
            id: WebhookEventId::random(),
            event_type,
            data: json!({"n": n, "amount": 12.50}),
            created_at: self.billing.now(),
        };
        let store = self.billing.store();
        store
            .record_webhook_event(&self.account, &event)
            .await
            .unwrap();
        event.id
    }

    async fn messages(&self) -> Vec<WebhookMessage> {
        let page = Pagination::new(100, 0);
        let filter = MessageFilter::default();
        let listed = self
            .billing
            .list_webhook_messages(&self.account, &filter, page);
        listed.await.unwrap().items
    }

    /// Waits until `done` holds for the account's messages.
    async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[WebhookMessage]) -> bool,
    ) -> Vec<WebhookMessage> {
        let start = Instant::now();
        loop {
            let messages = self.messages().await;
            if done(&messages) {
                return messages;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "still not {what}: {messages:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn all(status: MessageStatus, count: usize) -> impl Fn(&[WebhookMessage]) -> bool {
    move |messages| messages.len() == count && messages.iter().all(|m| m.status == status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_arrives_signed() {
    let receiver = Receiver::start(Mode::Ok).await;
    let h = Harness::new(fast(3)).await;
    let endpoint = h
        .endpoint(&receiver, &["invoice.created", "event.price_calculated"])
        .await;
    let other = Receiver::start(Mode::Ok).await;
    h.endpoint(&other, &["invoice.finalized"]).await;
    let worker = tally_webhooks::start(&h.billing);
    let mut sent = Vec::new();
    for n in 0..6 {
        sent.push(h.emit(WebhookEventType::InvoiceCreated, n).await);
    }
    sent.push(h.emit(WebhookEventType::UsageThresholdCrossed, 6).await);
    let messages = h
        .wait_for("delivered", all(MessageStatus::Succeeded, 6))
        .await;
    worker.shutdown().await;

    let received = receiver.received();
    assert_eq!(
        received.len(),
        6,
        "each message once when every attempt succeeds"
    );
    assert!(
        other.received().is_empty(),
        "not subscribed to invoice.created"
    );
    for request in &received {
        assert!(request.verified, "signature of {}", request.id);
        let body = request.json();
        let message = messages
            .iter()
            .find(|m| m.id.as_str() == request.id)
            .unwrap();
        assert_eq!(body["id"], request.id);
        assert_eq!(body["event_id"], message.event_id.as_str());
        assert_eq!(body["payload"]["event_type"], "invoice.created");
        assert_eq!(body["payload"]["data"], message.data);
        assert!(body["sent_at"].as_str().unwrap().ends_with('Z'));
        assert_eq!(message.endpoint_id, endpoint.id);
        assert_eq!(message.attempts.len(), 1);
        assert_eq!(message.attempts[0].status_code, Some(200));
        assert_eq!(message.attempts[0].error, None);
    }
    let mut events: Vec<_> = messages.iter().map(|m| m.event_id.clone()).collect();
    events.sort();
    let mut expected = sent[..6].to_vec();
    expected.sort();
    assert_eq!(events, expected);

    let tampered = &received[0];
    let secret = tally_billing::webhooks::WebhookSecret::parse(&endpoint.secret).unwrap();
    let mut body = tampered.body.clone();
    body[10] ^= 1;
    assert!(!secret.verify(&tampered.id, tampered.timestamp, &body, &tampered.signature));
    assert!(!secret.verify(
        &tampered.id,
        tampered.timestamp + 1,
        &tampered.body,
        &tampered.signature
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_back_off_then_fail_and_a_retry_runs_again() {
    let receiver = Receiver::start(Mode::Fail).await;
    let config = fast(4);
    let h = Harness::new(config).await;
    h.endpoint(&receiver, &["invoice.finalized"]).await;
    let worker = tally_webhooks::start(&h.billing);
    h.emit(WebhookEventType::InvoiceFinalized, 1).await;
    let messages = h.wait_for("failed", all(MessageStatus::Failed, 1)).await;
    let failed = &messages[0];
    assert_eq!(failed.next_attempt_at, None);
    let numbers: Vec<u32> = failed.attempts.iter().map(|a| a.attempt).collect();
    assert_eq!(numbers, [1, 2, 3, 4], "max_attempts, then failed");
    for attempt in &failed.attempts {
        assert_eq!(attempt.status_code, Some(500));
        assert!(
            attempt.error.as_deref().unwrap().contains("500"),
            "{attempt:?}"
        );
    }
    // An attempt starts no earlier than its backoff after the one before:
    // the waits double from `backoff_base`.
    for (n, pair) in failed.attempts.windows(2).enumerate() {
        let gap = pair[1].started_at.as_millis() - pair[0].started_at.as_millis();
        let floor = config.backoff_base.as_millis() as i64 * (1 << n);
        assert!(gap >= floor, "wait {n}: {gap} ms, at least {floor} ms");
    }
    assert_eq!(receiver.received().len(), 4);
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.verified && r.id == failed.id.as_str())
    );

    receiver.set_mode(Mode::Ok);
    let retried = h
        .billing
        .retry_webhook_message(&h.account, failed.id.as_str())
        .await
        .unwrap();
    assert_eq!(retried.status, MessageStatus::Pending);
    let messages = h
        .wait_for("delivered on retry", all(MessageStatus::Succeeded, 1))
        .await;
    worker.shutdown().await;
    let attempts = &messages[0].attempts;
    assert_eq!(attempts.len(), 5);
    assert_eq!(
        (attempts[4].attempt, attempts[4].status_code),
        (5, Some(200))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_silent_receivers_time_out_and_are_retried() {
    let slow = Receiver::start(Mode::Slow(Duration::from_secs(30))).await;
    let silent = Receiver::start(Mode::Silent).await;
    let h = Harness::new(fast(10)).await;
    h.endpoint(&slow, &["invoice.created"]).await;
    h.endpoint(&silent, &["invoice.created"]).await;
    let worker = tally_webhooks::start(&h.billing);
    h.emit(WebhookEventType::InvoiceCreated, 1).await;
    h.wait_for("timed out twice each", |messages| {
        messages.len() == 2 && messages.iter().all(|m| m.attempts.len() >= 2)
    })
    .await;
    for message in h.messages().await {
        for attempt in &message.attempts {
            assert_eq!(attempt.status_code, None);
            assert!(
                attempt.error.as_deref().unwrap().contains("timed out"),
                "{attempt:?}"
            );
        }
    }
    slow.set_mode(Mode::Ok);
    silent.set_mode(Mode::Ok);
    h.wait_for("delivered once answered", all(MessageStatus::Succeeded, 2))
        .await;
    worker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_never_has_more_attempts_in_flight_than_its_limit() {
    let receiver = Receiver::start(Mode::Slow(Duration::from_millis(100))).await;
    let h = Harness::new(fast(3)).await;
    h.endpoint(&receiver, &["event.price_calculated"]).await;
    for n in 0..8 {
        h.emit(WebhookEventType::EventPriceCalculated, n).await;
    }
    let worker = tally_webhooks::start(&h.billing);
    h.wait_for("delivered", all(MessageStatus::Succeeded, 8))
        .await;
    worker.shutdown().await;
    assert_eq!(receiver.received().len(), 8);
    assert!(
        receiver.most_open() <= 2,
        "{} at once",
        receiver.most_open()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_urls_are_refused_without_the_setting() {
    let receiver = Receiver::start(Mode::Ok).await;
    let h = Harness::new(fast(2)).await;
    let strict = h.with(WebhookConfig::default());
    for url in [
        receiver.url("/hooks"),
        format!("http://localhost:{}/hooks", receiver.address.port()),
        "http://[::1]/hooks".to_owned(),
        "http://169.254.169.254/latest".to_owned(),
    ] {
        let input = WebhookEndpointInput {
            url: url.clone(),
            event_types: vec!["invoice.created".into()],
            ..Default::default()
        };
        match strict.create_webhook_endpoint(&h.account, &input).await {
            Err(BillingError::Invalid(problems)) => {
                assert_eq!(problems.len(), 1, "{url}: {problems:?}");
                assert_eq!(
                    (problems[0].path.as_str(), problems[0].code),
                    ("/url", "private_address")
                );
            }
            other => panic!("{url}: {other:?}"),
        }
    }
    // Saved while allowed, delivered by a worker that does not allow it:
    // refused at delivery too, and the receiver hears nothing.
    h.endpoint(&receiver, &["invoice.created"]).await;
    let worker = tally_webhooks::start(&strict);
    h.emit(WebhookEventType::InvoiceCreated, 1).await;
    let messages = h
        .wait_for("refused", |m| m.len() == 1 && !m[0].attempts.is_empty())
        .await;
    worker.shutdown().await;
    let error = messages[0].attempts[0].error.as_deref().unwrap();
    assert!(error.contains("private"), "{error}");
    assert!(receiver.received().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_port_is_a_failed_attempt() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let h = Harness::new(fast(2)).await;
    h.endpoint_at(format!("http://{closed}/hooks"), &["invoice.created"])
        .await;
    let worker = tally_webhooks::start(&h.billing);
    h.emit(WebhookEventType::InvoiceCreated, 1).await;
    let messages = h.wait_for("failed", all(MessageStatus::Failed, 1)).await;
    worker.shutdown().await;
    for attempt in &messages[0].attempts {
        assert!(
            attempt.error.as_deref().unwrap().contains("connect"),
            "{attempt:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_is_tls_and_a_plain_http_receiver_fails_it() {
    let plain = Receiver::start(Mode::Ok).await;
    let h = Harness::new(fast(2)).await;
    h.endpoint_at(
        format!("https://{}/hooks", plain.address),
        &["invoice.created"],
    )
    .await;
    let worker = tally_webhooks::start(&h.billing);
    h.emit(WebhookEventType::InvoiceCreated, 1).await;
    let messages = h.wait_for("failed", all(MessageStatus::Failed, 1)).await;
    worker.shutdown().await;
    for attempt in &messages[0].attempts {
        let error = attempt.error.as_deref().unwrap();
        assert!(
            error.contains("tls") || error.contains("root certificate"),
            "{error}"
        );
        assert_eq!(attempt.status_code, None);
    }
    assert!(
        plain.received().is_empty(),
        "no request went out in clear text"
    );
}

//! Idempotency keys: claim, complete, replay, reuse with another request, in
//! flight, abandoned claims, expiry, account isolation, concurrent claims.

use std::sync::Arc;

use tally_event::Timestamp;

use super::fixtures::{at, new_account};
use crate::idempotency::{
    Claim, ClaimToken, IDEMPOTENCY_TTL_MS, IN_FLIGHT_TIMEOUT_MS, IdempotencyKey, NewClaim,
    RequestHash, StoredResponse,
};
use crate::ids::AccountId;
use crate::traits::Store;

const TASKS: usize = 24;

fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(text).unwrap()
}

fn hash(request: &str) -> RequestHash {
    RequestHash::of_parts(&[request.as_bytes()])
}

fn claim(text: &str, request: &str, now: Timestamp) -> NewClaim {
    NewClaim {
        key: key(text),
        request: hash(request),
        token: ClaimToken::random(),
        now,
    }
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
    }
}

async fn claim_at(store: &Arc<dyn Store>, account: &AccountId, claim: &NewClaim) -> Claim {
    store.claim_idempotency_key(account, claim).await.unwrap()
}

async fn complete(
    store: &Arc<dyn Store>,
    account: &AccountId,
    claim: &NewClaim,
    body: &str,
) -> bool {
    store
        .complete_idempotency_key(account, &claim.key, &claim.token, &response(body))
        .await
        .unwrap()
}

async fn release(store: &Arc<dyn Store>, account: &AccountId, claim: &NewClaim) -> bool {
    store
        .release_idempotency_key(account, &claim.key, &claim.token)
        .await
        .unwrap()
}

/// A claimed key is in flight until completed, then replays its response
/// byte for byte (binary bodies and a missing content type too); another
/// request under the key is a mismatch, in flight or completed; a completed
/// claim is neither completed again nor released.
pub async fn idempotency_claim_complete_replay(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let first = claim("order-42", "POST /v1/customers {}", at(1_000));
    assert_eq!(claim_at(store, &account, &first).await, Claim::Claimed);
    let retry = claim("order-42", "POST /v1/customers {}", at(2_000));
    assert_eq!(claim_at(store, &account, &retry).await, Claim::InFlight);
    let other = claim("order-42", "POST /v1/products {}", at(2_000));
    assert_eq!(claim_at(store, &account, &other).await, Claim::Mismatch);
    assert!(
        !complete(store, &account, &retry, "{}").await,
        "not the retry's claim"
    );

    let stored = StoredResponse {
        status: 400,
        content_type: None,
        body: vec![0, 159, 146, 150, b'{'],
    };
    let done = store
        .complete_idempotency_key(&account, &first.key, &first.token, &stored)
        .await
        .unwrap();
    assert!(done, "the claimant completes");
    let again = claim_at(store, &account, &retry).await;
    assert_eq!(again, Claim::Replay(stored.clone()));
    assert_eq!(claim_at(store, &account, &other).await, Claim::Mismatch);
    assert!(
        !complete(store, &account, &first, "{}").await,
        "completed once"
    );
    assert!(
        !release(store, &account, &first).await,
        "a response is kept"
    );
    assert_eq!(
        claim_at(store, &account, &retry).await,
        Claim::Replay(stored)
    );
}

/// A released claim frees the key at once: the next claim runs, and the
/// released token completes nothing.
pub async fn idempotency_release(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let first = claim("retry-me", "POST /v1/events {}", at(1_000));
    assert_eq!(claim_at(store, &account, &first).await, Claim::Claimed);
    let stranger = claim("retry-me", "POST /v1/events {}", at(1_000));
    assert!(!release(store, &account, &stranger).await, "not its claim");
    assert!(release(store, &account, &first).await);
    assert!(!release(store, &account, &first).await, "released once");

    let second = claim("retry-me", "POST /v1/events {\"other\":1}", at(1_500));
    assert_eq!(claim_at(store, &account, &second).await, Claim::Claimed);
    assert!(!complete(store, &account, &first, "late").await);
    assert!(complete(store, &account, &second, "second").await);
    let retry = claim("retry-me", "POST /v1/events {\"other\":1}", at(1_600));
    assert_eq!(
        claim_at(store, &account, &retry).await,
        Claim::Replay(response("second"))
    );
}

/// An in-flight claim older than the timeout was abandoned: the next claim
/// takes it over (with its own request), and the abandoned claimant can no
/// longer complete or release it.
pub async fn idempotency_abandoned_reclaim(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let crashed = claim("crash", "POST /v1/subscriptions {}", at(0));
    assert_eq!(claim_at(store, &account, &crashed).await, Claim::Claimed);
    let early = claim(
        "crash",
        "POST /v1/subscriptions {}",
        at(IN_FLIGHT_TIMEOUT_MS - 1),
    );
    assert_eq!(claim_at(store, &account, &early).await, Claim::InFlight);

    let late = claim("crash", "POST /v1/other {}", at(IN_FLIGHT_TIMEOUT_MS));
    assert_eq!(claim_at(store, &account, &late).await, Claim::Claimed);
    assert!(!complete(store, &account, &crashed, "stale").await);
    assert!(!release(store, &account, &crashed).await);
    let retry = claim("crash", "POST /v1/other {}", at(IN_FLIGHT_TIMEOUT_MS + 1));
    assert_eq!(claim_at(store, &account, &retry).await, Claim::InFlight);
    assert!(complete(store, &account, &late, "taken over").await);

    // A completed claim is never abandoned: it replays until it expires.
    let much_later = claim("crash", "POST /v1/other {}", at(10 * IN_FLIGHT_TIMEOUT_MS));
    assert_eq!(
        claim_at(store, &account, &much_later).await,
        Claim::Replay(response("taken over"))
    );
}

/// A key lives 24 hours from its claim: until then it replays (or refuses
/// another request), from then on it is free for any request.
pub async fn idempotency_expiry(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let first = claim("daily", "POST /v1/customers {}", at(5_000));
    assert_eq!(claim_at(store, &account, &first).await, Claim::Claimed);
    assert!(complete(store, &account, &first, "day one").await);
    let last_moment = at(5_000 + IDEMPOTENCY_TTL_MS - 1);
    let retry = claim("daily", "POST /v1/customers {}", last_moment);
    assert_eq!(
        claim_at(store, &account, &retry).await,
        Claim::Replay(response("day one"))
    );
    let other = claim("daily", "POST /v1/products {}", last_moment);
    assert_eq!(claim_at(store, &account, &other).await, Claim::Mismatch);

    let next_day = claim(
        "daily",
        "POST /v1/products {}",
        at(5_000 + IDEMPOTENCY_TTL_MS),
    );
    assert_eq!(claim_at(store, &account, &next_day).await, Claim::Claimed);
    assert!(!complete(store, &account, &first, "old").await);
    assert!(complete(store, &account, &next_day, "day two").await);
    let again = claim(
        "daily",
        "POST /v1/products {}",
        at(6_000 + IDEMPOTENCY_TTL_MS),
    );
    assert_eq!(
        claim_at(store, &account, &again).await,
        Claim::Replay(response("day two"))
    );
}

/// Deleting the expired rows removes those claimed at or before the cutoff,
/// in every account, completed or not, and keeps the others. The check's
/// instants lie long before the other checks' (which may share the database).
pub async fn idempotency_delete_expired(store: &Arc<dyn Store>) {
    let base = Timestamp::from_millis(1_000_000_000_000).unwrap(); // 2001-09-09
    let later = |ms: i64| Timestamp::from_millis(base.as_millis() + ms).unwrap();
    let accounts = [new_account(store).await, new_account(store).await];
    for account in &accounts {
        let done = claim("old-done", "POST /a", later(0));
        assert_eq!(claim_at(store, account, &done).await, Claim::Claimed);
        assert!(complete(store, account, &done, "old").await);
        let pending = claim("old-pending", "POST /a", later(10));
        assert_eq!(claim_at(store, account, &pending).await, Claim::Claimed);
        let kept = claim("kept", "POST /a", later(11));
        assert_eq!(claim_at(store, account, &kept).await, Claim::Claimed);
        assert!(complete(store, account, &kept, "kept").await);
    }
    let deleted = store
        .delete_expired_idempotency_keys(later(10))
        .await
        .unwrap();
    assert_eq!(deleted, 4, "two rows in each account");
    for account in &accounts {
        let kept = claim("kept", "POST /a", later(12));
        assert_eq!(
            claim_at(store, account, &kept).await,
            Claim::Replay(response("kept"))
        );
        let gone = claim("old-done", "POST /b", later(12));
        assert_eq!(claim_at(store, account, &gone).await, Claim::Claimed);
    }
    let none = store
        .delete_expired_idempotency_keys(later(10))
        .await
        .unwrap();
    assert_eq!(none, 0);
}

/// Keys are scoped by account: the same key in two accounts is two claims,
/// each replaying its own response, and no call of one account reaches the
/// other's row.
pub async fn idempotency_account_isolation(store: &Arc<dyn Store>) {
    let first = new_account(store).await;
    let second = new_account(store).await;
    let mine = claim("shared", "POST /v1/customers {}", at(1_000));
    let theirs = claim("shared", "POST /v1/products {}", at(1_000));
    assert_eq!(claim_at(store, &first, &mine).await, Claim::Claimed);
    assert_eq!(claim_at(store, &second, &theirs).await, Claim::Claimed);
    assert!(!complete(store, &second, &mine, "wrong account").await);
    assert!(!release(store, &second, &mine).await);
    assert!(complete(store, &first, &mine, "first").await);
    assert!(complete(store, &second, &theirs, "second").await);
    let retry_first = claim("shared", "POST /v1/customers {}", at(2_000));
    let retry_second = claim("shared", "POST /v1/products {}", at(2_000));
    assert_eq!(
        claim_at(store, &first, &retry_first).await,
        Claim::Replay(response("first"))
    );
    assert_eq!(
        claim_at(store, &second, &retry_second).await,
        Claim::Replay(response("second"))
    );
}

/// Many tasks claiming one key at once: exactly one wins, the others see it in
/// flight. Then the same race over the abandoned claim: one takes it over.
pub async fn idempotency_claim_concurrent(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    for now in [at(1_000), at(1_000 + IN_FLIGHT_TIMEOUT_MS)] {
        let mut tasks = Vec::new();
        for _ in 0..TASKS {
            let store = Arc::clone(store);
            let account = account.clone();
            tasks.push(tokio::spawn(async move {
                let race = claim("race", "POST /v1/subscriptions {}", now);
                store.claim_idempotency_key(&account, &race).await.unwrap()
            }));
        }
        let mut claimed = 0;
        for task in tasks {
            match task.await.unwrap() {
                Claim::Claimed => claimed += 1,
                Claim::InFlight => {}
                other => panic!("a concurrent claim got {other:?}"),
            }
        }
        assert_eq!(claimed, 1, "exactly one claim wins at {now}");
    }
}

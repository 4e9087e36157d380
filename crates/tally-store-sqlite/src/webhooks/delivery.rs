//! The delivery worker's calls: claims under a lease with a per-endpoint
//! limit, and the end of an attempt, fenced by its number. Each runs in one
//! write transaction: SQLite's one writer makes claims from any number of
//! processes on one file take turns.

use std::collections::HashMap;

use sqlx::SqliteConnection;
use tally_store::{
    AccountId, AttemptOutcome, ClaimRequest, ClaimedMessage, FinishedAttempt, MessageStatus,
    StoreResult, WebhookMessageId,
};

use super::rows::ClaimedRow;
use crate::error::db_err;

const ENTITY: &str = "webhook message";

/// Messages under a live lease, per endpoint.
const LEASED: &str = "\
SELECT account_id, endpoint_id, count(*) FROM webhook_messages
WHERE status = 'delivering' AND lease_until > ?1
GROUP BY account_id, endpoint_id";
/// Due messages, at most `?2` per endpoint, oldest due first.
const DUE: &str = "\
SELECT account_id, id, endpoint_id FROM (
    SELECT account_id, id, endpoint_id, next_attempt_at,
           row_number() OVER (PARTITION BY account_id, endpoint_id
                              ORDER BY next_attempt_at, id) AS place
    FROM webhook_messages
    WHERE status IN ('pending', 'delivering') AND next_attempt_at <= ?1
      AND (lease_until IS NULL OR lease_until <= ?1)
) WHERE place <= ?2
ORDER BY next_attempt_at, id";
const TAKE: &str = "\
UPDATE webhook_messages SET status = 'delivering', lease_until = ?3,
    attempt_count = attempt_count + 1, run_attempts = run_attempts + 1
WHERE account_id = ?1 AND id = ?2";
const CLAIMED: &str = "\
SELECT m.account_id, m.id, m.endpoint_id, w.url, w.secret, m.event_id, e.event_type, e.data,
       m.attempt_count, m.run_attempts
FROM webhook_messages m
JOIN webhook_endpoints w ON w.account_id = m.account_id AND w.id = m.endpoint_id
JOIN webhook_events e ON e.account_id = m.account_id AND e.id = m.event_id
WHERE m.account_id = ?1 AND m.id = ?2";
/// Ends the attempt `?3` if it still holds the claim.
const FINISH: &str = "\
UPDATE webhook_messages SET status = ?4, next_attempt_at = ?5, lease_until = NULL
WHERE account_id = ?1 AND id = ?2 AND status = 'delivering' AND attempt_count = ?3";
const RECORD_ATTEMPT: &str = "\
INSERT INTO webhook_attempts (account_id, message_id, attempt, started_at, duration_ms,
                              status_code, error)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// Claims due messages on `conn`, a write transaction.
pub(crate) async fn claim(
    conn: &mut SqliteConnection,
    request: &ClaimRequest,
) -> StoreResult<Vec<ClaimedMessage>> {
    let now = request.now.as_millis();
    let leased: Vec<(String, String, i64)> = sqlx::query_as(LEASED)
        .bind(now)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err(ENTITY))?;
    let mut busy: HashMap<(String, String), i64> = leased
        .into_iter()
        .map(|(account, endpoint, count)| ((account, endpoint), count))
        .collect();
    let due: Vec<(String, String, String)> = sqlx::query_as(DUE)
        .bind(now)
        .bind(i64::from(request.per_endpoint))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err(ENTITY))?;
    let mut claimed = Vec::new();
    for (account, id, endpoint) in due {
        if claimed.len() >= request.max_messages as usize {
            break;
        }
        let slots = busy.entry((account.clone(), endpoint)).or_default();
        if *slots >= i64::from(request.per_endpoint) {
            continue;
        }
        *slots += 1;
        sqlx::query(TAKE)
            .bind(&account)
            .bind(&id)
            .bind(request.lease_until.as_millis())
            .execute(&mut *conn)
            .await
            .map_err(db_err(ENTITY))?;
        let row: ClaimedRow = sqlx::query_as(CLAIMED)
            .bind(&account)
            .bind(&id)
            .fetch_one(&mut *conn)
            .await
            .map_err(db_err(ENTITY))?;
        claimed.push(ClaimedMessage::try_from(row)?);
    }
    Ok(claimed)
}

/// Records a finished attempt on `conn`, a write transaction; `false` when
/// the attempt no longer holds the claim.
pub(crate) async fn finish(
    conn: &mut SqliteConnection,
    account: &AccountId,
    id: &WebhookMessageId,
    finished: &FinishedAttempt,
) -> StoreResult<bool> {
    let (status, next) = match finished.outcome {
        AttemptOutcome::Succeeded => (MessageStatus::Succeeded, None),
        AttemptOutcome::RetryAt(at) => (MessageStatus::Pending, Some(at.as_millis())),
        AttemptOutcome::Failed => (MessageStatus::Failed, None),
    };
    let attempt = &finished.attempt;
    let done = sqlx::query(FINISH)
        .bind(account.as_str())
        .bind(id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(status.as_str())
        .bind(next)
        .execute(&mut *conn)
        .await
        .map_err(db_err(ENTITY))?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(RECORD_ATTEMPT)
        .bind(account.as_str())
        .bind(id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.started_at.as_millis())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(attempt.status_code.map(i64::from))
        .bind(attempt.error.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(db_err("webhook attempt"))?;
    Ok(true)
}

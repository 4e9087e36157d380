//! The delivery worker's calls: claims under a lease with a per-endpoint
//! limit, exact across replicas, and the end of an attempt, fenced by its
//! number.
//!
//! A claim locks the endpoints that have due messages with `FOR UPDATE SKIP
//! LOCKED`: while one replica counts an endpoint's leased messages and
//! claims more, no other replica claims for that endpoint (it skips it,
//! rather than waiting), so the per-endpoint limit holds across replicas.
//! The messages themselves are taken `FOR UPDATE SKIP LOCKED` too, so a
//! retry or a finish in progress is never waited on.

use sqlx::PgConnection;
use tally_store::{
    AccountId, AttemptOutcome, ClaimRequest, ClaimedMessage, FinishedAttempt, MessageStatus,
    StoreResult, WebhookMessageId,
};

use super::rows::{ClaimedRow, LockedEndpoint};
use crate::map_sqlx_error;

const DUE: &str = "m.status IN ('pending', 'delivering') AND m.next_attempt_at <= $1 \
     AND (m.lease_until IS NULL OR m.lease_until <= $1)";

/// `$1` now, `$2` how many, `$3` the per-endpoint limit. Endpoints already
/// at their limit are left out (they would take a place and claim nothing),
/// and the others come oldest due message first, so no endpoint waits behind
/// others forever.
fn endpoints_with_due_messages() -> String {
    format!(
        "SELECT w.account_id, w.id, w.url, w.secret FROM webhook_endpoints w \
         WHERE EXISTS (SELECT 1 FROM webhook_messages m WHERE m.account_id = w.account_id \
         AND m.endpoint_id = w.id AND {DUE}) \
         AND (SELECT count(*) FROM webhook_messages l WHERE l.account_id = w.account_id \
         AND l.endpoint_id = w.id AND l.status = 'delivering' AND l.lease_until > $1) < $3 \
         ORDER BY (SELECT min(m.next_attempt_at) FROM webhook_messages m \
         WHERE m.account_id = w.account_id AND m.endpoint_id = w.id AND {DUE}), \
         w.account_id, w.id \
         LIMIT $2 FOR UPDATE OF w SKIP LOCKED"
    )
}

const LEASED: &str = "SELECT count(*) FROM webhook_messages WHERE account_id = $1 \
     AND endpoint_id = $2 AND status = 'delivering' AND lease_until > $3";

/// `$1` now, `$2` account, `$3` endpoint, `$4` how many, `$5` the lease's end.
fn take_due() -> String {
    format!(
        "WITH due AS (SELECT m.account_id, m.id FROM webhook_messages m \
         WHERE m.account_id = $2 AND m.endpoint_id = $3 AND {DUE} \
         ORDER BY m.next_attempt_at, m.id LIMIT $4 FOR UPDATE SKIP LOCKED) \
         UPDATE webhook_messages t SET status = 'delivering', lease_until = $5, \
         attempt_count = t.attempt_count + 1, run_attempts = t.run_attempts + 1 \
         FROM due, webhook_events e \
         WHERE t.account_id = due.account_id AND t.id = due.id \
         AND e.account_id = t.account_id AND e.id = t.event_id \
         RETURNING t.id, t.event_id, e.event_type, e.data, t.attempt_count, t.run_attempts"
    )
}

/// Ends the attempt `$3` if it still holds the claim.
const FINISH: &str = "UPDATE webhook_messages SET status = $4, next_attempt_at = $5, \
     lease_until = NULL WHERE account_id = $1 AND id = $2 AND status = 'delivering' \
     AND attempt_count = $3";
const RECORD_ATTEMPT: &str = "INSERT INTO webhook_attempts (account_id, message_id, attempt, \
     started_at, duration_ms, status_code, error) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Claims due messages on `conn`, a transaction: the endpoint locks last
/// until it commits.
pub(crate) async fn claim(
    conn: &mut PgConnection,
    request: &ClaimRequest,
) -> StoreResult<Vec<ClaimedMessage>> {
    let now = request.now.as_millis();
    let endpoints: Vec<LockedEndpoint> = sqlx::query_as(&endpoints_with_due_messages())
        .bind(now)
        .bind(i64::from(request.max_messages))
        .bind(i64::from(request.per_endpoint))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    let take = take_due();
    let mut claimed = Vec::new();
    for endpoint in &endpoints {
        let room = request.max_messages as usize - claimed.len().min(request.max_messages as usize);
        if room == 0 {
            break;
        }
        let leased: i64 = sqlx::query_scalar(LEASED)
            .bind(&endpoint.account_id)
            .bind(&endpoint.id)
            .bind(now)
            .fetch_one(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        let free = (i64::from(request.per_endpoint) - leased).min(room as i64);
        if free <= 0 {
            continue;
        }
        let rows: Vec<ClaimedRow> = sqlx::query_as(&take)
            .bind(now)
            .bind(&endpoint.account_id)
            .bind(&endpoint.id)
            .bind(free)
            .bind(request.lease_until.as_millis())
            .fetch_all(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        for row in rows {
            claimed.push(row.into_claimed(endpoint)?);
        }
    }
    Ok(claimed)
}

/// Records a finished attempt on `conn`, a transaction; `false` when the
/// attempt no longer holds the claim.
pub(crate) async fn finish(
    conn: &mut PgConnection,
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
    let number = i32::try_from(attempt.attempt).unwrap_or(i32::MAX);
    let done = sqlx::query(FINISH)
        .bind(account.as_str())
        .bind(id.as_str())
        .bind(number)
        .bind(status.as_str())
        .bind(next)
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(RECORD_ATTEMPT)
        .bind(account.as_str())
        .bind(id.as_str())
        .bind(number)
        .bind(attempt.started_at.as_millis())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .bind(attempt.status_code.map(i32::from))
        .bind(attempt.error.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    Ok(true)
}

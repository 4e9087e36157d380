//! The outbox: webhook events written inside the transaction of the change
//! that causes them ([`insert_webhook_events`]), and their dispatch into
//! messages.

use sqlx::PgConnection;
use tally_event::Timestamp;
use tally_store::{AccountId, NewWebhookEvent, StoreResult, WebhookEndpointId, WebhookEventId};

use crate::map_sqlx_error;
use crate::rows::parse;

const INSERT_EVENT: &str = "INSERT INTO webhook_events (account_id, id, event_type, data, \
     created_at) VALUES ($1, $2, $3, $4::json, $5)";
/// Events another dispatcher holds are skipped, so replicas never dispatch
/// one event twice and never wait on each other.
const WAITING: &str = "SELECT account_id, id, event_type FROM webhook_events \
     WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT $1 FOR UPDATE SKIP LOCKED";
/// `FOR SHARE`: an endpoint's deletion waits for this dispatch to commit,
/// then deletes the messages it made.
const SUBSCRIBED: &str = "SELECT id FROM webhook_endpoints \
     WHERE account_id = $1 AND $2 = ANY (event_types) FOR SHARE";
const INSERT_MESSAGE: &str = "INSERT INTO webhook_messages (account_id, id, endpoint_id, \
     event_id, status, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $5) \
     ON CONFLICT (account_id, id) DO NOTHING";
const MARK_DISPATCHED: &str =
    "UPDATE webhook_events SET dispatched_at = $3 WHERE account_id = $1 AND id = $2";

/// Writes `events` to the outbox of `account` on `conn`, inside whatever
/// transaction `conn` is in: the one place every PostgreSQL write that
/// causes webhook events (an invoice created or finalized, a usage
/// threshold's state moved) records them, so they commit or roll back
/// with it.
pub(crate) async fn insert_webhook_events(
    conn: &mut PgConnection,
    account: &AccountId,
    events: &[NewWebhookEvent],
) -> StoreResult<()> {
    for event in events {
        sqlx::query(INSERT_EVENT)
            .bind(account.as_str())
            .bind(event.id.as_str())
            .bind(event.event_type.as_str())
            .bind(event.data.to_string())
            .bind(event.created_at.as_millis())
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
    }
    Ok(())
}

/// Dispatches up to `max_events` waiting events on `conn`, a transaction.
pub(crate) async fn dispatch(
    conn: &mut PgConnection,
    now: Timestamp,
    max_events: u32,
) -> StoreResult<u64> {
    let waiting: Vec<(String, String, String)> = sqlx::query_as(WAITING)
        .bind(i64::from(max_events))
        .fetch_all(&mut *conn)
        .await
        .map_err(map_sqlx_error)?;
    for (account, event, event_type) in &waiting {
        let event_id: WebhookEventId = parse(event.clone(), "webhook_events.id")?;
        let endpoints: Vec<String> = sqlx::query_scalar(SUBSCRIBED)
            .bind(account)
            .bind(event_type)
            .fetch_all(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
        for endpoint in endpoints {
            let endpoint: WebhookEndpointId = parse(endpoint, "webhook_endpoints.id")?;
            sqlx::query(INSERT_MESSAGE)
                .bind(account)
                .bind(tally_store::message_id(&event_id, &endpoint).as_str())
                .bind(endpoint.as_str())
                .bind(event)
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await
                .map_err(map_sqlx_error)?;
        }
        sqlx::query(MARK_DISPATCHED)
            .bind(account)
            .bind(event)
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
            .map_err(map_sqlx_error)?;
    }
    Ok(waiting.len() as u64)
}

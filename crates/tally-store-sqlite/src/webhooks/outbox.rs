//! The outbox: webhook events written inside the transaction of the change
//! that causes them ([`insert_webhook_events`]), and their dispatch into
//! messages.

use sqlx::SqliteConnection;
use tally_event::Timestamp;
use tally_store::{AccountId, NewWebhookEvent, StoreResult, WebhookEventId, message_id};

use super::rows::EndpointRow;
use crate::error::db_err;
use crate::rows::id;

const ENTITY: &str = "webhook event";

const INSERT_EVENT: &str = "\
INSERT INTO webhook_events (account_id, id, event_type, data, created_at)
VALUES (?1, ?2, ?3, ?4, ?5)";
const WAITING: &str = "\
SELECT account_id, id, event_type FROM webhook_events
WHERE dispatched_at IS NULL ORDER BY created_at, id LIMIT ?1";
const ENDPOINTS: &str = "\
SELECT id, description, url, secret, event_types, created_at, updated_at
FROM webhook_endpoints WHERE account_id = ?1";
const INSERT_MESSAGE: &str = "\
INSERT INTO webhook_messages (account_id, id, endpoint_id, event_id, status, next_attempt_at,
                              created_at)
VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5)
ON CONFLICT (account_id, id) DO NOTHING";
const MARK_DISPATCHED: &str = "\
UPDATE webhook_events SET dispatched_at = ?3 WHERE account_id = ?1 AND id = ?2";

/// Writes `events` to the outbox of `account` on `conn`, inside whatever
/// transaction `conn` is in: the one place every SQLite write that causes
/// webhook events (an invoice created or finalized, a usage threshold's
/// state moved) records them, so they commit or roll back with it.
pub(crate) async fn insert_webhook_events(
    conn: &mut SqliteConnection,
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
            .map_err(db_err(ENTITY))?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct WaitingRow {
    account_id: String,
    id: String,
    event_type: String,
}

/// Dispatches up to `max_events` waiting events on `conn` (a write
/// transaction: SQLite's one writer makes it the only dispatcher).
pub(crate) async fn dispatch(
    conn: &mut SqliteConnection,
    now: Timestamp,
    max_events: u32,
) -> StoreResult<u64> {
    let waiting: Vec<WaitingRow> = sqlx::query_as(WAITING)
        .bind(i64::from(max_events))
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err(ENTITY))?;
    for row in &waiting {
        let account = id(&row.account_id, AccountId::parse)?;
        let event = id(&row.id, WebhookEventId::parse)?;
        let endpoints: Vec<EndpointRow> = sqlx::query_as(ENDPOINTS)
            .bind(account.as_str())
            .fetch_all(&mut *conn)
            .await
            .map_err(db_err(ENTITY))?;
        for endpoint in endpoints {
            let endpoint = tally_store::WebhookEndpoint::try_from(endpoint)?;
            if !endpoint
                .event_types
                .iter()
                .any(|t| t.as_str() == row.event_type)
            {
                continue;
            }
            sqlx::query(INSERT_MESSAGE)
                .bind(account.as_str())
                .bind(message_id(&event, &endpoint.id).as_str())
                .bind(endpoint.id.as_str())
                .bind(event.as_str())
                .bind(now.as_millis())
                .execute(&mut *conn)
                .await
                .map_err(db_err("webhook message"))?;
        }
        sqlx::query(MARK_DISPATCHED)
            .bind(account.as_str())
            .bind(event.as_str())
            .bind(now.as_millis())
            .execute(&mut *conn)
            .await
            .map_err(db_err(ENTITY))?;
    }
    Ok(waiting.len() as u64)
}

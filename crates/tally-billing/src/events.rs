//! Listing and deleting stored events (`GET` / `DELETE /v1/events`).

use tally_event::{EventKey, EventType, RecordId};
use tally_store::{AccountId, EventQuery, EventVersion, Page, SortOrder, StoredEvent};

use crate::error::{BillingResult, Problems};
use crate::input::{Pagination, parse_date};
use crate::service::Billing;

/// Most record ids one delete may name.
pub const MAX_DELETE_RECORD_IDS: usize = 5000;

/// Filters of an event list, as sent. Every field narrows the result.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only events of this type; one that is not a valid event type is `Invalid`.
    pub event_type: Option<String>,
    /// A `cus_` id or an external id. One that names no customer matches nothing
    /// (an empty page, not an error: a filter is not a lookup).
    pub customer_id: Option<String>,
    /// `record_id__in`: record ids (strings; `485` and `"485"` are one id).
    pub record_ids: Option<Vec<String>>,
    /// Inclusive lower bound: ISO 8601, or the naive forms events accept.
    pub timestamp_gte: Option<String>,
    /// Inclusive upper bound, same forms.
    pub timestamp_lte: Option<String>,
    /// `asc` (default) or `desc`, by (timestamp, event type, record id).
    pub order: Option<String>,
    /// Which page (`take` at most 100).
    pub page: Pagination,
}

/// `DELETE /v1/events`: `{"matching": "record_ids", "event_type", "record_ids"}`.
/// Record ids may be strings or integers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = DeleteEventsRequest))]
#[serde(deny_unknown_fields)]
pub struct DeleteEvents {
    /// Required: `record_ids`, the only way of matching there is.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::Matching, required = true))]
    pub matching: Option<String>,
    /// Required: the type of the events to delete.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = crate::schema::EventTypeText, required = true))]
    pub event_type: Option<String>,
    /// At most [`MAX_DELETE_RECORD_IDS`] record ids, strings or integers; unknown ones
    /// are not an error.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<crate::schema::RecordIdInput>, max_items = 5000))]
    pub record_ids: Vec<serde_json::Value>,
}

impl Billing {
    /// A page of the account's events with the total matching.
    pub async fn list_events(
        &self,
        account: &AccountId,
        filter: &EventFilter,
    ) -> BillingResult<Page<StoredEvent>> {
        let mut query = event_query(filter)?;
        if let Some(reference) = &filter.customer_id {
            match self.find_customer(account, reference).await {
                Ok(customer) => query.customer_id = Some(customer.id),
                Err(crate::BillingError::NotFound { .. }) => {
                    return Ok(Page {
                        total: 0,
                        items: Vec::new(),
                    });
                }
                Err(error) => return Err(error),
            }
        }
        Ok(self.store.list_events(account, &query).await?)
    }

    /// Records the deletion of events by record ids (at most 5000): they have
    /// no current version any more, and their history stays (reads as of an
    /// earlier sequence still see them). Returns how many had a current
    /// version.
    pub async fn delete_events(
        &self,
        account: &AccountId,
        request: &DeleteEvents,
    ) -> BillingResult<u64> {
        let (event_type, record_ids) = request.keys()?;
        let deleted = self
            .store
            .delete_events(account, &event_type, &record_ids)
            .await?;
        self.recheck_crossed(account).await;
        Ok(deleted)
    }

    /// Erases every version of events by record ids (at most 5000), deleted
    /// or not: the way to remove personal data for good. Reads as of any past
    /// sequence no longer see them either (docs/storage.md, "Versions").
    /// Returns how many keys had any version.
    pub async fn purge_events(
        &self,
        account: &AccountId,
        request: &DeleteEvents,
    ) -> BillingResult<u64> {
        let (event_type, record_ids) = request.keys()?;
        let purged = self
            .store
            .purge_events(account, &event_type, &record_ids)
            .await?;
        self.recheck_crossed(account).await;
        Ok(purged)
    }

    /// Every stored version of one event, in sequence order, with what became
    /// of each; `NotFound` when the key has none.
    pub async fn event_history(
        &self,
        account: &AccountId,
        event_type: &str,
        record_id: &str,
    ) -> BillingResult<Vec<EventVersion>> {
        let mut problems = Problems::default();
        let event_type = self::event_type(event_type, "/event_type", &mut problems);
        let record_id = record_id_text(record_id, "/record_id", &mut problems);
        let key = problems.finish_with(event_type.zip(record_id))?;
        let key = EventKey {
            event_type: key.0,
            record_id: key.1,
        };
        let history = self.store.event_history(account, &key).await?;
        if history.is_empty() {
            return Err(crate::BillingError::not_found("event"));
        }
        Ok(history)
    }
}

impl DeleteEvents {
    /// The event type and record ids named, or every problem with them.
    fn keys(&self) -> BillingResult<(EventType, Vec<RecordId>)> {
        let mut problems = Problems::default();
        if self.matching.as_deref() != Some("record_ids") {
            problems.push("/matching", "invalid_value", "matching must be record_ids");
        }
        let event_type = match &self.event_type {
            Some(text) => event_type(text, "/event_type", &mut problems),
            None => {
                problems.push("/event_type", "required", "event_type is required");
                None
            }
        };
        if self.record_ids.len() > MAX_DELETE_RECORD_IDS {
            problems.push(
                "/record_ids",
                "too_many_record_ids",
                format!("at most {MAX_DELETE_RECORD_IDS} record ids per call"),
            );
        }
        let record_ids: Vec<RecordId> = self
            .record_ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| record_id_json(id, &format!("/record_ids/{i}"), &mut problems))
            .collect();
        let event_type = problems.finish_with(event_type)?;
        Ok((event_type, record_ids))
    }
}

/// The store query of a filter, the customer left to resolve.
fn event_query(filter: &EventFilter) -> BillingResult<EventQuery> {
    let mut problems = Problems::default();
    let mut query = EventQuery {
        page: filter.page.check(&mut problems),
        ..EventQuery::default()
    };
    query.event_type = filter
        .event_type
        .as_deref()
        .and_then(|text| event_type(text, "/event_type", &mut problems));
    query.record_ids = filter.record_ids.as_ref().map(|ids| {
        ids.iter()
            .enumerate()
            .filter_map(|(i, id)| record_id_text(id, &format!("/record_ids/{i}"), &mut problems))
            .collect()
    });
    query.timestamp_gte = parse_date(
        filter.timestamp_gte.as_deref(),
        "/timestamp_gte",
        &mut problems,
    )
    .unwrap_or_default();
    query.timestamp_lte = parse_date(
        filter.timestamp_lte.as_deref(),
        "/timestamp_lte",
        &mut problems,
    )
    .unwrap_or_default();
    query.order = match filter.order.as_deref() {
        None | Some("asc") => SortOrder::Asc,
        Some("desc") => SortOrder::Desc,
        Some(_) => {
            problems.push("/order", "invalid_value", "order must be asc or desc");
            SortOrder::Asc
        }
    };
    problems.finish()?;
    Ok(query)
}

fn event_type(text: &str, path: &str, problems: &mut Problems) -> Option<EventType> {
    EventType::parse(text)
        .map_err(|error| problems.push(path, "invalid_event_type", error.to_string()))
        .ok()
}

fn record_id_text(text: &str, path: &str, problems: &mut Problems) -> Option<RecordId> {
    RecordId::parse(text)
        .map_err(|error| problems.push(path, "invalid_record_id", error.to_string()))
        .ok()
}

/// A record id as JSON: a string, or an integer (the same id as its digits).
fn record_id_json(
    value: &serde_json::Value,
    path: &str,
    problems: &mut Problems,
) -> Option<RecordId> {
    match value {
        serde_json::Value::String(text) => record_id_text(text, path, problems),
        serde_json::Value::Number(number) => match number.to_string().parse::<i128>() {
            Ok(integer) => Some(RecordId::from_integer(integer)),
            Err(_) => {
                problems.push(
                    path,
                    "invalid_record_id",
                    "a numeric record id must be an integer",
                );
                None
            }
        },
        _ => {
            problems.push(
                path,
                "invalid_record_id",
                "record ids are strings or integers",
            );
            None
        }
    }
}

//! The events explorer (`GET /v1/events`'s filters in a form) and deletion
//! by record id (`DELETE /v1/events`'s use case), after a confirmation page.

use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tally_billing::{BillingError, DeleteEvents, EventFilter, Pagination, Problem};
use tally_store::{Page, StoredEvent};

use super::pager::Pager;
use super::render::{self, Section};
use super::session::{self, Session};
use super::{Console, bad_query, page, redirect, unavailable};

/// Events a page lists.
const PER_PAGE: u32 = 50;
const EXPLORER: &str = "/console/events";

/// The explorer's form, as sent (`GET`): every field narrows the search, a
/// blank one does not count.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub(super) struct Search {
    event_type: String,
    /// A `cus_` id or an external id.
    customer: String,
    record_id: String,
    /// Inclusive bounds, in the forms of the API's date inputs.
    from: String,
    to: String,
    page: Option<String>,
    /// How many events a deletion just removed (the redirect after it).
    deleted: Option<String>,
}

impl Search {
    fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("event_type", &self.event_type),
            ("customer", &self.customer),
            ("record_id", &self.record_id),
            ("from", &self.from),
            ("to", &self.to),
        ]
    }

    /// The billing filter of the search: newest first, one page.
    fn filter(&self, page: Pagination) -> EventFilter {
        EventFilter {
            event_type: given(&self.event_type),
            customer_id: given(&self.customer),
            record_ids: given(&self.record_id).map(|id| vec![id]),
            timestamp_gte: given(&self.from),
            timestamp_lte: given(&self.to),
            order: Some("desc".to_owned()),
            page,
        }
    }

    /// The explorer's address for page `number` of this search.
    fn link(&self, number: u32) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in self.fields() {
            if let Some(value) = given(value) {
                query.append_pair(name, &value);
            }
        }
        query.append_pair("page", &number.to_string());
        format!("{EXPLORER}?{}", query.finish())
    }
}

/// The text of a field filled in, trimmed.
fn given(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// One event, named as deletion names it: `?event_type=…&record_id=…`, and
/// the CSRF token when posted.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EventKey {
    event_type: String,
    record_id: String,
    csrf: String,
}

impl EventKey {
    fn delete_link(event: &StoredEvent) -> String {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("event_type", event.event_type.as_str())
            .append_pair("record_id", event.record.id().as_str())
            .finish();
        format!("{EXPLORER}/delete?{query}")
    }
}

/// The result of a search: a page of events, or what is wrong with it.
enum Found {
    Events(Page<StoredEvent>),
    Invalid(Vec<Problem>),
}

/// `GET /console/events`: the search form and a page of the events it finds,
/// newest first.
pub(super) async fn explorer(
    State(console): State<Console>,
    session: Session,
    search: Result<Query<Search>, QueryRejection>,
) -> Response {
    let Query(search) = match search {
        Ok(search) => search,
        Err(rejection) => return bad_query(&rejection),
    };
    let Some(pager) = Pager::parse(search.page.as_deref(), PER_PAGE) else {
        let problem = Problem::new("/page", "out_of_range", "must be a whole number from 1");
        let found = Found::Invalid(vec![problem]);
        let markup = explorer_page(&session, &search, &found, Pager::first(PER_PAGE));
        return page(StatusCode::BAD_REQUEST, markup);
    };
    let filter = search.filter(pager.pagination());
    let (status, found) = match console
        .billing
        .list_events(session.account(), &filter)
        .await
    {
        Ok(events) => (StatusCode::OK, Found::Events(events)),
        Err(BillingError::Invalid(problems)) => (StatusCode::BAD_REQUEST, Found::Invalid(problems)),
        Err(error) => return unavailable(&error),
    };
    page(status, explorer_page(&session, &search, &found, pager))
}

/// `GET /console/events/delete?event_type=…&record_id=…`: what deleting
/// would remove, and the form that does it.
pub(super) async fn confirm(
    State(console): State<Console>,
    session: Session,
    key: Result<Query<EventKey>, QueryRejection>,
) -> Response {
    let Query(key) = match key {
        Ok(key) => key,
        Err(rejection) => return bad_query(&rejection),
    };
    let filter = EventFilter {
        event_type: Some(key.event_type.clone()),
        record_ids: Some(vec![key.record_id.clone()]),
        page: Pagination::new(1, 0),
        ..EventFilter::default()
    };
    let event = match console
        .billing
        .list_events(session.account(), &filter)
        .await
    {
        Ok(found) => found.items.into_iter().next(),
        Err(BillingError::Invalid(problems)) => return invalid(&session, &problems),
        Err(error) => return unavailable(&error),
    };
    let Some(event) = event else {
        return super::not_found("current event with this type and record id");
    };
    page(StatusCode::OK, confirm_page(&session, &event))
}

/// `POST /console/events/delete`: deletes the event as `DELETE /v1/events`
/// does, when the form carries the session's CSRF token.
pub(super) async fn delete(
    State(console): State<Console>,
    session: Session,
    form: Result<Form<EventKey>, FormRejection>,
) -> Response {
    let key = form.map(|Form(key)| key).unwrap_or_default();
    if !session.csrf_matches(&console, &key.csrf) {
        return session::form_refused();
    }
    let request = DeleteEvents {
        matching: Some("record_ids".to_owned()),
        event_type: Some(key.event_type),
        record_ids: vec![serde_json::Value::String(key.record_id)],
    };
    match console
        .billing
        .delete_events(session.account(), &request)
        .await
    {
        Ok(deleted) => {
            tracing::info!(account_id = %session.account(), deleted, "console deleted events");
            redirect(&format!("{EXPLORER}?deleted={deleted}"))
        }
        Err(BillingError::Invalid(problems)) => invalid(&session, &problems),
        Err(error) => unavailable(&error),
    }
}

fn invalid(session: &Session, problems: &[Problem]) -> Response {
    let body = html! {
        h1 { "Not an event" }
        (problem_list(problems))
        p { a href=(EXPLORER) { "Back to the events" } }
    };
    let markup = render::signed_in("Not an event", Section::Events, session, body);
    page(StatusCode::BAD_REQUEST, markup)
}

fn explorer_page(session: &Session, search: &Search, found: &Found, pager: Pager) -> Markup {
    let body = html! {
        header { h1 { "Events" } }
        @if let Some(deleted) = search.deleted.as_deref().and_then(|n| n.parse::<u64>().ok()) {
            p.notice role="status" {
                @match deleted {
                    0 => "Nothing was deleted: no current event had this type and record id.",
                    1 => "The event was deleted. It no longer counts from now on.",
                    n => { (n) " events were deleted. They no longer count from now on." }
                }
            }
        }
        (search_form(search))
        @match found {
            Found::Invalid(problems) => (problem_list(problems)),
            Found::Events(events) => (results(events, search, pager)),
        }
    };
    render::signed_in("Events", Section::Events, session, body)
}

fn search_form(search: &Search) -> Markup {
    let field = |name: &str, label: &str, value: &str, hint: Option<&str>| {
        let hint_id = format!("{name}-hint");
        html! {
            div.field {
                label for=(name) { (label) }
                @if let Some(hint) = hint {
                    input #(name) type="text" name=(name) value=(value) aria-describedby=(hint_id);
                    p.hint #(hint_id) { (hint) }
                } @else {
                    input #(name) type="text" name=(name) value=(value);
                }
            }
        }
    };
    let date = "2024-12-01, 2024-12-01T10:00:00Z or 2024-12-01 10:00:00 (UTC)";
    html! {
        form.card.search method="get" action=(EXPLORER) role="search" aria-label="Search events" {
            div.fields {
                (field("event_type", "Event type", &search.event_type, None))
                (field("customer", "Customer", &search.customer, Some("A cus_ id or an external id")))
                (field("record_id", "Record id", &search.record_id, None))
                (field("from", "From (inclusive)", &search.from, Some(date)))
                (field("to", "To (inclusive)", &search.to, Some(date)))
            }
            div.actions {
                button type="submit" { "Search" }
                a href=(EXPLORER) { "Clear" }
            }
        }
    }
}

fn problem_list(problems: &[Problem]) -> Markup {
    html! {
        div.error role="alert" {
            p { "The search was not run:" }
            ul {
                @for problem in problems {
                    li { (field_label(&problem.path)) ": " (problem.message) }
                }
            }
        }
    }
}

/// The form's name of a problem's field.
fn field_label(path: &str) -> &'static str {
    match path {
        "/event_type" => "Event type",
        "/customer_id" => "Customer",
        "/timestamp_gte" => "From",
        "/timestamp_lte" => "To",
        "/page" | "/take" | "/skip" => "Page",
        path if path.starts_with("/record_id") => "Record id",
        _ => "Search",
    }
}

fn results(events: &Page<StoredEvent>, search: &Search, pager: Pager) -> Markup {
    html! {
        section aria-labelledby="results" {
            h2 #results {
                (events.total) @if events.total == 1 { " event" } @else { " events" }
                ", newest first"
            }
            @if events.items.is_empty() {
                p.empty { "No event on this page." }
            } @else {
                div.scroll role="group" tabindex="0" aria-labelledby="results" {
                    table.events {
                        thead { tr {
                            th scope="col" { "Id" }
                            th scope="col" { "Event type" }
                            th scope="col" { "Record id" }
                            th scope="col" { "Customer" }
                            th scope="col" { "Timestamp" }
                            th scope="col" { "Record" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for event in &events.items { (event_row(event)) }
                        }
                    }
                }
            }
            (pager.nav(events.total, |n| search.link(n)))
        }
    }
}

fn event_row(event: &StoredEvent) -> Markup {
    let record_id = event.record.id().as_str();
    html! {
        tr data-event=(event.id) {
            td { code { (event.id) } }
            td data-event-type { (event.event_type.as_str()) }
            th scope="row" data-record-id { (record_id) }
            td { a href={ "/console/customers/" (event.customer_id) } { code { (event.customer_id) } } }
            td.nowrap { (render::instant(event.timestamp)) }
            td { code.record data-record { (event.record.to_json_string()) } }
            td {
                a.button.danger href=(EventKey::delete_link(event)) {
                    "Delete" span.visually-hidden { " event " (record_id) }
                }
            }
        }
    }
}

fn confirm_page(session: &Session, event: &StoredEvent) -> Markup {
    let body = html! {
        header { h1 { "Delete this event?" } }
        dl.details.card {
            dt { "Event type" } dd { (event.event_type.as_str()) }
            dt { "Record id" } dd { (event.record.id().as_str()) }
            dt { "Customer" } dd { code { (event.customer_id) } }
            dt { "Timestamp" } dd { (render::instant(event.timestamp)) }
            dt { "Id" } dd { code { (event.id) } }
            dt { "Record" } dd { code.record { (event.record.to_json_string()) } }
        }
        p {
            "The event stops counting from now on: usage, draft invoices and "
            "thresholds no longer include it. Its history is kept, so finalized "
            "invoices and reads as of an earlier time still see it."
        }
        form method="post" action={ (EXPLORER) "/delete" } {
            input type="hidden" name="event_type" value=(event.event_type.as_str());
            input type="hidden" name="record_id" value=(event.record.id().as_str());
            input type="hidden" name="csrf" value=(session.csrf);
            div.actions {
                button.danger type="submit" { "Delete event" }
                a href=(EXPLORER) { "Cancel" }
            }
        }
    };
    render::signed_in("Delete an event", Section::Events, session, body)
}

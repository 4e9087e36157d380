//! The customer list, with each customer's usage this period, and a
//! customer's page.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use tally_billing::{BillingError, UsageSummary};
use tally_event::Timestamp;
use tally_store::{Customer, CustomerId, Page};

use super::pager::Pager;
use super::render::{self, Section};
use super::session::Session;
use super::{Console, bad_query, not_found, page, unavailable};
use crate::{CustomerPages, ExplorerQuery};

/// Customers a page lists.
pub(super) const PER_PAGE: u32 = 50;

/// `?page=N`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ListQuery {
    page: Option<String>,
}

/// A customer and its usage for the current period, or why it has none.
struct Row {
    customer: Customer,
    usage: Result<Vec<UsageSummary>, &'static str>,
}

/// `GET /console`: a page of the account's customers, oldest first, each
/// with the quantity of every aggregator it is billed on now, read as
/// `GET /v1/customers/{id}/usage` reads it.
pub(super) async fn list(
    State(console): State<Console>,
    session: Session,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Response {
    let Query(query) = match query {
        Ok(query) => query,
        Err(rejection) => return bad_query(&rejection),
    };
    let Some(pager) = Pager::parse(query.page.as_deref(), PER_PAGE) else {
        return bad_page(&session);
    };
    let account = session.account();
    let customers = match console
        .billing
        .list_customers(account, pager.pagination())
        .await
    {
        Ok(customers) => customers,
        Err(error) => return unavailable(&error),
    };
    let Page { total, items } = customers;
    let mut rows = Vec::with_capacity(items.len());
    for customer in items {
        let usage = match console
            .billing
            .customer_usage(account, customer.id.as_str())
            .await
        {
            Ok(usage) => Ok(usage),
            Err(BillingError::Evaluation(_)) => Err("Could not be computed"),
            Err(BillingError::NotFound { .. }) => Err("Deleted"),
            Err(error) => return unavailable(&error),
        };
        rows.push(Row { customer, usage });
    }
    page(StatusCode::OK, list_page(&session, &rows, total, pager))
}

/// `GET /console/customers/{id}`: the customer's page as the portal shows
/// it, for a customer of the signed-in account.
pub(super) async fn detail(
    State(console): State<Console>,
    session: Session,
    Path(id): Path<String>,
) -> Response {
    match customer_pages(&session, &id) {
        Some(pages) => crate::secure(pages.home(&console.billing).await),
        None => not_found("customer"),
    }
}

/// `GET /console/customers/{id}/subscriptions/{sub}`: the explorer.
pub(super) async fn subscription(
    State(console): State<Console>,
    session: Session,
    Path((id, subscription)): Path<(String, String)>,
    query: Result<Query<ExplorerQuery>, QueryRejection>,
) -> Response {
    let Some(pages) = customer_pages(&session, &id) else {
        return not_found("customer");
    };
    let query = query.map(|Query(query)| query).unwrap_or_default();
    crate::secure(
        pages
            .subscription(&console.billing, &subscription, query)
            .await,
    )
}

/// `GET /console/customers/{id}/invoices/{inv}`: the invoice and its explorer.
pub(super) async fn invoice(
    State(console): State<Console>,
    session: Session,
    Path((id, invoice)): Path<(String, String)>,
    query: Result<Query<ExplorerQuery>, QueryRejection>,
) -> Response {
    let Some(pages) = customer_pages(&session, &id) else {
        return not_found("customer");
    };
    let query = query.map(|Query(query)| query).unwrap_or_default();
    crate::secure(pages.invoice(&console.billing, &invoice, query).await)
}

/// `GET …/subscriptions/{sub}/products/{product}/events.csv`.
pub(super) async fn subscription_csv(
    State(console): State<Console>,
    session: Session,
    Path((id, subscription, product)): Path<(String, String, String)>,
) -> Response {
    match customer_pages(&session, &id) {
        Some(pages) => crate::secure(
            pages
                .subscription_csv(&console.billing, &subscription, &product)
                .await,
        ),
        None => not_found("customer"),
    }
}

/// `GET …/invoices/{inv}/products/{product}/events.csv`.
pub(super) async fn invoice_csv(
    State(console): State<Console>,
    session: Session,
    Path((id, invoice, product)): Path<(String, String, String)>,
) -> Response {
    match customer_pages(&session, &id) {
        Some(pages) => crate::secure(
            pages
                .invoice_csv(&console.billing, &invoice, &product)
                .await,
        ),
        None => not_found("customer"),
    }
}

/// `GET …/invoices/{inv}/events.zip`.
pub(super) async fn invoice_zip(
    State(console): State<Console>,
    session: Session,
    Path((id, invoice)): Path<(String, String)>,
) -> Response {
    match customer_pages(&session, &id) {
        Some(pages) => crate::secure(pages.invoice_zip(&console.billing, &invoice).await),
        None => not_found("customer"),
    }
}

/// The pages of customer `id` of the session's account, under
/// `/console/customers/{id}`: the account always comes from the session.
fn customer_pages(session: &Session, id: &str) -> Option<CustomerPages> {
    let customer = CustomerId::parse(id).ok()?;
    Some(CustomerPages {
        account: session.account().clone(),
        base: format!("/console/customers/{}", customer.as_str()),
        customer,
    })
}

fn bad_page(session: &Session) -> Response {
    let body = html! {
        h1 { "Customers" }
        p.error role="alert" { "The page must be a whole number from 1." }
        p { a href="/console" { "First page" } }
    };
    let markup = render::signed_in("Customers", Section::Customers, session, body);
    page(StatusCode::BAD_REQUEST, markup)
}

fn list_page(session: &Session, rows: &[Row], total: u64, pager: Pager) -> Markup {
    let body = html! {
        header {
            h1 { "Customers" }
            p.muted { (total) @if total == 1 { " customer" } @else { " customers" } }
        }
        @if rows.is_empty() {
            p.empty { "No customer on this page." }
        } @else {
            div.scroll role="group" tabindex="0" aria-label="Customers" {
                table.customers {
                    thead { tr {
                        th scope="col" { "Customer" }
                        th scope="col" { "External id" }
                        th scope="col" { "Usage this period" }
                    } }
                    tbody {
                        @for row in rows { (customer_row(row)) }
                    }
                }
            }
        }
        (pager.nav(total, |n| format!("/console?page={n}")))
    };
    render::signed_in("Customers", Section::Customers, session, body)
}

fn customer_row(row: &Row) -> Markup {
    let customer = &row.customer;
    let name = customer
        .name
        .as_deref()
        .or(customer.external_id.as_deref())
        .unwrap_or(customer.id.as_str());
    html! {
        tr data-customer=(customer.id) {
            th scope="row" {
                a href={ "/console/customers/" (customer.id) } { (name) }
                br;
                code.muted { (customer.id) }
            }
            td { (customer.external_id.as_deref().unwrap_or("–")) }
            td {
                @match &row.usage {
                    Ok(usage) if usage.is_empty() => span.muted { "No aggregator" },
                    Ok(usage) => ul.usage {
                        @for summary in usage { (usage_item(summary)) }
                    },
                    Err(reason) => span.muted { (reason) },
                }
            }
        }
    }
}

fn usage_item(summary: &UsageSummary) -> Markup {
    let start = summary.period.start();
    let last = Timestamp::from_millis(summary.period.end().as_millis() - 1).unwrap_or(start);
    html! {
        li data-aggregator=(summary.aggregator_id) {
            span.name { (summary.name) } ": "
            span.num data-usage { (summary.total) }
            @if let Some(unit) = &summary.unit_name { " " (unit) }
            span.muted.period { (render::day(start)) " – " (render::day(last)) }
        }
    }
}

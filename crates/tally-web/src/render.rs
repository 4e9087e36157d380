//! The portal's HTML, written with maud: the templates are Rust, checked when
//! the crate builds, and every value spliced in is escaped.

mod chart;
mod explorer;

pub use explorer::explorer;

use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;
use tally_billing::{InvoiceLine, InvoiceView, PeriodPreview};
use tally_event::{Period, Timestamp};
use tally_pricing::{Currency, Money};
use tally_store::Customer;

use crate::view::{PortalView, SubscriptionView};

/// The customer's page; every link starts with `base` (`/portal/{token}`).
pub fn portal(view: &PortalView, base: &str) -> Markup {
    let name = customer_name(&view.customer);
    layout(
        name,
        html! {
            header {
                p.eyebrow { "Billing portal" }
                h1 { (name) }
            }
            section aria-labelledby="subscriptions" {
                h2 #subscriptions { "Subscriptions" }
                @if view.subscriptions.is_empty() {
                    p.empty { "No subscription." }
                }
                @for subscription in &view.subscriptions {
                    (subscription_card(subscription, base))
                }
            }
            section aria-labelledby="invoices" {
                h2 #invoices { "Invoices" }
                (invoices(&view.invoices, base))
            }
        },
    )
}

/// How a customer is named on its pages: its name, else its external id,
/// else its `cus_` id.
pub fn customer_name(customer: &Customer) -> &str {
    customer
        .name
        .as_deref()
        .or(customer.external_id.as_deref())
        .unwrap_or(customer.id.as_str())
}

/// The page of a request the pages refuse (a bad filter): what was wrong,
/// and the way back.
pub fn bad_request(problems: &[(String, String)], back: &str) -> Markup {
    layout(
        "Not understood",
        html! {
            header { h1 { "Not understood" } }
            ul {
                @for (path, message) in problems {
                    li { code { (path) } ": " (message) }
                }
            }
            p { a href=(back) { "Back" } }
        },
    )
}

/// The page of a link that does not open (expired, altered, malformed).
pub fn refused() -> Markup {
    message(
        "Link not valid",
        "This billing portal link has expired or is not valid. Ask for a new one.",
    )
}

/// The page of a link whose customer no longer exists.
pub fn gone() -> Markup {
    message("Not found", "This customer no longer exists.")
}

/// The page of a subscription, invoice or product the customer does not
/// have (or that does not exist: the two are not told apart).
pub fn not_found() -> Markup {
    message("Not found", "There is nothing here for this customer.")
}

/// The page of an address that asked for too many pages.
pub fn too_many_requests(retry_after_secs: u64) -> Markup {
    message(
        "Too many requests",
        &format!(
            "Too many pages were asked for from this address. Try again in {retry_after_secs} seconds."
        ),
    )
}

/// The page of a failure to read the customer's data.
pub fn unavailable() -> Markup {
    message(
        "Unavailable",
        "The billing portal cannot be shown right now. Try again in a moment.",
    )
}

fn message(title: &str, text: &str) -> Markup {
    layout(
        title,
        html! {
            header { h1 { (title) } }
            p { (text) }
        },
    )
}

fn layout(title: &str, body: Markup) -> Markup {
    let body = html! { body { main { (body) } } };
    document(
        &format!("{title} · Billing"),
        "/portal/assets/portal.css",
        body,
    )
}

/// A whole page: the head every page shares (no indexing, one stylesheet),
/// then `body`, the `<body>` element itself.
pub(crate) fn document(title: &str, stylesheet: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) }
                link rel="stylesheet" href=(stylesheet);
            }
            (body)
        }
    }
}

fn subscription_card(subscription: &SubscriptionView, base: &str) -> Markup {
    let explore = format!("{base}/subscriptions/{}", subscription.id);
    let heading = format!("period-{}", subscription.id);
    html! {
        article.card data-subscription=(subscription.id) {
            @match &subscription.current {
                Some(current) => {
                    h3 #(heading) { "Current period: " (period(current.period)) }
                    (period_lines(current, &heading))
                    @for progress in &subscription.charts {
                        (chart::usage_chart(progress, &format!("{}-{}", subscription.id, progress.aggregator_id)))
                    }
                    p { a.button href=(explore) { "Explore consumption" } }
                }
                None => {
                    h3 { "Not started" }
                }
            }
            p.muted { "Subscription " code { (subscription.id) } }
        }
    }
}

/// A table box that scrolls sideways is focusable (`tabindex`), so a
/// keyboard can scroll it, and is named by its heading.
fn period_lines(current: &PeriodPreview, heading: &str) -> Markup {
    html! {
        div.scroll role="group" tabindex="0" aria-labelledby=(heading) {
            table {
                thead { tr { th scope="col" { "Product" } th.num scope="col" { "Quantity" } th.num scope="col" { "Amount so far" } } }
                tbody {
                    @for line in &current.lines {
                        (line_row(line, &current.currency))
                    }
                }
                tfoot {
                    tr {
                        th scope="row" colspan="2" { "Total so far (tax included)" }
                        td.num data-total { (money(current.totals.total_amount, &current.currency)) }
                    }
                }
            }
        }
    }
}

fn line_row(line: &InvoiceLine, currency: &str) -> Markup {
    html! {
        tr data-product=(line.product_id) {
            td {
                (line.product_name)
                @if let Some(group) = &line.price_group {
                    " " span.muted { "(" (group.name) ")" }
                }
            }
            td.num data-quantity { (quantity(line.quantity)) }
            td.num data-amount { (money(line.amount_excluding_tax, currency)) }
        }
    }
}

fn invoices(invoices: &[InvoiceView], base: &str) -> Markup {
    html! {
        @if invoices.is_empty() {
            p.empty { "No invoice yet." }
        } @else {
            div.scroll role="group" tabindex="0" aria-labelledby="invoices" {
                table {
                    thead { tr {
                        th scope="col" { "Number" } th scope="col" { "Period" }
                        th scope="col" { "Status" } th.num scope="col" { "Total" }
                    } }
                    tbody {
                        @for invoice in invoices {
                            tr {
                                td { a data-number href={(base) "/invoices/" (invoice.id)} { (invoice.number) } }
                                td { (period(invoice.period)) }
                                td { span.status { (invoice.status.as_str()) } }
                                td.num data-invoice-total { (money(invoice.totals.total_amount, &invoice.currency)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `2024-12-01 – 2024-12-31`: the first and the last day of `[start, end)`.
fn period(period: Period) -> String {
    format!("{} – {}", day(period.start()), last_day(period))
}

/// The period's last day, `YYYY-MM-DD`.
fn last_day(period: Period) -> String {
    day(Timestamp::from_millis(period.end().as_millis() - 1).unwrap_or(period.end()))
}

fn day(at: Timestamp) -> String {
    at.to_rfc3339().chars().take(10).collect()
}

fn quantity(quantity: Option<Decimal>) -> String {
    quantity.map_or_else(|| "–".to_owned(), |q| q.normalize().to_string())
}

/// `12.34 EUR`; minor units as such for a code the pricing layer does not know.
fn money(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => Money::new(minor, currency).to_string(),
        Err(_) => format!("{minor} {currency}"),
    }
}

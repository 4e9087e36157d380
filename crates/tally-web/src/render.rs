//! The portal's HTML, written with maud: the templates are Rust, checked when
//! the crate builds, and every value spliced in is escaped.

use maud::{DOCTYPE, Markup, html};
use rust_decimal::Decimal;
use tally_billing::{InvoiceLine, InvoiceView, PeriodPreview};
use tally_event::{Period, Timestamp};
use tally_pricing::{Currency, Money};

use crate::view::{PortalView, SubscriptionView};

/// The customer's page.
pub fn portal(view: &PortalView) -> Markup {
    let name = view
        .customer
        .name
        .as_deref()
        .or(view.customer.external_id.as_deref())
        .unwrap_or(view.customer.id.as_str());
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
                    (subscription_card(subscription))
                }
            }
            section aria-labelledby="invoices" {
                h2 #invoices { "Invoices" }
                (invoices(&view.invoices))
            }
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
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · Billing" }
                link rel="stylesheet" href="/portal/assets/portal.css";
            }
            body { main { (body) } }
        }
    }
}

fn subscription_card(subscription: &SubscriptionView) -> Markup {
    html! {
        article.card {
            @match &subscription.current {
                Some(current) => {
                    h3 { "Current period: " (period(current.period)) }
                    (period_lines(current))
                }
                None => {
                    h3 { "Not started" }
                }
            }
            p.muted { "Subscription " code { (subscription.id) } }
        }
    }
}

fn period_lines(current: &PeriodPreview) -> Markup {
    html! {
        div.scroll {
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

fn invoices(invoices: &[InvoiceView]) -> Markup {
    html! {
        @if invoices.is_empty() {
            p.empty { "No invoice yet." }
        } @else {
            div.scroll {
                table {
                    thead { tr {
                        th scope="col" { "Number" } th scope="col" { "Period" }
                        th scope="col" { "Status" } th.num scope="col" { "Total" }
                    } }
                    tbody {
                        @for invoice in invoices {
                            tr {
                                td data-number { (invoice.number) }
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
    let last = Timestamp::from_millis(period.end().as_millis() - 1).unwrap_or(period.end());
    format!("{} – {}", day(period.start()), day(last))
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

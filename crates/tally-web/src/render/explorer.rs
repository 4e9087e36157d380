//! The explorer's page: the invoice's lines (for an invoice), the filter
//! form, then each price group's totals and a page of its events.

use maud::{Markup, html};
use tally_billing::InvoiceView;

use super::{layout, money, period, quantity};
use crate::explorer::{Explained, ExplorerView, GroupSection, PAGE_SIZE};

/// The explorer of a subscription period or an invoice; links start with
/// `base` (`/portal/{token}`), and the page's own address is `here`.
pub fn explorer(view: &ExplorerView, base: &str, here: &str) -> Markup {
    let title = match &view.explained {
        Explained::Subscription(_) => "Consumption".to_owned(),
        Explained::Invoice(invoice) => format!("Invoice {}", invoice.number),
    };
    layout(
        &title,
        html! {
            header {
                p.eyebrow { a href=(base) { "Billing portal" } }
                h1 { (title) }
                p.muted data-period { "Period " (period(view.period)) " (UTC)" }
            }
            @match &view.explained {
                Explained::Invoice(invoice) => (invoice_summary(view, invoice, base)),
                Explained::Subscription(id) => (downloads(view, &format!("{base}/subscriptions/{id}"), None)),
            }
            (filter_form(view, here))
            section aria-labelledby="events" {
                h2 #events { "Events" }
                @if view.sections.is_empty() {
                    p.empty { "No usage product." }
                }
                @for section in &view.sections {
                    (group_section(view, section, here))
                }
            }
        },
    )
}

fn invoice_summary(view: &ExplorerView, invoice: &InvoiceView, base: &str) -> Markup {
    let own = format!("{base}/invoices/{}", invoice.id);
    html! {
        section aria-labelledby="lines" {
            h2 #lines { "Lines" }
            p { span.status data-status { (invoice.status.as_str()) } }
            @if view.changed_since_finalization == Some(true) {
                p.notice role="note" {
                    "Events of this period changed after the invoice was finalized. "
                    "The amounts below are the invoice's: the events as they were known when it was finalized."
                }
            }
            div.scroll role="group" tabindex="0" aria-labelledby="lines" {
                table {
                    thead { tr {
                        th scope="col" { "Product" }
                        th.num scope="col" { "Quantity" }
                        th.num scope="col" { "Amount" }
                        th.num scope="col" { "Tax" }
                        th.num scope="col" { "Total" }
                    } }
                    tbody {
                        @for line in &invoice.lines {
                            tr data-line-product=(line.product_id) data-line-group=[line.price_group.as_ref().map(|g| g.id.as_str())] {
                                td {
                                    (line.product_name)
                                    @if let Some(group) = &line.price_group { " " span.muted { "(" (group.name) ")" } }
                                }
                                td.num { (quantity(line.quantity)) }
                                td.num data-line-amount { (money(line.amount_excluding_tax, &invoice.currency)) }
                                td.num { (money(line.tax_amount, &invoice.currency)) }
                                td.num { (money(line.total_amount, &invoice.currency)) }
                            }
                        }
                    }
                    tfoot {
                        tr {
                            th scope="row" colspan="4" { "Total" }
                            td.num data-invoice-total { (money(invoice.totals.total_amount, &invoice.currency)) }
                        }
                    }
                }
            }
            (downloads(view, &own, Some(&format!("{own}/events.zip"))))
        }
    }
}

/// "Export CSV" per usage product, and the invoice's "Export all events".
fn downloads(view: &ExplorerView, own: &str, zip: Option<&str>) -> Markup {
    html! {
        @if !view.choices.is_empty() {
            ul.downloads aria-label="Exports" {
                @if let Some(zip) = zip {
                    li { a.button href=(zip) download data-export="zip" { "Export all events (ZIP)" } }
                }
                @for choice in &view.choices {
                    li {
                        a href={(own) "/products/" (choice.id) "/events.csv"} download data-export="csv" data-product=(choice.id) {
                            "Export CSV: " (choice.name)
                        }
                    }
                }
            }
        }
    }
}

fn filter_form(view: &ExplorerView, here: &str) -> Markup {
    let query = &view.query;
    let last_day = super::last_day(view.period);
    html! {
        form.filters method="get" action=(here) {
            div {
                label for="product" { "Product" }
                select #product name="product" {
                    option value="" { "All products" }
                    @for choice in &view.choices {
                        option value=(choice.id) selected[query.product.as_deref() == Some(choice.id.as_str())] { (choice.name) }
                    }
                }
            }
            div {
                label for="group" { "Price group" }
                select #group name="group" {
                    option value="" { "All price groups" }
                    @for choice in &view.choices {
                        @for group in &choice.groups {
                            option value=(group.id) selected[query.group.as_deref() == Some(group.id.as_str())] {
                                (choice.name) " · " (group.name)
                            }
                        }
                    }
                }
            }
            div {
                label for="from" { "From" }
                input #from type="date" name="from" value=[query.from.as_deref()]
                    min=(super::day(view.period.start())) max=(last_day);
            }
            div {
                label for="to" { "To" }
                input #to type="date" name="to" value=[query.to.as_deref()]
                    min=(super::day(view.period.start())) max=(last_day);
            }
            div.actions {
                button type="submit" { "Apply" }
                a href=(here) { "Clear" }
            }
        }
    }
}

fn group_section(view: &ExplorerView, section: &GroupSection, here: &str) -> Markup {
    let currency = view.currency.as_str();
    let title = group_title(section);
    let filtered = view
        .query
        .from
        .as_deref()
        .is_some_and(|d| !d.trim().is_empty())
        || view
            .query
            .to
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty());
    let page = &section.page;
    html! {
        article.card data-group=(section.group.id) data-product=(section.product_id) {
            h3 { (title) }
            dl.summary {
                div { dt { "Quantity" } dd data-quantity { (section.quantity.normalize()) } }
                div { dt { "Amount (before tax)" } dd data-amount { (money(section.amount, currency)) } }
                @if let Some(line) = section.invoice_line_amount {
                    div { dt { "On the invoice" } dd data-on-invoice { (money(line, currency)) } }
                }
                div { dt { "Events" } dd data-event-count { (section.total_events) } }
                div { dt { "Not tied to an event" } dd data-unattributed { (money(section.unattributed, currency)) } }
            }
            @if filtered {
                p data-matched {
                    (page.matched) " events in the dates chosen, billed "
                    (money(page.matched_amount, currency)) "."
                }
            }
            @if page.events.is_empty() {
                p.empty { "No event." }
            } @else {
                (events_table(section, currency, filtered))
                (pager(view, section, here))
            }
        }
    }
}

fn events_table(section: &GroupSection, currency: &str, filtered: bool) -> Markup {
    let page = &section.page;
    let on_page: i64 = page.events.iter().map(|event| event.amount).sum();
    let label = format!("Events of {}", group_title(section));
    html! {
        div.scroll role="group" tabindex="0" aria-label=(label) {
            table.events {
                caption.visually-hidden { "Events of " (group_title(section)) }
                thead { tr {
                    th scope="col" { "Event" }
                    th scope="col" { "Time (UTC)" }
                    @for key in &section.keys { th scope="col" { (key) } }
                    th.num scope="col" { "Quantity" }
                    th.num scope="col" { "Amount" }
                } }
                tbody {
                    @for event in &page.events {
                        tr data-event=(event.id) {
                            td { (event.name) }
                            td.time { (time(event.timestamp)) }
                            @for key in &section.keys {
                                td { (value(event.payload.get(key))) }
                            }
                            td.num data-event-quantity { (quantity(event.quantity)) }
                            td.num data-event-amount { (money(event.amount, currency)) }
                        }
                    }
                }
                tfoot {
                    tr {
                        th scope="row" colspan=(section.keys.len() + 3) { "This page" }
                        td.num data-page-amount { (money(on_page, currency)) }
                    }
                    @if !filtered {
                        tr {
                            th scope="row" colspan=(section.keys.len() + 3) { "All " (page.matched) " events" }
                            td.num data-events-amount { (money(page.matched_amount, currency)) }
                        }
                        tr {
                            th scope="row" colspan=(section.keys.len() + 3) { "Not tied to an event" }
                            td.num { (money(section.unattributed, currency)) }
                        }
                        tr {
                            th scope="row" colspan=(section.keys.len() + 3) { "Amount" }
                            td.num { (money(section.amount, currency)) }
                        }
                    }
                }
            }
        }
    }
}

fn pager(view: &ExplorerView, section: &GroupSection, here: &str) -> Markup {
    let page = &section.page;
    let number = u32::try_from(page.skipped / u64::from(PAGE_SIZE)).unwrap_or(u32::MAX - 1) + 1;
    let first = page.skipped + 1;
    let last = page.skipped + page.events.len() as u64;
    let link = |to: u32| {
        let query = view.query.link(
            Some(section.product_id.as_str()),
            Some(section.group.id.as_str()),
            to,
        );
        format!("{here}{query}")
    };
    html! {
        nav.pager aria-label={"Pages of " (group_title(section))} {
            span data-range { "Events " (first) "–" (last) " of " (page.matched) }
            @if number > 1 {
                a rel="prev" href=(link(number - 1)) { "Previous" }
            }
            @if last < page.matched {
                a rel="next" href=(link(number + 1)) { "Next" }
            }
        }
    }
}

fn group_title(section: &GroupSection) -> String {
    if section.several_groups {
        format!("{} · {}", section.product_name, section.group.name)
    } else {
        section.product_name.clone()
    }
}

/// `2024-12-03 14:05:09`, UTC.
fn time(at: tally_event::Timestamp) -> String {
    at.to_rfc3339()
        .chars()
        .take(19)
        .collect::<String>()
        .replace('T', " ")
}

/// A record value as text: strings as they are, other values as JSON.
fn value(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "–".to_owned(),
        Some(serde_json::Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

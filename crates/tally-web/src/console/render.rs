//! What every console page shares: the document, the navigation with the
//! sign-out form, message pages and a few value formats.

use maud::{Markup, html};
use tally_event::Timestamp;

use super::session::Session;

/// The console's sections, for the navigation's current page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Section {
    Customers,
    Events,
}

/// A page of a signed-in operator: the navigation, then `body`.
pub(super) fn signed_in(title: &str, section: Section, session: &Session, body: Markup) -> Markup {
    let link = |href: &str, label: &str, this: Section| {
        html! {
            @if this == section {
                a href=(href) aria-current="page" { (label) }
            } @else {
                a href=(href) { (label) }
            }
        }
    };
    document(
        title,
        html! {
            header.topbar {
                nav aria-label="Console" {
                    span.brand { "Tally console" }
                    (link("/console", "Customers", Section::Customers))
                    (link("/console/events", "Events", Section::Events))
                    form.sign-out method="post" action="/console/sign-out" {
                        input type="hidden" name="csrf" value=(session.csrf);
                        button.link type="submit" { "Sign out" }
                    }
                }
            }
            main #main { (body) }
        },
    )
}

/// A page without navigation: the sign-in form, a message.
pub(super) fn signed_out(title: &str, body: Markup) -> Markup {
    document(title, html! { main #main { (body) } })
}

/// A short page that says what happened, with a way back.
pub(super) fn message(title: &str, text: &str) -> Markup {
    signed_out(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            p { a href="/console" { "Back to the console" } }
        },
    )
}

fn document(title: &str, body: Markup) -> Markup {
    let body = html! {
        body.console {
            a.skip href="#main" { "Skip to content" }
            (body)
        }
    };
    crate::render::document(
        &format!("{title} · Tally console"),
        "/console/assets/console.css",
        body,
    )
}

/// `2024-12-02 10:15:00.000Z`: an instant, UTC, to the millisecond.
pub(super) fn instant(at: Timestamp) -> String {
    at.to_rfc3339().replacen('T', " ", 1)
}

/// `2024-12-01`: the day of an instant, UTC.
pub(super) fn day(at: Timestamp) -> String {
    at.to_rfc3339().chars().take(10).collect()
}

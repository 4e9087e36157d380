//! The operator console, `/console`: signed in through its form with an API
//! key, the account's customers and events, names and records as text.

use crate::harness::Harness;
use crate::seed::{self, Catalog};
use crate::support::KEY_A;

const SCRIPT: &str = "<script>alert(1)</script>";

async fn sign_in(h: &Harness, key: &str) {
    h.open("/console/sign-in").await;
    h.fill("#api_key", key).await;
    h.click("form.sign-in button[type=submit]").await;
}

#[tokio::test]
async fn a_wrong_key_is_refused_in_the_form() {
    let Some(h) = Harness::start().await else {
        return;
    };
    h.open("/console/sign-in").await;
    assert_eq!(h.status().await, 200);
    h.check_page("console-sign-in").await;

    sign_in(&h, "tally_sk_not_a_key").await;
    assert_eq!(h.status().await, 401);
    assert_eq!(h.count("#sign-in-error").await, 1);
    h.check_page("console-sign-in-refused").await;
}

#[tokio::test]
async fn the_customers_and_events_of_the_account() {
    let Some(h) = Harness::start().await else {
        return;
    };
    let Catalog { calls, .. } = seed::catalog(&h.app).await;
    for (customer, made) in [(("acme", "Acme Corp"), 3), (("x", SCRIPT), 1)] {
        seed::customer(&h.app, customer, &[&calls], "2024-12-01T00:00:00Z").await;
        seed::calls(&h.app, customer.0, "2024-12-02T10:00:00Z", made).await;
    }

    sign_in(&h, KEY_A).await;
    assert_eq!(h.status().await, 200);
    let names = h.texts("tr[data-customer] a").await;
    assert!(names.contains(&"Acme Corp".to_owned()), "{names:?}");
    assert!(names.contains(&SCRIPT.to_owned()), "{names:?}");
    h.check_page("console-customers").await;

    h.open("/console/events").await;
    assert_eq!(h.status().await, 200);
    // Records are shown as their JSON.
    let cells = h.texts("td").await;
    let note = format!(r#""note":"{SCRIPT}""#);
    let notes = cells.iter().filter(|text| text.contains(&note)).count();
    assert_eq!(notes, 4, "each call's note, as text: {cells:?}");
    assert_eq!(h.count("body script").await, 0);
    assert!(!h.alert_open().await, "the page opened a dialog");
    h.check_page("console-events").await;
}

//! Checks under concurrent calls: gapless invoice numbers, one auto-created
//! customer per reference.

use std::collections::HashSet;
use std::sync::Arc;

use tally_event::CustomerRef;

use super::catalog::sample_invoice;
use super::fixtures::{at, new_account, new_customer};
use crate::catalog::CustomerType;
use crate::ids::CustomerId;
use crate::traits::Store;

const TASKS: u64 = 24;

/// Many tasks creating invoices in two accounts at once get 1..=n in each,
/// with no duplicate and no gap.
pub async fn invoice_numbers_gapless_concurrent(store: &Arc<dyn Store>) {
    let first = new_account(store).await;
    let second = new_account(store).await;
    let customer = new_customer(store, &first, "acme").await;
    let mut tasks = Vec::new();
    for i in 0..TASKS * 2 {
        let store = Arc::clone(store);
        let account = if i % 2 == 0 {
            first.clone()
        } else {
            second.clone()
        };
        let customer = customer.clone();
        tasks.push(tokio::spawn(async move {
            let invoice = store
                .create_invoice(&account, &sample_invoice(&customer, None))
                .await;
            (account, invoice.unwrap().number.0)
        }));
    }
    let mut numbers = (Vec::new(), Vec::new());
    for task in tasks {
        let (account, number) = task.await.unwrap();
        if account == first {
            numbers.0.push(number);
        } else {
            numbers.1.push(number);
        }
    }
    numbers.0.sort_unstable();
    numbers.1.sort_unstable();
    let expected: Vec<u64> = (1..=TASKS).collect();
    assert_eq!(numbers.0, expected, "first account: gapless, no duplicate");
    assert_eq!(numbers.1, expected, "second account: its own sequence");
}

/// Concurrent `resolve_or_create_customer` calls with one unknown reference
/// create exactly one customer, and every call returns it; known references
/// resolve by `cus_` id and by external id.
pub async fn customer_auto_create_concurrent(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let reference = CustomerRef::parse("new-customer@example").unwrap();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = Arc::clone(store);
        let (account, reference) = (account.clone(), reference.clone());
        tasks.push(tokio::spawn(async move {
            let new_id = CustomerId::random();
            store
                .resolve_or_create_customer(&account, &reference, &new_id, at(7))
                .await
                .unwrap()
        }));
    }
    let mut ids = HashSet::new();
    let mut created = 0;
    for task in tasks {
        let resolved = task.await.unwrap();
        created += usize::from(resolved.created);
        assert_eq!(
            resolved.customer.customer_type,
            CustomerType::AutomaticallyCreated
        );
        assert_eq!(
            resolved.customer.external_id.as_deref(),
            Some(reference.as_str())
        );
        ids.insert(resolved.customer.id);
    }
    assert_eq!((created, ids.len()), (1, 1), "one customer, created once");

    let known = new_customer(store, &account, "known").await;
    for text in [known.as_str(), "known"] {
        let by = CustomerRef::parse(text).unwrap();
        let resolved = store
            .resolve_or_create_customer(&account, &by, &CustomerId::random(), at(8))
            .await
            .unwrap();
        assert_eq!(
            (resolved.customer.id.clone(), resolved.created),
            (known.clone(), false)
        );
    }
    let listed = store
        .list_customers(&account, Default::default())
        .await
        .unwrap();
    assert_eq!(listed.total, 2, "no customer beyond the two");
}

//! One invoice per subscription period: the store refuses the second create,
//! sequentially and under concurrent creators, and a refused create takes no
//! number.

use std::sync::Arc;

use tally_event::Period;

use super::catalog::sample_invoice;
use super::fixtures::{at, new_account, new_customer};
use crate::catalog::{INVOICE_PERIOD_TAKEN, InvoiceNumber, InvoiceQuery, NewInvoice};
use crate::error::{StoreError, StoreResult};
use crate::ids::{AccountId, CustomerId, SubscriptionId};
use crate::traits::Store;

const DAY_MS: i64 = 86_400_000;
const TASKS: usize = 16;

/// The `day`-th day after the fixtures' base instant.
fn day(day: i64) -> Period {
    Period::new(at(day * DAY_MS), at((day + 1) * DAY_MS)).unwrap()
}

fn invoice_for(customer: &CustomerId, sub: Option<&SubscriptionId>, period: Period) -> NewInvoice {
    NewInvoice {
        period,
        ..sample_invoice(customer, sub)
    }
}

async fn number_of(store: &Arc<dyn Store>, account: &AccountId, new: &NewInvoice) -> u64 {
    let created = store.create_invoice(account, new).await;
    created.unwrap_or_else(|e| panic!("{new:?}: {e}")).number.0
}

fn is_period_conflict<T>(result: &StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::Conflict { entity: "invoice", reason })
        if reason == INVOICE_PERIOD_TAKEN)
}

/// A second invoice for the same subscription and period is a `Conflict` that
/// says so (an id conflict says something else); another period, another
/// subscription, no subscription or another account is fine; refused creates
/// leave the numbering gapless.
pub async fn invoice_one_per_subscription_period(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let (sub, other_sub) = (SubscriptionId::random(), SubscriptionId::random());
    let first = invoice_for(&customer, Some(&sub), day(0));
    assert_eq!(number_of(store, &account, &first).await, 1);

    let again = invoice_for(&customer, Some(&sub), day(0));
    let refused = store.create_invoice(&account, &again).await;
    assert!(is_period_conflict(&refused), "same period: {refused:?}");
    assert_eq!(
        number_of(store, &account, &invoice_for(&customer, Some(&sub), day(1))).await,
        2,
        "another period; the refused create took no number"
    );
    let other = invoice_for(&customer, Some(&other_sub), day(0));
    assert_eq!(number_of(store, &account, &other).await, 3);
    for expected in [4, 5] {
        let unattached = invoice_for(&customer, None, day(0));
        assert_eq!(number_of(store, &account, &unattached).await, expected);
    }

    let taken_id = NewInvoice {
        id: first.id.clone(),
        ..invoice_for(&customer, Some(&sub), day(2))
    };
    let refused = store.create_invoice(&account, &taken_id).await;
    assert!(
        matches!(&refused, Err(StoreError::Conflict { .. })) && !is_period_conflict(&refused),
        "a taken id is a conflict about the id: {refused:?}"
    );
    let refused = store.create_invoice(&account, &again).await;
    assert!(is_period_conflict(&refused), "still taken: {refused:?}");
    assert_eq!(
        number_of(store, &account, &invoice_for(&customer, Some(&sub), day(2))).await,
        6
    );

    let listed = store
        .list_invoices(&account, &InvoiceQuery::default())
        .await
        .unwrap();
    let numbers: Vec<u64> = listed.items.iter().map(|i| i.number.0).collect();
    assert_eq!(numbers, [6, 5, 4, 3, 2, 1], "gapless, nothing else stored");

    // find_invoice: exactly the subscription and the period, in this account.
    let found = store.find_invoice(&account, &sub, day(0)).await.unwrap();
    assert_eq!(found.map(|i| i.number.0), Some(1));
    let found = store
        .find_invoice(&account, &other_sub, day(0))
        .await
        .unwrap();
    assert_eq!(found.map(|i| i.number.0), Some(3));
    let found = store.find_invoice(&account, &sub, day(2)).await.unwrap();
    assert_eq!(found.map(|i| i.number.0), Some(6));
    let missing = store.find_invoice(&account, &sub, day(3)).await.unwrap();
    assert!(missing.is_none());

    let elsewhere = new_account(store).await;
    let nothing = store.find_invoice(&elsewhere, &sub, day(0)).await.unwrap();
    assert!(nothing.is_none(), "another account's invoice is not found");
    let same_keys = invoice_for(&customer, Some(&sub), day(0));
    assert_eq!(
        number_of(store, &elsewhere, &same_keys).await,
        1,
        "the rule is per account"
    );
}

/// Many tasks creating an invoice for one subscription period at once: exactly
/// one succeeds, with number 1; every other is the period `Conflict`; the next
/// invoice is number 2.
pub async fn invoice_period_concurrent(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let sub = SubscriptionId::random();
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let store = Arc::clone(store);
        let account = account.clone();
        let new = invoice_for(&customer, Some(&sub), day(0));
        tasks.push(tokio::spawn(async move {
            store.create_invoice(&account, &new).await
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        let result = task.await.unwrap();
        match result {
            Ok(invoice) => created.push(invoice.number),
            refused => assert!(is_period_conflict(&refused), "{refused:?}"),
        }
    }
    assert_eq!(created, [InvoiceNumber(1)], "exactly one create succeeds");
    let next = invoice_for(&customer, Some(&sub), day(1));
    assert_eq!(
        number_of(store, &account, &next).await,
        2,
        "refused creates took no number"
    );
}

/// A batch of creates: numbered in order in one call; a period taken before
/// the batch or earlier in it is refused alone and takes no number; a
/// failure of another kind creates none of the batch; a batch racing
/// single creates of one period still leaves exactly one invoice for it.
pub async fn invoice_batch(store: &Arc<dyn Store>) {
    let account = new_account(store).await;
    let customer = new_customer(store, &account, "acme").await;
    let (a, b, c) = (
        SubscriptionId::random(),
        SubscriptionId::random(),
        SubscriptionId::random(),
    );
    assert_eq!(
        number_of(store, &account, &invoice_for(&customer, Some(&a), day(0))).await,
        1
    );
    let batch = [
        invoice_for(&customer, Some(&a), day(0)),
        invoice_for(&customer, Some(&b), day(0)),
        invoice_for(&customer, Some(&b), day(0)),
        invoice_for(&customer, None, day(0)),
        invoice_for(&customer, Some(&a), day(1)),
    ];
    let built = std::sync::atomic::AtomicUsize::new(0);
    let count_events = |_: &crate::catalog::Invoice| {
        built.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Vec::new()
    };
    let results = store
        .create_invoices_with_events(&account, &batch, &count_events)
        .await
        .unwrap();
    let outcome: Vec<Option<u64>> = results
        .iter()
        .map(|r| {
            assert!(r.is_ok() || is_period_conflict(r), "{r:?}");
            r.as_ref().ok().map(|i| i.number.0)
        })
        .collect();
    assert_eq!(outcome, [None, Some(2), None, Some(3), Some(4)]);
    assert_eq!(
        built.into_inner(),
        3,
        "events built for each invoice created"
    );
    let stored = store.get_invoice(&account, &batch[4].id).await.unwrap();
    assert_eq!((stored.number.0, stored.period), (4, day(1)));

    // An id already taken is not a period conflict: the whole batch fails.
    let failing = [
        invoice_for(&customer, Some(&c), day(0)),
        NewInvoice {
            id: batch[1].id.clone(),
            ..invoice_for(&customer, Some(&c), day(1))
        },
    ];
    let refused = store
        .create_invoices_with_events(&account, &failing, &crate::webhooks::no_invoice_events)
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let none = store.find_invoice(&account, &c, day(0)).await.unwrap();
    assert!(
        none.is_none(),
        "a failed batch creates none of its invoices"
    );

    // A batch and single creates race for one period: one invoice.
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let store = Arc::clone(store);
        let account = account.clone();
        let new = invoice_for(&customer, Some(&c), day(5));
        let other = invoice_for(&customer, Some(&c), day(6 + task as i64));
        tasks.push(tokio::spawn(async move {
            if task % 4 == 0 {
                let batch = [new, other];
                let results = store
                    .create_invoices_with_events(
                        &account,
                        &batch,
                        &crate::webhooks::no_invoice_events,
                    )
                    .await
                    .unwrap();
                results.into_iter().next().unwrap()
            } else {
                store.create_invoice(&account, &new).await
            }
        }));
    }
    let mut won = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => won += 1,
            refused => assert!(is_period_conflict(&refused), "{refused:?}"),
        }
    }
    assert_eq!(won, 1, "exactly one invoice for the raced period");
    let listed = store
        .list_invoices(&account, &InvoiceQuery::default())
        .await
        .unwrap();
    let mut numbers: Vec<u64> = listed.items.iter().map(|i| i.number.0).collect();
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=numbers.len() as u64).collect();
    assert_eq!(numbers, expected, "gapless after batches and races");
}

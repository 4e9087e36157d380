//! An export's memory does not grow with the number of events: the peak of
//! bytes allocated during a CSV export of 4N generated events stays within a
//! small factor of the peak for N events (it would be about 4× if the export
//! held its rows). Its own test binary, because it counts every allocation of
//! the process through a global allocator; nothing else runs meanwhile.

#[path = "it/counting.rs"]
mod counting;
#[path = "it/support.rs"]
#[allow(dead_code)]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use tally_billing::DateRange;

use counting::CountingStore;
use support::Harness;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

/// The system allocator, counting the bytes currently allocated and their peak.
struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
            grew(new_size);
        }
        moved
    }
}

fn grew(size: usize) {
    let now = CURRENT.fetch_add(size, Ordering::SeqCst) + size;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Bytes allocated at the export's peak beyond those allocated before it.
async fn peak_during_export(events: usize) -> usize {
    let store = Arc::new(CountingStore::default());
    let h = Harness::with_store("2024-01-31T12:00:00Z", json!({}), store.clone()).await;
    h.customer("acme-42", None).await;
    let aggregator = h
        .aggregator(
            json!({"name": "Units", "event_type": "api_call", "operation": "sum",
            "property": "units"}),
        )
        .await;
    let product = h
        .product(json!({"name": "Units", "type": "usage", "aggregator_id": aggregator.id,
            "currency": "EUR", "price_groups": [{"name": "units", "price": {"type": "graduated",
                "tiers": [{"up_to": "1000", "unit_amount": "0.5"}, {"up_to": null, "unit_amount": "0.125"}]}}]}))
        .await;
    let subscription = h
        .subscription(json!({"customer_id": "acme-42", "product_ids": [product.id],
            "starts_at": "2024-01-01T00:00:00Z", "billing_interval": {"period": "months", "count": 1},
            "currency": "EUR"}))
        .await;
    store.synthetic_events.store(events, Ordering::SeqCst);
    let range = DateRange::default();
    let baseline = CURRENT.load(Ordering::SeqCst);
    PEAK.store(baseline, Ordering::SeqCst);
    let scope = h
        .billing
        .subscription_scope(&h.account, subscription.id.as_str(), &range)
        .await
        .unwrap();
    let export = h
        .billing
        .product_csv(&h.account, &scope, product.id.as_str())
        .await
        .unwrap();
    let mut bytes = 0usize;
    let sink = futures::sink::unfold(&mut bytes, |total, chunk: Vec<u8>| async move {
        *total += chunk.len();
        Ok::<_, std::convert::Infallible>(total)
    });
    let mut sink = std::pin::pin!(sink);
    let rows = export.write_to(&mut sink, &mut |_| {}).await.unwrap();
    assert_eq!(rows, events as u64);
    PEAK.load(Ordering::SeqCst) - baseline
}

#[tokio::test(flavor = "current_thread")]
async fn a_csv_export_allocates_no_more_for_four_times_the_events() {
    let small = peak_during_export(25_000).await;
    let large = peak_during_export(100_000).await;
    println!("peak bytes: {small} for 25 000 events, {large} for 100 000");
    assert!(small > 0, "the export allocated nothing");
    assert!(
        large < 2 * small,
        "peak {small} bytes for 25 000 events, {large} for 100 000"
    );
}

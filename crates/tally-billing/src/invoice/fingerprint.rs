//! What a finalized invoice was computed from, to tell later whether the
//! events under it changed.
//!
//! Per usage product: the number of current events of its aggregator's type in
//! the aggregator's window of the period (before any `where` or filter, so a
//! change that moves an event in or out of a filter counts too) and a 64-bit
//! FNV-1a hash over each one's (record id, timestamp, ingested_at) in
//! (timestamp, record id) order. An upsert rewrites `ingested_at`, a late
//! event adds a row, a deletion removes one: each changes the fingerprint.
//! FNV rather than std's hasher because the value is stored and must mean the
//! same thing to every build.

use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tally_event::Period;
use tally_store::{AccountId, CustomerId, Product, ProductKind};

use crate::error::BillingResult;
use crate::service::{Billing, compile_stored};
use crate::usage::event_window;

/// One product's events, summarized.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductFingerprint {
    /// The product's id (`itm_…`).
    pub product_id: String,
    /// How many events the product's lines were computed from.
    pub events: u64,
    /// FNV-1a 64, as 16 hex digits.
    pub hash: String,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

impl Billing {
    /// The fingerprints of the usage products among `products`.
    pub(crate) async fn fingerprints(
        &self,
        account: &AccountId,
        customer: &CustomerId,
        period: Period,
        products: &[Product],
    ) -> BillingResult<Vec<ProductFingerprint>> {
        let mut out = Vec::new();
        for product in products {
            let (ProductKind::Usage, Some(aggregator_id)) = (&product.kind, &product.aggregator_id)
            else {
                continue;
            };
            let record = self.store.get_aggregator(account, aggregator_id).await?;
            let aggregator = compile_stored(&record)?;
            let mut events = self.store.stream_events(
                account,
                customer,
                aggregator.event_type(),
                event_window(aggregator.window(period)),
            );
            let (mut count, mut hash) = (0u64, FNV_OFFSET);
            while let Some(stored) = events.next().await {
                let stored = stored?;
                count += 1;
                hash = fnv(hash, stored.record_id().as_str().as_bytes());
                hash = fnv(hash, &[0]);
                hash = fnv(hash, &stored.timestamp.as_millis().to_le_bytes());
                hash = fnv(hash, &stored.ingested_at.as_millis().to_le_bytes());
            }
            out.push(ProductFingerprint {
                product_id: product.id.to_string(),
                events: count,
                hash: format!("{hash:016x}"),
            });
        }
        Ok(out)
    }
}

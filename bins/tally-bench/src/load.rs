//! Loading a data set before the server starts, through the library: the same
//! validation and upsert as `POST /v1/events/batch`, without HTTP, so that the
//! usage, invoice and export scenarios do not wait on the ingestion they do not
//! measure.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use tally_billing::{Billing, MAX_BATCH_EVENTS};
use tally_store::{Account, Store};
use tally_store_sqlite::SqliteStore;

use crate::generate::DataSet;

/// The account `tally serve --bootstrap-api-key` attaches its key to, found or
/// created the way `tally serve` does.
pub async fn default_account(store: Arc<dyn Store>) -> anyhow::Result<Account> {
    Ok(Billing::new(store)
        .ensure_account(tally_engine::DEFAULT_ACCOUNT)
        .await?)
}

/// Every event index of `data`, one customer's events after another's. The
/// set is the same as in index order; a batch then names a few customers
/// instead of thousands, which spares loading a customer lookup per event (the
/// HTTP scenarios keep index order, customers interleaved).
fn by_customer(data: &DataSet) -> impl Iterator<Item = u64> + use<> {
    let (total, customers) = (data.total, data.customers.max(1));
    (0..customers.min(total)).flat_map(move |c| (c..total).step_by(customers as usize))
}

/// Writes every event of `data` into a fresh SQLite file at `db`, the events
/// generated on another thread while the previous batch is stored.
pub async fn load_sqlite(db: &Path, data: &DataSet) -> anyhow::Result<u64> {
    Ok(load_sqlite_with(db, data, &[]).await?.stored)
}

/// What [`load_sqlite_with`] did.
pub struct Loaded {
    /// Events stored.
    pub stored: u64,
    /// Seconds from the first batch to the last commit (opening the file and
    /// creating the aggregators excluded).
    pub seconds: f64,
}

/// [`load_sqlite`] after creating `aggregators` (definitions as the API
/// takes them), whose rollups are ready before the first event: ingestion
/// then keeps them up to date.
pub async fn load_sqlite_with(
    db: &Path,
    data: &DataSet,
    aggregators: &[serde_json::Value],
) -> anyhow::Result<Loaded> {
    let sqlite = SqliteStore::open(db)
        .await
        .with_context(|| format!("cannot open {}", db.display()))?;
    let store: Arc<dyn Store> = Arc::new(sqlite.clone());
    let account = default_account(Arc::clone(&store)).await?;
    let billing = Billing::new(store);
    for definition in aggregators {
        let definition = serde_json::from_value(definition.clone())?;
        billing.create_aggregator(&account.id, &definition).await?;
    }
    billing.finish_backfills().await?;
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<serde_json::Value>>(4);
    let generator = {
        let data = data.clone();
        std::thread::spawn(move || {
            let mut order = by_customer(&data);
            loop {
                let chunk: Vec<_> = order
                    .by_ref()
                    .take(MAX_BATCH_EVENTS)
                    .map(|n| data.event(n).json)
                    .collect();
                if chunk.is_empty() || sender.blocking_send(chunk).is_err() {
                    return;
                }
            }
        })
    };
    let started = Instant::now();
    let (mut stored, mut next_report) = (0u64, data.total / 10);
    while let Some(chunk) = receiver.recv().await {
        let outcome = billing.ingest_batch(&account.id, &chunk).await?;
        if let Some(rejected) = outcome.rejected.first() {
            bail!("a generated event was refused: {:?}", rejected.errors);
        }
        stored += outcome.accepted.len() as u64;
        if stored >= next_report && data.total >= 100_000 {
            eprintln!(
                "    loaded {stored} of {} events ({:.0} events/s)",
                data.total,
                stored as f64 / started.elapsed().as_secs_f64()
            );
            next_report += data.total / 10;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let _ = generator.join();
    sqlite.close().await;
    Ok(Loaded { stored, seconds })
}

#[cfg(test)]
mod tests {
    use super::by_customer;
    use crate::generate::{DataSet, Mix};

    #[test]
    fn loading_order_holds_every_event_once_grouped_by_customer() {
        let data = DataSet {
            seed: 1,
            total: 103,
            customers: 10,
            mix: Mix::Mixed,
            month_start_ms: 0,
            month_ms: 1000,
        };
        let order: Vec<u64> = by_customer(&data).collect();
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..103).collect::<Vec<_>>());
        let customers: Vec<u64> = order.iter().map(|&n| data.customer(n)).collect();
        assert!(customers.windows(2).all(|w| w[0] <= w[1]), "{customers:?}");
    }
}

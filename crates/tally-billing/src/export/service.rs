//! Exports as use cases: everything that can fail with "not found" or "bad
//! request" is resolved when an export is prepared, before its first byte, so
//! a caller can still answer with an error; writing then streams.

use futures::{Sink, SinkExt, StreamExt};
use tally_pricing::Currency;
use tally_store::{AccountId, ProductKind};

use super::archive::Archive;
use super::chunks::ChunkBuffer;
use super::sheet::{ExportRow, KeySet, Layout, Sheet};
use crate::consumption::{ConsumptionRow, ConsumptionScope, ProductConsumption};
use crate::error::{BillingError, BillingResult};
use crate::service::Billing;

/// Why writing an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// Reading or pricing the events failed.
    #[error(transparent)]
    Billing(#[from] BillingError),
    /// Formatting the CSV or the ZIP failed.
    #[error("export output: {0}")]
    Io(#[from] std::io::Error),
    /// Whoever receives the bytes went away (a client disconnected).
    #[error("export output closed")]
    Closed,
}

/// One product's CSV, planned and ready to write.
pub struct CsvExport {
    billing: Billing,
    account: AccountId,
    product: ProductConsumption,
    currency: String,
    exponent: u32,
}

/// The ZIP of an invoice, every usage product planned.
pub struct ZipExport {
    billing: Billing,
    account: AccountId,
    products: Vec<ProductConsumption>,
    currency: String,
    exponent: u32,
    /// The invoice number (`INV-1`), or the subscription id.
    label: String,
}

impl Billing {
    /// The CSV of one usage product of an invoice or a subscription period
    /// (see [`Billing::invoice_scope`], [`Billing::subscription_scope`]).
    pub async fn product_csv(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
        product_id: &str,
    ) -> BillingResult<CsvExport> {
        let product = self.product_consumption(account, scope, product_id).await?;
        let (currency, exponent) = scope_currency(scope)?;
        Ok(CsvExport {
            billing: self.clone(),
            account: account.clone(),
            product,
            currency,
            exponent,
        })
    }

    /// The ZIP of an invoice: one CSV per usage product its lines name.
    pub async fn invoice_zip(
        &self,
        account: &AccountId,
        invoice_id: &str,
    ) -> BillingResult<ZipExport> {
        let scope = self.invoice_scope(account, invoice_id).await?;
        self.scope_zip(account, &scope).await
    }

    /// The ZIP of any scope: one CSV per usage product (fee products have no
    /// events and are left out).
    pub async fn scope_zip(
        &self,
        account: &AccountId,
        scope: &ConsumptionScope,
    ) -> BillingResult<ZipExport> {
        let mut products = Vec::new();
        for priced in &scope.products {
            if priced.product.kind != ProductKind::Usage {
                continue;
            }
            let planned = self
                .product_consumption(account, scope, priced.product.id.as_str())
                .await?;
            products.push(planned);
        }
        let (currency, exponent) = scope_currency(scope)?;
        let label = match &scope.invoice {
            Some(invoice) => invoice.number.to_string(),
            None => scope.subscription_id.to_string(),
        };
        Ok(ZipExport {
            billing: self.clone(),
            account: account.clone(),
            products,
            currency,
            exponent,
            label,
        })
    }
}

impl CsvExport {
    /// Rows the export will write (for a progress bar).
    pub fn rows(&self) -> u64 {
        self.product.groups.iter().map(|group| group.events).sum()
    }

    /// The product's name (the file is named after it).
    pub fn product_name(&self) -> &str {
        &self.product.product.name
    }

    /// Streams the CSV into `sink` in chunks of about
    /// [`CHUNK_BYTES`](super::CHUNK_BYTES); `progress` hears the rows written
    /// so far. Returns the number of rows.
    pub async fn write_to<S>(
        self,
        sink: &mut S,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ExportError>
    where
        S: Sink<Vec<u8>> + Unpin,
    {
        let buffer = ChunkBuffer::new();
        let out = Output {
            sink,
            buffer: buffer.clone(),
            progress,
            rows: 0,
        };
        let layout = layout(&self.product, self.exponent);
        let mut sheet = Sheet::new(buffer, layout)?;
        let mut out = out;
        let source = Source {
            billing: &self.billing,
            account: &self.account,
            currency: &self.currency,
        };
        source
            .write_product(&self.product, &mut sheet, &mut out)
            .await?;
        sheet.finish()?;
        out.finish().await
    }
}

impl ZipExport {
    /// `events-INV-1.zip` (`events-sub_….zip` for a subscription period).
    pub fn file_name(&self) -> String {
        format!("events-{}.zip", self.label)
    }

    /// Rows the export will write, over every product (for a progress bar).
    pub fn rows(&self) -> u64 {
        let groups = self.products.iter().flat_map(|product| &product.groups);
        groups.map(|group| group.events).sum()
    }

    /// Streams the ZIP into `sink`, as [`CsvExport::write_to`] does.
    pub async fn write_to<S>(
        self,
        sink: &mut S,
        progress: &mut (dyn FnMut(u64) + Send),
    ) -> Result<u64, ExportError>
    where
        S: Sink<Vec<u8>> + Unpin,
    {
        let mut archive = Archive::new().modified_at(self.billing.now());
        let mut out = Output {
            sink,
            buffer: archive.buffer(),
            progress,
            rows: 0,
        };
        let source = Source {
            billing: &self.billing,
            account: &self.account,
            currency: &self.currency,
        };
        for product in &self.products {
            let layout = layout(product, self.exponent);
            let (_, mut sheet) = archive.start_csv(&product.product.name, layout)?;
            source.write_product(product, &mut sheet, &mut out).await?;
            sheet.finish()?;
        }
        archive.finish()?;
        out.finish().await
    }
}

/// Where the bytes go, and how far the export is.
struct Output<'s, S> {
    sink: &'s mut S,
    buffer: ChunkBuffer,
    progress: &'s mut (dyn FnMut(u64) + Send),
    rows: u64,
}

impl<S: Sink<Vec<u8>> + Unpin> Output<'_, S> {
    /// After a row: sends a full chunk on, and reports progress every chunk.
    async fn row_written(&mut self) -> Result<(), ExportError> {
        self.rows += 1;
        if let Some(chunk) = self.buffer.take_full() {
            (self.progress)(self.rows);
            self.sink
                .send(chunk)
                .await
                .map_err(|_| ExportError::Closed)?;
        }
        Ok(())
    }

    async fn finish(self) -> Result<u64, ExportError> {
        let rest = self.buffer.take_all();
        if !rest.is_empty() {
            self.sink
                .send(rest)
                .await
                .map_err(|_| ExportError::Closed)?;
        }
        self.sink.flush().await.map_err(|_| ExportError::Closed)?;
        (self.progress)(self.rows);
        Ok(self.rows)
    }
}

/// What every row of an export reads.
struct Source<'a> {
    billing: &'a Billing,
    account: &'a AccountId,
    currency: &'a str,
}

impl Source<'_> {
    /// Every price group's rows, group after group.
    async fn write_product<W: std::io::Write, S: Sink<Vec<u8>> + Unpin>(
        &self,
        product: &ProductConsumption,
        sheet: &mut Sheet<W>,
        out: &mut Output<'_, S>,
    ) -> Result<(), ExportError> {
        for (index, group) in product.groups.iter().enumerate() {
            let mut rows = self
                .billing
                .consumption_rows(self.account, product, index)?;
            while let Some(row) = rows.next().await {
                let row: ConsumptionRow = row?;
                sheet.write_row(&ExportRow {
                    event_id: row.event.id.as_str(),
                    timestamp: row.event.timestamp,
                    name: &row.name,
                    record: &row.event.record,
                    price_group: &group.price_group.name,
                    quantity: row.quantity,
                    amount: row.amount,
                    currency: self.currency,
                })?;
                out.row_written().await?;
            }
        }
        Ok(())
    }
}

/// The product's columns: the aggregator's `exposed_event_keys`, else the
/// record keys of every event a price group lists, gathered while planning.
fn layout(product: &ProductConsumption, exponent: u32) -> Layout {
    let several_groups = product.groups.len() > 1;
    let exposed = product.aggregator.exposed_event_keys();
    let mut keys = KeySet::new();
    if exposed.is_none() {
        for group in &product.groups {
            keys.merge(&group.record_keys);
        }
    }
    Layout::new(exposed, keys, several_groups, exponent)
}

/// The currency amounts are in: the invoice's, else the subscription's.
fn scope_currency(scope: &ConsumptionScope) -> BillingResult<(String, u32)> {
    let code = &scope.currency;
    let currency = Currency::parse(code).map_err(|error| {
        BillingError::Store(tally_store::StoreError::Corrupt(format!(
            "currency {code}: {error}"
        )))
    })?;
    Ok((code.clone(), currency.exponent()))
}

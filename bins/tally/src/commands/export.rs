//! `tally export`: the CSV of one product's events, or the ZIP of an invoice's,
//! as the API serves them, written to a file.
//!
//! - `--invoice inv_… --product itm_…`: that product's CSV on the invoice;
//! - `--invoice inv_…`: the invoice's ZIP, one CSV per usage product;
//! - `--subscription sub_… --product itm_… [--start-date … --end-date …]`: the
//!   CSV over the subscription's current period, or the dates given.
//!
//! Without `--output`, the file is named as the API names it
//! (`events-INV-1.zip`, `events-itm_….csv`) in the working directory; `-`
//! writes to standard output. A file is written under a `.partial` name and
//! renamed once complete, so a failed export leaves no file that looks whole.
//! A progress bar (rows written) is drawn on standard error when it is a
//! terminal.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use futures::sink;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tally_billing::export::{CsvExport, ZipExport};
use tally_billing::{Billing, DateRange};
use tally_store::AccountId;

use crate::commands::{DatabaseArgs, runtime};

#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("source").required(true).args(["invoice", "subscription"]))]
pub struct Args {
    /// The account's name.
    #[arg(long)]
    pub account: String,
    /// An invoice (`inv_…`): its ZIP, or with `--product` one product's CSV.
    #[arg(long)]
    pub invoice: Option<String>,
    /// A subscription (`sub_…`): one product's CSV over a period; needs `--product`.
    #[arg(long, requires = "product")]
    pub subscription: Option<String>,
    /// A usage product (`itm_…`).
    #[arg(long)]
    pub product: Option<String>,
    /// Start of the period (ISO 8601), with `--subscription`.
    #[arg(long, requires = "subscription")]
    pub start_date: Option<String>,
    /// End of the period (ISO 8601, exclusive), with `--subscription`.
    #[arg(long, requires = "subscription")]
    pub end_date: Option<String>,
    /// Where to write; `-` is standard output. Default: the API's file name.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

enum Export {
    Csv(Box<CsvExport>),
    Zip(ZipExport),
}

impl Export {
    fn rows(&self) -> u64 {
        match self {
            Export::Csv(export) => export.rows(),
            Export::Zip(export) => export.rows(),
        }
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let store = tally_engine::open_existing_store(&args.database.database_url).await?;
        let account = store
            .find_account_by_name(&args.account)
            .await?
            .with_context(|| format!("no account named {}", args.account))?;
        let billing = Billing::new(store);
        let (export, default_name) = prepare(&billing, &account.id, args).await?;
        let output = args.output.clone().unwrap_or(default_name.into());
        let rows = write(export, &output).await?;
        let mut stderr = std::io::stderr();
        writeln!(stderr, "exported {rows} events to {}", output.display())?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The export the flags name, and its default file name.
async fn prepare(
    billing: &Billing,
    account: &AccountId,
    args: &Args,
) -> anyhow::Result<(Export, String)> {
    let scope = match (&args.invoice, &args.subscription) {
        (Some(invoice), _) => billing.invoice_scope(account, invoice).await?,
        (None, Some(subscription)) => {
            let range = DateRange {
                start_date: args.start_date.clone(),
                end_date: args.end_date.clone(),
            };
            billing
                .subscription_scope(account, subscription, &range)
                .await?
        }
        (None, None) => bail!("give --invoice or --subscription"),
    };
    match &args.product {
        Some(product) => {
            let export = billing.product_csv(account, &scope, product).await?;
            Ok((
                Export::Csv(Box::new(export)),
                format!("events-{product}.csv"),
            ))
        }
        None => {
            let export = billing.scope_zip(account, &scope).await?;
            let name = export.file_name();
            Ok((Export::Zip(export), name))
        }
    }
}

/// Writes the export to `output` (`-`: standard output) with a progress bar.
async fn write(export: Export, output: &Path) -> anyhow::Result<u64> {
    let bar = progress_bar(export.rows());
    if output.as_os_str() == "-" {
        let rows = stream(export, std::io::stdout().lock(), &bar).await?;
        bar.finish_and_clear();
        return Ok(rows);
    }
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let file =
        File::create(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
    let written = stream(export, file, &bar).await;
    bar.finish_and_clear();
    match written {
        Ok(rows) => {
            std::fs::rename(&partial, output)
                .with_context(|| format!("cannot write {}", output.display()))?;
            Ok(rows)
        }
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            Err(error)
        }
    }
}

/// Chunks go straight to the writer: they are 64 KiB already.
async fn stream<W: Write>(export: Export, out: W, bar: &ProgressBar) -> anyhow::Result<u64> {
    let sink = sink::unfold(out, |mut out, chunk: Vec<u8>| async move {
        out.write_all(&chunk)?;
        Ok::<_, std::io::Error>(out)
    });
    let mut sink = std::pin::pin!(sink);
    let mut progress = |rows: u64| bar.set_position(rows);
    let rows = match export {
        Export::Csv(export) => export.write_to(&mut sink, &mut progress).await,
        Export::Zip(export) => export.write_to(&mut sink, &mut progress).await,
    };
    rows.context("export failed")
}

/// A bar over the rows to write, drawn only when standard error is a
/// terminal (never into a log or a pipe).
fn progress_bar(rows: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(rows), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

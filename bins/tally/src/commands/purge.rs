//! `tally purge`: erases every version of events for good (personal data),
//! as `POST /v1/events/purge` does. Deleting (`DELETE /v1/events`) keeps
//! history; a purge does not, so it asks for `--yes`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, bail};
use tally_billing::{Billing, DeleteEvents};

use crate::commands::{DatabaseArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The account's name.
    #[arg(long)]
    pub account: String,
    /// The type of the events to erase.
    #[arg(long)]
    pub event_type: String,
    /// Their record ids (at most 5000).
    #[arg(required = true)]
    pub record_ids: Vec<String>,
    /// Confirms that every version of these events is to be erased, for good.
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if !args.yes {
        bail!("a purge cannot be undone: add --yes to erase every version of these events");
    }
    runtime()?.block_on(async {
        let store = tally_engine::open_existing_store(&args.database.database_url).await?;
        let account = store
            .find_account_by_name(&args.account)
            .await?
            .with_context(|| format!("no account named {}", args.account))?;
        let request = DeleteEvents {
            matching: Some("record_ids".to_owned()),
            event_type: Some(args.event_type.clone()),
            record_ids: args
                .record_ids
                .iter()
                .map(|id| serde_json::Value::String(id.clone()))
                .collect(),
        };
        let purged = Billing::new(store)
            .purge_events(&account.id, &request)
            .await?;
        writeln!(std::io::stdout(), "purged {purged} events")?;
        Ok(ExitCode::SUCCESS)
    })
}

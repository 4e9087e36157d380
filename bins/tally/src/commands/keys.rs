//! `tally keys create --account NAME`: a new API key, printed once.

use std::io::Write;
use std::process::ExitCode;

use crate::accounts;
use crate::commands::{DatabaseArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key for an account (and the account if it does not exist).
    Create(CreateArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The account's name.
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let KeysCommand::Create(create) = &args.command;
    let issued = runtime()?.block_on(async {
        let store = tally_engine::open_store(&create.database.database_url).await?;
        accounts::create_key(&store, &create.account).await
    })?;
    let secret = issued.secret.unwrap_or_default();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{secret}")?;
    writeln!(
        std::io::stderr(),
        "created an api key for account {} ({}); it is shown only once",
        issued.account.name,
        issued.account.id
    )?;
    Ok(ExitCode::SUCCESS)
}

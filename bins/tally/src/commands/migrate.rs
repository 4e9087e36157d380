//! `tally migrate`: brings the database schema up to date and exits.

use std::io::Write;
use std::process::ExitCode;

use crate::commands::{DatabaseArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub database: DatabaseArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    // Every backend migrates when it opens, so opening is the whole command.
    runtime()?.block_on(tally_engine::open_store(&args.database.database_url))?;
    writeln!(
        std::io::stdout(),
        "database {} is up to date",
        tally_engine::redact_url(&args.database.database_url)
    )?;
    Ok(ExitCode::SUCCESS)
}

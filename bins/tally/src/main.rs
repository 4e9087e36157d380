//! The `tally` binary: command line, configuration and wiring; no domain logic.
//!
//! Each command lives in its own module under `commands/`, with its clap `Args` and
//! a `run` that returns the process exit code. Flags override `TALLY_*` environment
//! variables, which override defaults.

mod accounts;
mod commands;
mod connections;

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// mimalloc instead of the system allocator: the server allocates and frees
/// many small values across threads, where glibc's malloc spent about a sixth
/// of the request threads' time (docs/PERFORMANCE.md, "Event store v2").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Tally, a usage-based billing engine.
#[derive(Debug, Parser)]
#[command(name = "tally", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API.
    Serve(commands::serve::Args),
    /// Bring the database schema up to date.
    Migrate(commands::migrate::Args),
    /// Manage API keys.
    Keys(commands::keys::Args),
    /// Check NDJSON events (one per line) without storing them.
    Validate(commands::validate::Args),
    /// Write the CSV of a product's events, or the ZIP of an invoice's.
    Export(commands::export::Args),
    /// Load events from NDJSON or CSV into a database or a server; resumable.
    Import(commands::import::Args),
    /// Erase every version of events for good (personal data).
    Purge(commands::purge::Args),
    /// Read or change an account's ingestion settings.
    Settings(commands::settings::Args),
}

/// Exit code for a command that could not run (unreadable file, closed output).
/// clap uses the same code for usage errors.
const EXIT_FAILURE_TO_RUN: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => commands::serve::run(&args),
        Command::Migrate(args) => commands::migrate::run(&args),
        Command::Keys(args) => commands::keys::run(&args),
        Command::Validate(args) => commands::validate::run(&args),
        Command::Export(args) => commands::export::run(&args),
        Command::Import(args) => commands::import::run(&args),
        Command::Purge(args) => commands::purge::run(&args),
        Command::Settings(args) => commands::settings::run(&args),
    };
    result.unwrap_or_else(|error| {
        // A use case's failure carries the code the API would answer with.
        let code = error
            .chain()
            .find_map(|cause| cause.downcast_ref::<tally_billing::BillingError>())
            .map(|failure| format!(" [{}]", failure.code()))
            .unwrap_or_default();
        // Writing to a closed stderr must not panic, as eprintln! would.
        let _ = writeln!(std::io::stderr(), "error{code}: {error:#}");
        ExitCode::from(EXIT_FAILURE_TO_RUN)
    })
}

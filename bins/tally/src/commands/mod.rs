//! One module per subcommand.

pub mod export;
pub mod import;
pub mod keys;
pub mod migrate;
pub mod purge;
pub mod serve;
pub mod settings;
pub mod validate;

use tally_engine::DEFAULT_DATABASE_URL;

/// `--database-url`, shared by every command that touches data.
#[derive(Debug, Clone, clap::Args)]
pub struct DatabaseArgs {
    /// Where data lives: sqlite://PATH, postgres://… or memory:. `serve`,
    /// `migrate` and `keys create` create a missing SQLite file; the other
    /// commands refuse one rather than read or fill an empty database.
    #[arg(long, env = "TALLY_DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,
}

/// A runtime for a command that talks to a database.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))
}

//! `tally keys create|list|revoke --account NAME`: API keys. A new key's
//! secret is printed once; the store keeps only its hash, so a list shows
//! ids and creation instants.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use tally_billing::Billing;

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
    /// List an account's API keys: id and creation instant, oldest first.
    List(AccountArgs),
    /// Revoke one of an account's API keys by its id (`key_…`).
    Revoke(RevokeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The account's name.
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct AccountArgs {
    /// The account's name.
    #[arg(long)]
    pub account: String,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, clap::Args)]
pub struct RevokeArgs {
    /// The key's id (`key_…`), as `tally keys list` shows it.
    pub key_id: String,
    #[command(flatten)]
    pub account: AccountArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        KeysCommand::Create(create) => create_key(create),
        KeysCommand::List(list) => list_keys(list),
        KeysCommand::Revoke(revoke) => revoke_key(revoke),
    }
}

fn create_key(create: &CreateArgs) -> anyhow::Result<ExitCode> {
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

fn list_keys(args: &AccountArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (billing, account) = open_account(args).await?;
        let keys = billing.api_keys(&account).await?;
        let mut out = std::io::stdout().lock();
        for key in keys {
            writeln!(out, "{}\t{}", key.id, key.created_at.to_rfc3339())?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

fn revoke_key(args: &RevokeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let (billing, account) = open_account(&args.account).await?;
        billing
            .revoke_api_key(&account, &args.key_id)
            .await
            .with_context(|| {
                format!(
                    "account {} has no key {}",
                    args.account.account, args.key_id
                )
            })?;
        writeln!(
            std::io::stderr(),
            "revoked {}; a running server stops accepting it within its key cache's lifetime",
            args.key_id
        )?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The service over an existing database, and the account named in `args`.
pub(crate) async fn open_account(
    args: &AccountArgs,
) -> anyhow::Result<(Billing, tally_store::AccountId)> {
    let store = tally_engine::open_existing_store(&args.database.database_url).await?;
    let account = store
        .find_account_by_name(&args.account)
        .await?
        .with_context(|| format!("no account named {}", args.account))?;
    Ok((Billing::new(store), account.id))
}

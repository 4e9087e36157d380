//! `tally settings get|set --account NAME`: the account's ingestion
//! settings (docs/billing.md, "Account settings"), as `GET` and `PATCH
//! /v1/settings` read and change them.

use std::io::Write;
use std::process::ExitCode;

use anyhow::bail;
use serde_json::{Map, Value};

use crate::commands::keys::{AccountArgs, open_account};
use crate::commands::runtime;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: SettingsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum SettingsCommand {
    /// Print every setting, defaults included, as JSON.
    Get(AccountArgs),
    /// Set settings: `KEY=VALUE`, the value read as JSON when it is JSON
    /// (`max_future_skew_ms=0`, `auto_create_customers=false`, `pii_policy=null`
    /// for the default), else as a string (`pii_policy=mask`).
    Set(SetArgs),
}

#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// `KEY=VALUE` pairs.
    #[arg(required = true)]
    pub pairs: Vec<String>,
    #[command(flatten)]
    pub account: AccountArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        SettingsCommand::Get(account) => runtime()?.block_on(async {
            let (billing, account) = open_account(account).await?;
            let settings = billing.account_settings(&account).await?;
            print(&settings.to_json())
        }),
        SettingsCommand::Set(set) => {
            let patch = patch_of(&set.pairs)?;
            runtime()?.block_on(async {
                let (billing, account) = open_account(&set.account).await?;
                let settings = billing.update_account_settings(&account, &patch).await?;
                print(&settings.to_json())
            })
        }
    }
}

/// The `KEY=VALUE` pairs as a settings object.
fn patch_of(pairs: &[String]) -> anyhow::Result<Value> {
    let mut patch = Map::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("`{pair}` is not KEY=VALUE");
        };
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
        patch.insert(key.to_owned(), value);
    }
    Ok(Value::Object(patch))
}

fn print(settings: &Value) -> anyhow::Result<ExitCode> {
    writeln!(std::io::stdout(), "{settings}")?;
    Ok(ExitCode::SUCCESS)
}

//! `tally serve`: the HTTP server.
//!
//! Opens (and migrates) the store, bootstraps the first account on an empty
//! database, and serves the API until SIGTERM or Ctrl-C, then stops accepting
//! connections and lets in-flight requests finish (and the ingestion queue
//! drain) before exiting. Connections are served by [`crate::connections`],
//! with timeouts and a cap.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use std::time::Duration;

use axum::http::HeaderName;
use tally_api::{ApiConfig, AppState, AuthFailureLimit, PageRateLimit, RateLimitConfig};
use tally_billing::{Billing, IngestQueueConfig, WebhookConfig};

use tally_engine::SqliteOptions;
use tally_web::{PortalConfig, PortalSecret};

use crate::accounts::{self, IssuedKey};
use crate::commands::{DatabaseArgs, runtime};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "TALLY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format on standard error (levels from RUST_LOG).
    #[arg(long, env = "TALLY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Requests per second each API key may sustain.
    #[arg(long, env = "TALLY_RATE_LIMIT_PER_SECOND", default_value_t = RateLimitConfig::default().per_second)]
    pub rate_limit_per_second: u32,
    /// Requests each API key may send in one burst.
    #[arg(long, env = "TALLY_RATE_LIMIT_BURST", default_value_t = RateLimitConfig::default().burst)]
    pub rate_limit_burst: u32,
    /// Portal and console pages each client address may ask for per minute
    /// (0 turns the limit off).
    #[arg(long, env = "TALLY_PAGE_RATE_LIMIT_PER_MINUTE", default_value_t = PageRateLimit::default().per_minute)]
    pub page_rate_limit_per_minute: u32,
    /// Portal and console pages each client address may ask for in one burst.
    #[arg(long, env = "TALLY_PAGE_RATE_LIMIT_BURST", default_value_t = PageRateLimit::default().burst)]
    pub page_rate_limit_burst: u32,
    /// Largest request body, except batches.
    #[arg(long, env = "TALLY_BODY_LIMIT_BYTES", default_value_t = tally_api::state::DEFAULT_BODY_LIMIT_BYTES)]
    pub body_limit_bytes: usize,
    /// Largest body of POST /v1/events/batch.
    #[arg(long, env = "TALLY_BATCH_BODY_LIMIT_BYTES", default_value_t = tally_api::state::DEFAULT_BATCH_BODY_LIMIT_BYTES)]
    pub batch_body_limit_bytes: usize,
    /// Seconds a key's account is remembered between store lookups; a revoked
    /// key stops working within this delay (0 looks every request up).
    #[arg(long, env = "TALLY_KEY_CACHE_SECONDS", default_value_t = 10)]
    pub key_cache_seconds: u64,
    /// Most events waiting to be written (group commit); past it, ingestion
    /// answers 503 `overloaded` with Retry-After.
    #[arg(long, env = "TALLY_INGEST_QUEUE_EVENTS", default_value_t = tally_billing::DEFAULT_MAX_QUEUED_EVENTS,
        value_parser = at_least_one())]
    pub ingest_queue_events: usize,
    /// Most events one group commit writes in a transaction.
    #[arg(long, env = "TALLY_INGEST_COMMIT_EVENTS", default_value_t = tally_billing::DEFAULT_MAX_EVENTS_PER_COMMIT,
        value_parser = at_least_one())]
    pub ingest_commit_events: usize,
    /// SQLite: the writer connection's page cache in MiB (each reader gets a
    /// quarter of it).
    #[arg(long, env = "TALLY_SQLITE_CACHE_MIB", default_value_t = SqliteOptions::default().cache_mib,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub sqlite_cache_mib: u32,
    /// SQLite: WAL pages written before a commit checkpoints them into the database.
    #[arg(long, env = "TALLY_SQLITE_WAL_AUTOCHECKPOINT", default_value_t = SqliteOptions::default().wal_autocheckpoint_pages)]
    pub sqlite_wal_autocheckpoint: u32,
    /// Failed authentications (missing or unknown key, under /v1 or at the
    /// console's sign-in) one client address may make before both answer it
    /// 429 (0: no limit).
    #[arg(long, env = "TALLY_AUTH_FAILURE_LIMIT", default_value_t = AuthFailureLimit::default().max_failures)]
    pub auth_failure_limit: u32,
    /// Seconds in which an address regains its full allowance of failures.
    #[arg(long, env = "TALLY_AUTH_FAILURE_WINDOW_SECONDS", default_value_t = AuthFailureLimit::default().window.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..))]
    pub auth_failure_window_seconds: u64,
    /// A header set by a trusted reverse proxy whose last address is the
    /// client's (x-forwarded-for); without it the peer address is the client's.
    #[arg(long, env = "TALLY_CLIENT_IP_HEADER")]
    pub client_ip_header: Option<HeaderName>,
    /// Milliseconds a connection may take to send a request head, counted from
    /// when the server waits for one; also the keep-alive wait (0: no limit).
    #[arg(long, env = "TALLY_HEADER_READ_TIMEOUT_MS", default_value_t = 30_000)]
    pub header_read_timeout_ms: u64,
    /// Milliseconds a connection may go without reading or writing a byte
    /// (0: no limit).
    #[arg(long, env = "TALLY_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Connections open at once; more wait to be accepted.
    #[arg(long, env = "TALLY_MAX_CONNECTIONS", default_value_t = 1000,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Let webhook endpoints point at private, loopback, link-local and
    /// unspecified addresses (tests, a receiver on the same network). Off:
    /// such URLs are refused when saved and when delivered.
    #[arg(long, env = "TALLY_WEBHOOKS_ALLOW_PRIVATE_URLS")]
    pub webhooks_allow_private_urls: bool,
    /// Attempts of a webhook message before it is `failed` (a manual retry
    /// starts another run).
    #[arg(long, env = "TALLY_WEBHOOKS_MAX_ATTEMPTS", default_value_t = WebhookConfig::default().max_attempts,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub webhooks_max_attempts: u32,
    /// Milliseconds one webhook attempt may take, connection to answer.
    #[arg(long, env = "TALLY_WEBHOOKS_TIMEOUT_MS", default_value_t = millis(WebhookConfig::default().timeout),
        value_parser = clap::value_parser!(u64).range(1..))]
    pub webhooks_timeout_ms: u64,
    /// Milliseconds before a message's second attempt; each next wait
    /// doubles, with jitter.
    #[arg(long, env = "TALLY_WEBHOOKS_BACKOFF_BASE_MS", default_value_t = millis(WebhookConfig::default().backoff_base))]
    pub webhooks_backoff_base_ms: u64,
    /// The longest wait between two attempts, in milliseconds.
    #[arg(long, env = "TALLY_WEBHOOKS_BACKOFF_MAX_MS", default_value_t = millis(WebhookConfig::default().backoff_max))]
    pub webhooks_backoff_max_ms: u64,
    /// Webhook attempts in flight at once per endpoint, across every server
    /// sharing the database.
    #[arg(long, env = "TALLY_WEBHOOKS_ENDPOINT_CONCURRENCY", default_value_t = WebhookConfig::default().per_endpoint_concurrency,
        value_parser = clap::value_parser!(u32).range(1..))]
    pub webhooks_endpoint_concurrency: u32,
    /// Milliseconds between two looks for webhook work when idle.
    #[arg(long, env = "TALLY_WEBHOOKS_POLL_MS", default_value_t = millis(WebhookConfig::default().poll_interval),
        value_parser = clap::value_parser!(u64).range(1..))]
    pub webhooks_poll_ms: u64,
    /// The key customer portal links and console sessions are signed with
    /// (at least 32 bytes). Without it a key is generated at start, and links
    /// and sessions end at a restart; servers sharing a database must share it.
    #[arg(long, env = "TALLY_PORTAL_SECRET", hide_env_values = true)]
    pub portal_secret: Option<String>,
    /// The address customers reach this server at, which portal links start
    /// with (default `http://` and the listen address); with `https://` the
    /// console's cookies are `Secure`.
    #[arg(long, env = "TALLY_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Register this API key for the `default` account at start, instead of
    /// generating one (scripts, tests).
    #[arg(long, env = "TALLY_BOOTSTRAP_API_KEY", hide_env_values = true)]
    pub bootstrap_api_key: Option<String>,
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The webhook settings the flags give.
fn webhooks(args: &Args) -> WebhookConfig {
    WebhookConfig {
        allow_private_urls: args.webhooks_allow_private_urls,
        max_attempts: args.webhooks_max_attempts,
        timeout: Duration::from_millis(args.webhooks_timeout_ms),
        backoff_base: Duration::from_millis(args.webhooks_backoff_base_ms),
        backoff_max: Duration::from_millis(args.webhooks_backoff_max_ms),
        per_endpoint_concurrency: args.webhooks_endpoint_concurrency,
        poll_interval: Duration::from_millis(args.webhooks_poll_ms),
        ..WebhookConfig::default()
    }
}

/// A count of 1 or more.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    init_logs(args.log_format);
    runtime()?.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files or log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    // A bad secret stops the start before anything is opened.
    let portal_secret = portal_secret(args)?;
    let url = &args.database.database_url;
    let sqlite = SqliteOptions {
        cache_mib: args.sqlite_cache_mib,
        wal_autocheckpoint_pages: args.sqlite_wal_autocheckpoint,
    };
    let store = tally_engine::open_store_with(url, &sqlite).await?;
    tracing::info!(database = %tally_engine::redact_url(url), "store open");
    let issued = accounts::bootstrap(&store, args.bootstrap_api_key.as_deref()).await?;
    if let Some(issued) = issued {
        announce(&issued)?;
    }
    let billing = Billing::new(store)
        .with_ingest_queue(IngestQueueConfig {
            max_queued_events: args.ingest_queue_events,
            max_events_per_commit: args.ingest_commit_events,
        })
        .with_webhooks(webhooks(args));
    // Registers the rollups of aggregators made before this version (or by
    // another process) and resumes any backfill in the background.
    billing.start_rollups().await;
    if let Some(error) = billing.backfill_error() {
        tracing::warn!(%error, "rollups not started: usage reads scan events");
    }
    // Evaluates every customer's thresholds in the background: a crossing
    // whose evaluation a stop cut short is announced now.
    if let Err(error) = billing.start_thresholds().await {
        tracing::warn!(%error, "thresholds not evaluated at start");
    }
    // Delivers webhook messages, those left by an earlier run included.
    let webhook_worker = tally_webhooks::start(&billing);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    let portal = PortalConfig::new(portal_secret, &public_url(args, address));
    let app = tally_api::router(AppState::new(billing.clone(), api_config(args, portal)));
    writeln!(std::io::stdout(), "tally listening on http://{address}")?;
    tracing::info!(%address, "listening");
    crate::connections::serve(listener, app, limits(args), shutdown_signal()).await;
    // Every request has been answered; a write whose client went away may
    // still be queued: let it finish rather than cut it short.
    billing.flush_ingest().await;
    // Attempts in flight end (each within its timeout) and are recorded;
    // messages not yet delivered wait in the store for the next start.
    webhook_worker.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// The key portal links are signed with: the configured one, else one
/// generated now (its links end with this process).
fn portal_secret(args: &Args) -> anyhow::Result<PortalSecret> {
    match &args.portal_secret {
        Some(text) => PortalSecret::from_text(text).context("--portal-secret"),
        None => {
            tracing::info!(
                "no portal secret configured: links and console sessions end at a restart"
            );
            Ok(PortalSecret::generate(&mut rand::rng()))
        }
    }
}

/// The address portal links start with.
fn public_url(args: &Args, address: SocketAddr) -> String {
    args.public_url
        .clone()
        .unwrap_or_else(|| format!("http://{address}"))
}

/// The API's settings the flags give.
fn api_config(args: &Args, portal: PortalConfig) -> ApiConfig {
    ApiConfig {
        rate_limit: RateLimitConfig {
            per_second: args.rate_limit_per_second,
            burst: args.rate_limit_burst,
        },
        body_limit_bytes: args.body_limit_bytes,
        batch_body_limit_bytes: args.batch_body_limit_bytes,
        key_cache_ttl: Duration::from_secs(args.key_cache_seconds),
        auth_failure_limit: AuthFailureLimit {
            max_failures: args.auth_failure_limit,
            window: Duration::from_secs(args.auth_failure_window_seconds),
        },
        client_ip_header: args.client_ip_header.clone(),
        portal,
        page_rate_limit: PageRateLimit {
            per_minute: args.page_rate_limit_per_minute,
            burst: args.page_rate_limit_burst,
        },
    }
}

fn limits(args: &Args) -> crate::connections::Limits {
    let millis = |ms: u64| (ms > 0).then(|| Duration::from_millis(ms));
    crate::connections::Limits {
        header_read_timeout: millis(args.header_read_timeout_ms),
        idle_timeout: millis(args.idle_timeout_ms),
        max_connections: args.max_connections,
    }
}

/// Prints a generated key once: it is stored only as a hash.
fn announce(issued: &IssuedKey) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match &issued.secret {
        Some(secret) => writeln!(
            out,
            "created account {} with api key {secret}\nkeep it: it is shown only once",
            issued.account.name
        )?,
        None => writeln!(
            out,
            "registered TALLY_BOOTSTRAP_API_KEY for account {}",
            issued.account.name
        )?,
    }
    out.flush()?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM; the server then drains in-flight requests.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: draining in-flight requests");
}

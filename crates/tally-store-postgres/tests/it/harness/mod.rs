//! The PostgreSQL the tests run against.
//!
//! With `TALLY_TEST_POSTGRES_URL` set (a superuser URL, e.g.
//! `postgres://postgres@127.0.0.1:5432/postgres`), tests use that server.
//! Otherwise the first test starts one throwaway cluster for the whole test
//! process (see [`cluster`]), found through [`binaries`]. Each test gets a
//! database of its own. When neither works, tests fail with the reason: they
//! never skip.

pub mod binaries;
pub mod cluster;

use std::str::FromStr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor};

use binaries::{RunAs, find_bin_dir};
use cluster::Cluster;

pub const URL_VAR: &str = "TALLY_TEST_POSTGRES_URL";

/// The server of this test process.
#[derive(Debug)]
pub enum Server {
    /// Started by the harness; stopped and deleted when the process ends.
    Throwaway(Cluster),
    /// Given by `TALLY_TEST_POSTGRES_URL`.
    External(String),
}

impl Server {
    pub fn admin_url(&self) -> String {
        match self {
            Server::Throwaway(cluster) => cluster.admin_url(),
            Server::External(url) => url.clone(),
        }
    }
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The process-wide server, started on first use. Panics (failing the test) with
/// the reason when there is none.
pub fn server() -> &'static Server {
    let server = SERVER.get_or_init(|| match std::env::var(URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(Server::External(url)),
        _ => start_throwaway().map(Server::Throwaway),
    });
    match server {
        Ok(server) => server,
        Err(reason) => panic!("no postgres for the tests: {reason}"),
    }
}

/// A new cluster owned by the caller (stopped and deleted when dropped).
pub fn start_throwaway() -> Result<Cluster, String> {
    let bin = find_bin_dir()?;
    let run_as = RunAs::detect()?;
    Cluster::start(bin, run_as)
}

/// The default collation of every test database: a linguistic one, where
/// `'a' < 'B'` and accents sort next to their base letter, unlike byte order. The
/// schema must not depend on the database's collation (text keys are
/// `COLLATE "C"`), and only a non-C default lets a test catch a comparison that
/// lost its `COLLATE "C"`. The cluster itself is initialized with `--locale=C`
/// (no OS locale needed); ICU brings its own.
pub const TEST_ICU_LOCALE: &str = "en-US";

/// `LOCALE_PROVIDER icu` needs PostgreSQL 15 (`server_version_num`).
const MIN_ICU_DATABASE_VERSION: i32 = 150_000;

/// A database of its own for one test.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub options: PgConnectOptions,
    admin_url: String,
    drop_on_exit: bool,
}

/// Creates an empty database on the process-wide server.
pub async fn fresh_database() -> TestDatabase {
    let server = server();
    let drop_on_exit = matches!(server, Server::External(_));
    create_database(&server.admin_url(), drop_on_exit)
        .await
        .unwrap_or_else(|err| panic!("cannot create a test database: {err}"))
}

async fn create_database(admin_url: &str, drop_on_exit: bool) -> Result<TestDatabase, String> {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = format!(
        "tally_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let mut admin = admin_connection(admin_url).await?;
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut admin)
        .await
        .map_err(|err| format!("server version: {err}"))?;
    if version < MIN_ICU_DATABASE_VERSION {
        return Err(format!(
            "PostgreSQL {version} cannot create a database with an ICU collation; \
             the tests need 15 or later so that byte-order comparisons are really tested"
        ));
    }
    let create = format!(
        r#"CREATE DATABASE "{name}" TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'
           LOCALE_PROVIDER icu ICU_LOCALE '{TEST_ICU_LOCALE}'"#
    );
    admin.execute(create.as_str()).await.map_err(|err| {
        format!(
            "create database {name} with ICU collation {TEST_ICU_LOCALE} \
                 (a server built without ICU cannot run the tests): {err}"
        )
    })?;
    admin.close().await.map_err(|err| err.to_string())?;
    let options = admin_options(admin_url)?.database(&name);
    Ok(TestDatabase {
        name,
        options,
        admin_url: admin_url.to_owned(),
        drop_on_exit,
    })
}

pub fn admin_options(admin_url: &str) -> Result<PgConnectOptions, String> {
    PgConnectOptions::from_str(admin_url).map_err(|err| format!("bad postgres url: {err}"))
}

pub async fn admin_connection(admin_url: &str) -> Result<PgConnection, String> {
    admin_options(admin_url)?
        .connect()
        .await
        .map_err(|err| format!("cannot connect to {admin_url}: {err}"))
}

impl Drop for TestDatabase {
    /// A throwaway cluster disappears with its databases; on a server given by
    /// URL, drop the test's database so runs do not pile up. Best effort, on a
    /// thread of its own because `Drop` cannot await.
    fn drop(&mut self) {
        if !self.drop_on_exit {
            return;
        }
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|err| err.to_string())?;
            runtime.block_on(async {
                let mut admin = admin_connection(&admin_url).await?;
                let sql = format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#);
                admin
                    .execute(sql.as_str())
                    .await
                    .map_err(|err| err.to_string())?;
                admin.close().await.map_err(|err| err.to_string())
            })
        })
        .join();
        if let Ok(Err(err)) = dropped {
            eprintln!("cannot drop test database {}: {err}", self.name);
        }
    }
}

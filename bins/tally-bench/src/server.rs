//! The server under test: the release `tally` binary as a child process, so its
//! memory can be read from `/proc` apart from the load generator's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// The API key every benchmark server registers for its `default` account.
pub const BENCH_API_KEY: &str = "tally_sk_bench_key_for_reproducible_runs";

/// Requests per second and burst given to the server: far above any load here,
/// so the rate limiter never shapes a figure.
const NO_RATE_LIMIT: &str = "1000000000";

/// How long a server may take to open its database and listen.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a stopping server may take to drain.
const STOP_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `tally serve`.
pub struct Server {
    child: Child,
    pid: u32,
    pub addr: SocketAddr,
}

/// Resident memory of a process, in bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// `VmRSS`: resident now.
    pub rss: u64,
    /// `VmHWM`: the peak since the process started.
    pub peak: u64,
}

impl Server {
    /// Starts `tally serve` on the SQLite file `db` (created and migrated when
    /// missing) on a free port; its log goes to `log`.
    pub async fn start(tally: &Path, db: &Path, log: &Path) -> anyhow::Result<Server> {
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(tally)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--database-url")
            .arg(format!("sqlite://{}", db.display()))
            .args(["--bootstrap-api-key", BENCH_API_KEY])
            .args(["--rate-limit-per-second", NO_RATE_LIMIT])
            .args(["--rate-limit-burst", NO_RATE_LIMIT])
            .env("RUST_LOG", "warn")
            .env_remove("TALLY_DATABASE_URL")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", tally.display()))?;
        let pid = child.id().context("the server exited at once")?;
        let stdout = child.stdout.take().context("no server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(START_TIMEOUT, async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("tally listening on http://") {
                    return url
                        .trim()
                        .parse::<SocketAddr>()
                        .context("bad listen address");
                }
            }
            bail!("the server stopped before listening; see {}", log.display())
        })
        .await
        .context("the server did not start in time")??;
        // Keep reading so that the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Ok(Server { child, pid, addr })
    }

    /// The server's memory now (Linux only: `None` elsewhere).
    pub fn memory(&self) -> Option<Memory> {
        memory_of(self.pid)
    }

    /// A reader of the server's memory that a sampling task can own.
    pub fn memory_reader(&self) -> impl Fn() -> Option<Memory> + Send + 'static {
        let pid = self.pid;
        move || memory_of(pid)
    }

    /// Stops the server with SIGTERM (it drains, then exits) and returns its
    /// memory just before.
    pub async fn stop(mut self) -> anyhow::Result<Option<Memory>> {
        let memory = self.memory();
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status();
        match tokio::time::timeout(STOP_TIMEOUT, self.child.wait()).await {
            Ok(status) => {
                status.context("cannot wait for the server")?;
            }
            Err(_) => {
                self.child.kill().await.context("cannot kill the server")?;
            }
        }
        Ok(memory)
    }
}

/// `VmRSS` and `VmHWM` of `pid` from `/proc/<pid>/status`.
pub fn memory_of(pid: u32) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|line| line.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some(kb * 1024)
    };
    Some(Memory {
        rss: field("VmRSS:")?,
        peak: field("VmHWM:")?,
    })
}

/// Where the `tally` binary is: `--tally`, else beside this binary (both are
/// built into the same `target/release`).
pub fn locate_tally(flag: Option<&Path>) -> anyhow::Result<PathBuf> {
    let path = match flag {
        Some(path) => path.to_path_buf(),
        None => std::env::current_exe()
            .context("cannot find this binary's path")?
            .with_file_name(format!("tally{}", std::env::consts::EXE_SUFFIX)),
    };
    if !path.is_file() {
        bail!(
            "no tally binary at {}: build it (cargo build --release -p tally) or pass --tally PATH",
            path.display()
        );
    }
    Ok(path)
}

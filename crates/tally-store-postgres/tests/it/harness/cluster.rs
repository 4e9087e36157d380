//! A throwaway PostgreSQL cluster: `initdb` in a temporary directory, `pg_ctl start`
//! on a free loopback port, `pg_ctl stop -m immediate` and removal when dropped.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use tempfile::TempDir;

use super::binaries::{BinDir, RunAs, run};

/// Settings appended to `postgresql.conf`. Durability is off on purpose: the
/// cluster lives for one test run and is deleted afterwards, so a crash can only
/// lose data nobody will read again, and skipping fsync keeps `CREATE DATABASE`
/// and every commit fast on a shared CI machine. Production clusters keep the
/// defaults (fsync and synchronous commit on).
const TEST_SETTINGS: &str = "
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
";

/// How many free ports to try: another process may take the one picked between
/// the probe and the server's bind.
const START_ATTEMPTS: u32 = 3;

/// Stops the cluster and removes its directory once the test process is gone,
/// however it ended (a panic that aborts, SIGKILL, Ctrl-C): statics are never
/// dropped, so the process-wide server relies on this, as testcontainers relies
/// on its reaper. It lives in its own process group so that a Ctrl-C aimed at
/// the tests does not kill it before it cleans up.
const REAPER_SCRIPT: &str = r#"
parent=$1; dir=$2; shift 2
while kill -0 "$parent" 2>/dev/null; do sleep 1; done
"$@" >/dev/null 2>&1
rm -rf "$dir"
"#;

/// A running cluster that belongs to this process.
#[derive(Debug)]
pub struct Cluster {
    bin: BinDir,
    run_as: RunAs,
    data_dir: PathBuf,
    port: u16,
    stopped: bool,
    // Declared last: removed after the server stopped.
    dir: TempDir,
}

impl Cluster {
    /// Creates and starts a cluster whose superuser `postgres` needs no password
    /// on the loopback interface; it goes away with this process.
    pub fn start(bin: BinDir, run_as: RunAs) -> Result<Self, String> {
        Self::start_watching(bin, run_as, std::process::id())
    }

    /// Like [`Cluster::start`], but the cluster goes away with process `watched`
    /// (so a test can check the cleanup by killing a stand-in process).
    pub fn start_watching(bin: BinDir, run_as: RunAs, watched: u32) -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("tally-pg-")
            .tempdir()
            .map_err(|err| format!("cannot create a temporary directory: {err}"))?;
        run_as.take_ownership(dir.path())?;
        let data_dir = dir.path().join("data");
        let mut cluster = Cluster {
            bin,
            run_as,
            data_dir,
            port: 0,
            stopped: true,
            dir,
        };
        cluster.spawn_reaper(watched)?;
        cluster.initdb()?;
        cluster.start_on_free_port()?;
        Ok(cluster)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The superuser's URL for the `postgres` maintenance database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn initdb(&self) -> Result<(), String> {
        let mut command = self.run_as.command(&self.bin.initdb());
        // UTF8 and the C locale, which needs no locale installed on the machine.
        // The test databases are created with an ICU collation instead (see
        // `TEST_ICU_LOCALE`), so byte order is not the default they run under.
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync");
        run(command, "initdb")?;
        let socket_dir = self.dir.path().join("socket");
        fs::create_dir(&socket_dir).map_err(|err| format!("cannot create socket dir: {err}"))?;
        self.run_as.take_ownership(&socket_dir)?;
        let settings = format!(
            "{TEST_SETTINGS}unix_socket_directories = '{}'\n",
            socket_dir.display()
        );
        OpenOptions::new()
            .append(true)
            .open(self.data_dir.join("postgresql.conf"))
            .and_then(|mut conf| conf.write_all(settings.as_bytes()))
            .map_err(|err| format!("cannot write postgresql.conf: {err}"))
    }

    fn start_on_free_port(&mut self) -> Result<(), String> {
        let mut last_error = String::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_loopback_port()?;
            match self.pg_ctl_start(port) {
                Ok(()) => {
                    self.port = port;
                    self.stopped = false;
                    return Ok(());
                }
                Err(err) => last_error = err,
            }
        }
        Err(format!("{last_error}\nserver log:\n{}", self.log_tail()))
    }

    fn pg_ctl_start(&self, port: u16) -> Result<(), String> {
        let mut command = self.run_as.command(&self.bin.pg_ctl());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {port}"))
            .arg("start");
        run(command, "pg_ctl start").map(drop)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    fn stop_command(&self) -> Command {
        let mut command = self.run_as.command(&self.bin.pg_ctl());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", "immediate", "-w", "stop"]);
        command
    }

    /// Stops the server now (also done on drop). Immediate mode: nothing in a
    /// throwaway cluster is worth a checkpoint.
    pub fn stop(&mut self) -> Result<(), String> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        run(self.stop_command(), "pg_ctl stop").map(drop)
    }

    /// Records that someone else stopped the server (the reaper, in its test).
    pub fn assume_stopped(&mut self) {
        self.stopped = true;
    }

    fn spawn_reaper(&self, watched: u32) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let stop = self.stop_command();
        let mut reaper = Command::new("sh");
        reaper
            .args(["-c", REAPER_SCRIPT, "tally-pg-reaper"])
            .arg(watched.to_string())
            .arg(self.dir.path())
            .arg(stop.get_program())
            .args(stop.get_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0);
        // Not waited for: it outlives this process by design.
        reaper
            .spawn()
            .map(drop)
            .map_err(|err| format!("cannot start the cleanup process: {err}"))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!("throwaway postgres: {err}");
        }
    }
}

fn free_loopback_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(|err| format!("cannot find a free loopback port: {err}"))
}

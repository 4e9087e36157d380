//! A throwaway PostgreSQL for `raw-postgres` when `TALLY_BENCH_POSTGRES_URL`
//! names none: `initdb` in a temporary directory, `pg_ctl start` on a free
//! loopback port, stopped and deleted afterwards. Unlike the storage tests'
//! cluster it keeps PostgreSQL's durable defaults (`fsync`, synchronous
//! commit), to compare with SQLite at `synchronous=FULL`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// Where Debian and Ubuntu install each PostgreSQL major version.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// A running throwaway cluster.
pub struct Cluster {
    bin: PathBuf,
    run_as_postgres: bool,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Starts a cluster, or says why it cannot (no PostgreSQL installed).
    pub fn start() -> anyhow::Result<Cluster> {
        let bin = find_bin_dir().context(
            "no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin (install PostgreSQL)",
        )?;
        // initdb refuses root: root runs the tools as the `postgres` user.
        let run_as_postgres = command_output("id", &["-u"])?.trim() == "0";
        let dir = std::env::temp_dir().join(format!("tally-bench-pg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("socket"))
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let mut cluster = Cluster {
            bin,
            run_as_postgres,
            dir,
            port: 0,
        };
        if run_as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&cluster.dir)
                .status()?;
            if !status.success() {
                bail!("cannot hand {} to the postgres user", cluster.dir.display());
            }
        }
        cluster.initdb()?;
        cluster.port = free_port()?;
        cluster.pg_ctl_start()?;
        Ok(cluster)
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn tool(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.run_as_postgres {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn initdb(&self) -> anyhow::Result<()> {
        let mut command = self.tool("initdb");
        command.arg("-D").arg(self.data()).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C",
        ]);
        run(command, "initdb")?;
        let settings = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n",
            self.dir.join("socket").display()
        );
        let conf = self.data().join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("cannot read postgresql.conf")?;
        text.push_str(&settings);
        std::fs::write(&conf, text).context("cannot write postgresql.conf")
    }

    fn pg_ctl_start(&self) -> anyhow::Result<()> {
        let mut command = self.tool("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!("-p {}", self.port))
            .arg("start");
        run(command, "pg_ctl start")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut command = self.tool("pg_ctl");
        command
            .arg("-D")
            .arg(self.data())
            .args(["-m", "fast", "-w", "stop"]);
        if let Err(error) = run(command, "pg_ctl stop") {
            eprintln!("throwaway postgres: {error:#}");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_bin_dir() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versions: Vec<(Vec<u32>, PathBuf)> = std::fs::read_dir(DEBIAN_VERSIONS_DIR)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().into_string().ok()?;
            let version = name
                .split('.')
                .map(str::parse)
                .collect::<Result<Vec<u32>, _>>()
                .ok()?;
            Some((version, entry.path().join("bin")))
        })
        .collect();
    versions.sort_by(|a, b| b.0.cmp(&a.0));
    on_path
        .into_iter()
        .chain(versions.into_iter().map(|(_, dir)| dir))
        .find(|dir| is_file(&dir.join("initdb")) && is_file(&dir.join("pg_ctl")))
}

fn is_file(path: &Path) -> bool {
    path.is_file()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn command_output(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let output = command
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !output.status.success() {
        bail!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            String::from_utf8_lossy(&output.stdout).trim()
        );
    }
    Ok(())
}

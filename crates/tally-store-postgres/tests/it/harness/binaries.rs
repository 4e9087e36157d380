//! Finding `initdb` and `pg_ctl`, and running them as a user `initdb` accepts.

use std::env;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Where Debian and Ubuntu install each PostgreSQL major version.
const DEBIAN_VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// A directory holding both `initdb` and `pg_ctl` (`pg_ctl` finds `postgres` next
/// to itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinDir(pub PathBuf);

impl BinDir {
    pub fn initdb(&self) -> PathBuf {
        self.0.join("initdb")
    }

    pub fn pg_ctl(&self) -> PathBuf {
        self.0.join("pg_ctl")
    }
}

/// Looks on `PATH` first (an explicit choice wins), then under
/// `/usr/lib/postgresql/*/bin`, highest major version first.
pub fn find_bin_dir() -> Result<BinDir, String> {
    let path_dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|path| env::split_paths(&path).collect())
        .unwrap_or_default();
    find_bin_dir_in(&path_dirs, Path::new(DEBIAN_VERSIONS_DIR))
}

/// `find_bin_dir` over explicit places, so tests can point it at empty ones.
pub fn find_bin_dir_in(path_dirs: &[PathBuf], versions_dir: &Path) -> Result<BinDir, String> {
    let candidates = path_dirs
        .iter()
        .cloned()
        .chain(debian_bin_dirs(versions_dir));
    for dir in candidates {
        let bin = BinDir(dir);
        if bin.initdb().is_file() && bin.pg_ctl().is_file() {
            return Ok(bin);
        }
    }
    Err(format!(
        "no initdb and pg_ctl found on PATH or under {}/*/bin; install PostgreSQL \
         (apt-get install -y postgresql) or set TALLY_TEST_POSTGRES_URL",
        versions_dir.display()
    ))
}

/// `<versions_dir>/<major>/bin`, highest version first (`16` before `9.6`).
fn debian_bin_dirs(versions_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(versions_dir) else {
        return Vec::new();
    };
    let mut versions: Vec<(Vec<u32>, PathBuf)> = entries
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
    versions.into_iter().map(|(_, dir)| dir).collect()
}

/// Who runs the server's tools. `initdb` refuses to run as root, and CI runs as
/// root, so root hands them to the `postgres` system user the Debian package
/// creates; anyone else runs them directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAs {
    CurrentUser,
    /// Root, delegating to this system user through `runuser`.
    SystemUser {
        name: String,
        uid: u32,
        gid: u32,
    },
}

impl RunAs {
    pub fn detect() -> Result<Self, String> {
        let euid = id_number(&["-u"])?;
        if euid != 0 {
            return Ok(RunAs::CurrentUser);
        }
        let name = "postgres";
        let uid = id_number(&["-u", name]).map_err(|err| {
            format!(
                "running as root, and initdb refuses root, but there is no `{name}` \
                 user to run it as ({err}); install PostgreSQL (apt-get install -y \
                 postgresql creates the user) or set TALLY_TEST_POSTGRES_URL"
            )
        })?;
        let gid = id_number(&["-g", name])?;
        Ok(RunAs::SystemUser {
            name: name.to_owned(),
            uid,
            gid,
        })
    }

    /// A command that runs `program` as this user.
    pub fn command(&self, program: &Path) -> Command {
        match self {
            RunAs::CurrentUser => Command::new(program),
            RunAs::SystemUser { name, .. } => {
                let mut command = Command::new("runuser");
                command.args(["-u", name, "--"]).arg(program);
                command
            }
        }
    }

    /// Hands `path` to this user, so the server can write its data and socket there.
    pub fn take_ownership(&self, path: &Path) -> Result<(), String> {
        match self {
            RunAs::CurrentUser => Ok(()),
            RunAs::SystemUser { uid, gid, .. } => {
                std::os::unix::fs::chown(path, Some(*uid), Some(*gid))
                    .map_err(|err| format!("chown {}: {err}", path.display()))
            }
        }
    }
}

/// `id <args>` as a number: the effective uid, or another user's uid or gid.
fn id_number(args: &[&str]) -> Result<u32, String> {
    let output = Command::new("id")
        .args(args)
        .output()
        .map_err(|err| format!("cannot run id: {err}"))?;
    if !output.status.success() {
        return Err(format!("id {}: {}", args.join(" "), stderr_of(&output)));
    }
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .map_err(|err| format!("id {}: {err}", args.join(" ")))
}

/// Runs a prepared command to completion, turning failure into a message that
/// carries the command's own output.
pub fn run(mut command: Command, what: &str) -> Result<Output, String> {
    let output = command
        .output()
        .map_err(|err| format!("cannot run {what} ({:?}): {err}", program_of(&command)))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            stderr_of(&output)
        ))
    }
}

fn program_of(command: &Command) -> &OsStr {
    command.get_program()
}

pub fn stderr_of(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    format!("{}{}", stderr.trim(), stdout.trim())
}

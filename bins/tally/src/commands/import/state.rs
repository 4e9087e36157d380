//! The state file (`FILE.import-state`) that lets an interrupted import go on.
//!
//! After each acknowledged batch it records where the input stands (byte
//! offset and line), how long the rejects file is, and the counts so far;
//! it is written to a temporary file, synced and renamed over the old one, so
//! a crash leaves either the previous state or the new one. It also records
//! what it is the state of: the input's size and modification time, the
//! destination and the reading options. A state recorded for anything else
//! is ignored and the import starts from the beginning, which is always
//! correct (an event sent again is an upsert), only slower. The file is
//! removed once the whole input is acknowledged.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::Context;
use serde_json::{Value, json};

use super::source::Checkpoint;

/// What became of the events so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub stale: u64,
    pub refused: u64,
}

impl Counts {
    /// Counts one accepted event by its outcome (`created`, `updated`, …).
    pub fn accept(&mut self, outcome: &str) {
        match outcome {
            "created" => self.created += 1,
            "updated" => self.updated += 1,
            "stale" => self.stale += 1,
            _ => self.unchanged += 1,
        }
    }

    pub fn accepted(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.stale
    }
}

/// Where an import stands after an acknowledged batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    pub at: Checkpoint,
    pub rejects_len: u64,
    pub counts: Counts,
}

/// The state file of one input, destination and set of options.
pub struct StateFile {
    path: PathBuf,
    identity: Value,
}

impl StateFile {
    /// The state file beside `input`; `options` and `destination` describe
    /// how the input is read and where it goes.
    pub fn new(input: &Path, options: &str, destination: &str) -> anyhow::Result<StateFile> {
        let metadata =
            fs::metadata(input).with_context(|| format!("cannot read {}", input.display()))?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |since| since.as_nanos());
        let mut path = input.as_os_str().to_owned();
        path.push(".import-state");
        Ok(StateFile {
            path: path.into(),
            identity: json!({
                "input_len": metadata.len(),
                "input_modified_ns": modified_ns.to_string(),
                "options": options,
                "destination": destination,
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The recorded progress, if there is a state file and it is this
    /// import's; a note on standard error says which.
    pub fn load(&self) -> anyhow::Result<Option<Progress>> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", self.path.display()));
            }
        };
        let state: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let progress = (state["identity"] == self.identity)
            .then(|| progress_from(&state["progress"]))
            .flatten();
        let note = match &progress {
            Some(progress) => format!(
                "resuming after line {} ({} events done), as {} records",
                progress.at.line,
                progress.counts.accepted() + progress.counts.refused,
                self.path.display()
            ),
            None => format!(
                "{} is for another input, destination or options: importing from the start",
                self.path.display()
            ),
        };
        let _ = writeln!(io::stderr(), "{note}");
        Ok(progress)
    }

    /// Records `progress`: temporary file, sync, rename.
    pub fn save(&self, progress: &Progress) -> anyhow::Result<()> {
        let state = json!({"identity": self.identity, "progress": progress_json(progress)});
        let mut temporary = self.path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let cannot = || format!("cannot write {}", temporary.display());
        let mut file = File::create(&temporary).with_context(cannot)?;
        file.write_all(state.to_string().as_bytes())
            .with_context(cannot)?;
        file.sync_all().with_context(cannot)?;
        fs::rename(&temporary, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Removes the state file: the import is complete.
    pub fn remove(&self) -> anyhow::Result<()> {
        match fs::remove_file(&self.path) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                Err(error).with_context(|| format!("cannot remove {}", self.path.display()))
            }
            _ => Ok(()),
        }
    }
}

fn progress_json(progress: &Progress) -> Value {
    let counts = &progress.counts;
    json!({
        "offset": progress.at.offset,
        "line": progress.at.line,
        "rejects_len": progress.rejects_len,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "stale": counts.stale,
        "refused": counts.refused,
    })
}

fn progress_from(value: &Value) -> Option<Progress> {
    let number = |name: &str| value[name].as_u64();
    Some(Progress {
        at: Checkpoint {
            offset: number("offset")?,
            line: number("line")?,
        },
        rejects_len: number("rejects_len")?,
        counts: Counts {
            created: number("created")?,
            updated: number("updated")?,
            unchanged: number("unchanged")?,
            stale: number("stale")?,
            refused: number("refused")?,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_state_loads_only_for_the_same_import() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("events.ndjson");
        fs::write(&input, "{}\n{}\n").unwrap();
        let state = StateFile::new(&input, "ndjson", "db").unwrap();
        assert_eq!(state.load().unwrap(), None);
        let progress = Progress {
            at: Checkpoint { offset: 3, line: 1 },
            rejects_len: 10,
            counts: Counts {
                created: 1,
                ..Counts::default()
            },
        };
        state.save(&progress).unwrap();
        assert_eq!(state.load().unwrap(), Some(progress));
        let elsewhere = StateFile::new(&input, "ndjson", "another db").unwrap();
        assert_eq!(elsewhere.load().unwrap(), None);
        fs::write(&input, "{}\n{}\n{}\n").unwrap();
        let grown = StateFile::new(&input, "ndjson", "db").unwrap();
        assert_eq!(grown.load().unwrap(), None);
        state.remove().unwrap();
        assert!(!state.path().exists());
    }
}

//! The rejects file: one JSON line per refused event,
//! `{"line": N, "event": …, "errors": [{"path", "code", "message"}]}`.
//!
//! It is created at the first refusal only. A resumed import cuts it back to
//! the length it had when the last acknowledged batch was recorded, so a batch
//! sent twice is never listed twice.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::{Value, json};
use tally_event::ValidationError;

/// One problem of a refused event, as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: String,
    pub code: String,
    pub message: String,
}

impl Problem {
    pub fn new(path: &str, code: &str, message: impl Into<String>) -> Problem {
        Problem {
            path: path.to_owned(),
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

impl From<&ValidationError> for Problem {
    fn from(error: &ValidationError) -> Problem {
        Problem::new(&error.path, error.code.as_str(), error.message.clone())
    }
}

impl From<&tally_billing::Problem> for Problem {
    fn from(problem: &tally_billing::Problem) -> Problem {
        Problem::new(&problem.path, problem.code, problem.message.clone())
    }
}

/// A refused event: its line in the input, the event as sent (the line as
/// text when it was not JSON; the cells when a CSV row was unreadable).
#[derive(Debug, Clone)]
pub struct Reject {
    pub line: u64,
    pub event: Value,
    pub errors: Vec<Problem>,
}

impl Reject {
    /// The line of the rejects file, with its `\n`; `line` comes first so
    /// that the file reads in input order.
    fn to_line(&self) -> String {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|e| json!({"path": e.path, "code": e.code, "message": e.message}))
            .collect();
        format!(
            "{{\"line\":{},\"event\":{},\"errors\":{}}}\n",
            self.line,
            self.event,
            Value::Array(errors)
        )
    }
}

/// The rejects file being written.
pub struct RejectsFile {
    path: PathBuf,
    file: Option<File>,
    len: u64,
}

impl RejectsFile {
    /// Starts the file over, or with `keep` > 0 (a resume) keeps its first
    /// `keep` bytes: what the acknowledged batches refused.
    pub fn start(path: &Path, keep: u64) -> anyhow::Result<RejectsFile> {
        let cannot = || format!("cannot write {}", path.display());
        let mut rejects = RejectsFile {
            path: path.to_owned(),
            file: None,
            len: 0,
        };
        if keep == 0 {
            match std::fs::remove_file(path) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => {
                    return Err(error).with_context(cannot);
                }
                _ => return Ok(rejects),
            }
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .with_context(cannot)?;
        let len = file.metadata().with_context(cannot)?.len().min(keep);
        file.set_len(len).with_context(cannot)?;
        rejects.file = Some(file);
        rejects.len = len;
        Ok(rejects)
    }

    /// Appends `rejects` and syncs them to the disk, before the state file
    /// records the new length.
    pub fn write(&mut self, rejects: &[Reject]) -> anyhow::Result<()> {
        if rejects.is_empty() {
            return Ok(());
        }
        let text: String = rejects.iter().map(Reject::to_line).collect();
        let cannot = || format!("cannot write {}", self.path.display());
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(
                OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(&self.path)
                    .with_context(cannot)?,
            ),
        };
        file.write_all(text.as_bytes()).with_context(cannot)?;
        file.sync_data().with_context(cannot)?;
        self.len += text.len() as u64;
        Ok(())
    }

    /// Bytes written so far, kept by a resume.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

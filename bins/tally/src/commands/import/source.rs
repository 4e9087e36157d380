//! The input, read in batches on a thread of its own, so that parsing the next
//! batch overlaps storing or sending the previous one.
//!
//! A line that cannot become an event (not JSON, too large, a CSV row of the
//! wrong width) is refused here; every other event is sent as it is, and the
//! store or the server validates it. Positions are counted in bytes and lines
//! from the start of the file, so a resumed import reports the same line
//! numbers as a whole one.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;
use tally_event::{MAX_EVENT_BYTES, Timestamp, ValidationConfig, parse_event_bytes};
use tokio::sync::mpsc;

use super::csv_map::{MapSpec, Mapping};
use super::rejects::{Problem, Reject};
use crate::commands::validate::read_line;

/// Where the input stands: bytes and lines consumed from its start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub offset: u64,
    pub line: u64,
}

/// Events to send, with their line numbers, the lines refused on reading,
/// and where the input stands after the batch.
#[derive(Debug, Default)]
pub struct Batch {
    pub events: Vec<Value>,
    pub lines: Vec<u64>,
    pub refused: Vec<Reject>,
    pub end: Checkpoint,
}

/// A file, or standard input (`-`: read once, never resumed).
#[derive(Debug, Clone)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    pub fn new(path: &Path) -> Input {
        if path.as_os_str() == "-" {
            Input::Stdin
        } else {
            Input::File(path.to_owned())
        }
    }

    /// The input from `offset` on.
    fn open_at(&self, offset: u64) -> anyhow::Result<Box<dyn Read + Send>> {
        match self {
            Input::Stdin => Ok(Box::new(io::stdin())),
            Input::File(path) => {
                let mut file =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                file.seek(SeekFrom::Start(offset))
                    .with_context(|| format!("cannot seek in {}", path.display()))?;
                Ok(Box::new(file))
            }
        }
    }
}

/// An input being read.
pub enum Reader {
    Ndjson {
        input: Box<dyn BufRead + Send>,
        at: Checkpoint,
        line: Vec<u8>,
    },
    Csv {
        input: csv::Reader<Box<dyn Read + Send>>,
        /// Where `input` started in the file: its positions are relative.
        base: Checkpoint,
        width: usize,
        mapping: Mapping,
    },
}

impl Reader {
    pub fn ndjson(input: &Input, from: Checkpoint) -> anyhow::Result<Reader> {
        let raw = input.open_at(from.offset)?;
        Ok(Reader::Ndjson {
            input: Box::new(BufReader::with_capacity(256 * 1024, raw)),
            at: from,
            line: Vec::new(),
        })
    }

    /// A CSV reader past the header, or at `from` when resuming (the header is
    /// read again from the start of the file).
    pub fn csv(input: &Input, from: Checkpoint, spec: &MapSpec) -> anyhow::Result<Reader> {
        let mut reader = csv_reader(input.open_at(0)?);
        let mut header = csv::StringRecord::new();
        let header = match reader.read_record(&mut header) {
            Ok(true) => header_names(&header),
            Ok(false) => Vec::new(),
            Err(error) => return Err(error).context("cannot read the CSV header"),
        };
        let mapping = Mapping::new(spec, &header)?;
        let (input, base) = if from.offset == 0 {
            (reader, Checkpoint::default())
        } else {
            (csv_reader(input.open_at(from.offset)?), from)
        };
        Ok(Reader::Csv {
            input,
            base,
            width: header.len(),
            mapping,
        })
    }

    /// Up to `size` lines that hold an event (sent or refused); `None` at the
    /// end of the input.
    pub fn next_batch(&mut self, size: usize) -> anyhow::Result<Option<Batch>> {
        let mut batch = Batch::default();
        while batch.events.len() + batch.refused.len() < size {
            let more = match self {
                Reader::Ndjson { input, at, line } => ndjson_line(input, at, line, &mut batch)?,
                Reader::Csv {
                    input,
                    base,
                    width,
                    mapping,
                } => csv_row(input, *base, *width, mapping, &mut batch)?,
            };
            if !more {
                break;
            }
        }
        batch.end = match self {
            Reader::Ndjson { at, .. } => *at,
            Reader::Csv { input, base, .. } => absolute(*base, input.position()),
        };
        let empty = batch.events.is_empty() && batch.refused.is_empty();
        Ok((!empty).then_some(batch))
    }

    /// Reads on a thread of its own; batches arrive in input order, two
    /// at most waiting.
    pub fn spawn(mut self, size: usize) -> anyhow::Result<mpsc::Receiver<anyhow::Result<Batch>>> {
        let (sender, receiver) = mpsc::channel(2);
        std::thread::Builder::new()
            .name("tally-import-reader".to_owned())
            .spawn(move || {
                loop {
                    let next = self.next_batch(size).transpose();
                    let last = !matches!(next, Some(Ok(_)));
                    let Some(next) = next else { break };
                    if sender.blocking_send(next).is_err() || last {
                        break;
                    }
                }
            })
            .context("cannot start the reading thread")?;
        Ok(receiver)
    }
}

/// Reads one NDJSON line into the batch; false at the end of the input.
/// Blank lines are skipped but keep their numbers.
fn ndjson_line(
    input: &mut impl BufRead,
    at: &mut Checkpoint,
    line: &mut Vec<u8>,
    batch: &mut Batch,
) -> anyhow::Result<bool> {
    let consumed = read_line(input, line, MAX_EVENT_BYTES + 1).context("cannot read the input")?;
    if consumed == 0 {
        return Ok(false);
    }
    at.offset += consumed as u64;
    at.line += 1;
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(true);
    }
    let parsed = (line.len() <= MAX_EVENT_BYTES)
        .then(|| serde_json::from_slice::<Value>(line).ok())
        .flatten();
    match parsed {
        Some(event) => {
            batch.events.push(event);
            batch.lines.push(at.line);
        }
        None => batch.refused.push(unreadable_line(at.line, line)),
    }
    Ok(true)
}

/// A line that is not JSON, refused with the validator's own errors
/// (`malformed_json`, `event_too_large`); the event is the line as text.
fn unreadable_line(number: u64, line: &[u8]) -> Reject {
    // Size and syntax come before any rule, so the clock plays no part.
    let now = Timestamp::MAX;
    let errors = match parse_event_bytes(line, &ValidationConfig::default(), now) {
        Err(errors) => errors.iter().map(Problem::from).collect(),
        Ok(_) => vec![Problem::new(
            "",
            "malformed_json",
            "the line is not a JSON value",
        )],
    };
    Reject {
        line: number,
        event: Value::String(String::from_utf8_lossy(line).into_owned()),
        errors,
    }
}

/// Reads one CSV row into the batch; false at the end of the input.
fn csv_row(
    input: &mut csv::Reader<Box<dyn Read + Send>>,
    base: Checkpoint,
    width: usize,
    mapping: &Mapping,
    batch: &mut Batch,
) -> anyhow::Result<bool> {
    let mut row = csv::ByteRecord::new();
    if !input
        .read_byte_record(&mut row)
        .context("cannot read the input")?
    {
        return Ok(false);
    }
    let line = base.line + row.position().map_or(0, csv::Position::line);
    if row.len() == 1 && row.get(0) == Some(b"") {
        return Ok(true);
    }
    let cells = || {
        Value::Array(
            row.iter()
                .map(|cell| String::from_utf8_lossy(cell).into())
                .collect(),
        )
    };
    let problem = if row.len() != width {
        Some(format!(
            "the row has {} cells, the header {width}",
            row.len()
        ))
    } else {
        None
    };
    let text = csv::StringRecord::from_byte_record(row.clone());
    match (problem, text) {
        (None, Ok(text)) => {
            batch.events.push(mapping.event(&text));
            batch.lines.push(line);
        }
        (Some(message), _) => batch.refused.push(csv_reject(line, cells(), message)),
        (None, Err(_)) => {
            let message = "the row is not UTF-8".to_owned();
            batch.refused.push(csv_reject(line, cells(), message));
        }
    }
    Ok(true)
}

fn csv_reject(line: u64, event: Value, message: String) -> Reject {
    Reject {
        line,
        event,
        errors: vec![Problem::new("", "invalid_csv", message)],
    }
}

fn csv_reader(input: Box<dyn Read + Send>) -> csv::Reader<Box<dyn Read + Send>> {
    // Rows of the wrong width are refused one by one, not fatal.
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(256 * 1024)
        .from_reader(input)
}

/// Header names, without the byte-order mark some spreadsheets write.
fn header_names(header: &csv::StringRecord) -> Vec<String> {
    header
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let name = if index == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            name.to_owned()
        })
        .collect()
}

/// A position of a reader that started at `base`, from the file's start.
fn absolute(base: Checkpoint, position: &csv::Position) -> Checkpoint {
    Checkpoint {
        offset: base.offset + position.byte(),
        // The reader's line counts from 1: it names the line it is on.
        line: base.line + position.line().saturating_sub(1),
    }
}

//! The input, read in batches on a thread of its own, so that parsing the next
//! batch overlaps storing or sending the previous one.
//!
//! A line that cannot become an event (not JSON, too large; a CSV row of the
//! wrong width, too large or not UTF-8) is refused here; every other event is
//! sent as it is, and the store or the server validates it. Positions are
//! counted in bytes and lines from the start of the file and always fall
//! between two lines, so a resumed import starts exactly where the last
//! acknowledged batch ended and reports the same line numbers as a whole one.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::Value;
use tally_event::{MAX_EVENT_BYTES, Timestamp, ValidationConfig, parse_event_bytes};
use tokio::sync::mpsc;

use super::csv_map::{MapSpec, Mapping};
use super::csv_rows::{CsvRows, Row};
use super::events::{Events, Form};
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
#[derive(Debug)]
pub struct Batch {
    pub events: Events,
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

    /// The input from `offset` on, buffered.
    fn open_at(&self, offset: u64) -> anyhow::Result<Box<dyn BufRead + Send>> {
        match self {
            Input::Stdin => Ok(Box::new(BufReader::with_capacity(
                BUFFER_BYTES,
                io::stdin(),
            ))),
            Input::File(path) => {
                let mut file =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                file.seek(SeekFrom::Start(offset))
                    .with_context(|| format!("cannot seek in {}", path.display()))?;
                Ok(Box::new(BufReader::with_capacity(BUFFER_BYTES, file)))
            }
        }
    }
}

/// An input being read, into events of one [`Form`].
pub struct Reader {
    form: Form,
    format: Format,
}

/// What the input holds, and where its reading stands.
enum Format {
    Ndjson {
        input: Box<dyn BufRead + Send>,
        at: Checkpoint,
        line: Vec<u8>,
    },
    Csv {
        // Boxed: the parser's tables are large next to the NDJSON variant.
        rows: Box<CsvRows<Box<dyn BufRead + Send>>>,
        width: usize,
        mapping: Mapping,
    },
}

/// The reading buffer: large reads, few system calls.
const BUFFER_BYTES: usize = 256 * 1024;

impl Reader {
    pub fn ndjson(input: &Input, from: Checkpoint, form: Form) -> anyhow::Result<Reader> {
        let format = Format::Ndjson {
            input: input.open_at(from.offset)?,
            at: from,
            line: Vec::new(),
        };
        Ok(Reader { form, format })
    }

    /// A CSV reader past the header, or at `from` when resuming (the header is
    /// read again from the start of the file).
    pub fn csv(
        input: &Input,
        from: Checkpoint,
        spec: &MapSpec,
        form: Form,
    ) -> anyhow::Result<Reader> {
        let mut rows = Box::new(CsvRows::new(input.open_at(0)?, Checkpoint::default()));
        let header = match rows.next_row()? {
            Some(Row {
                cells: Ok(cells), ..
            }) => header_names(cells),
            Some(Row {
                cells: Err(unreadable),
                ..
            }) => {
                bail!("cannot read the CSV header: {}", unreadable.message)
            }
            None => Vec::new(),
        };
        let mapping = Mapping::new(spec, &header)?;
        if from.offset > 0 {
            rows = Box::new(CsvRows::new(input.open_at(from.offset)?, from));
        }
        let format = Format::Csv {
            rows,
            width: header.len(),
            mapping,
        };
        Ok(Reader { form, format })
    }

    /// Up to `size` lines that hold an event (sent or refused); `None` at the
    /// end of the input.
    pub fn next_batch(&mut self, size: usize) -> anyhow::Result<Option<Batch>> {
        let mut batch = Batch {
            events: Events::new(self.form),
            lines: Vec::new(),
            refused: Vec::new(),
            end: Checkpoint::default(),
        };
        while batch.events.len() + batch.refused.len() < size {
            let more = match &mut self.format {
                Format::Ndjson { input, at, line } => ndjson_line(input, at, line, &mut batch)?,
                Format::Csv {
                    rows,
                    width,
                    mapping,
                } => csv_row(rows, *width, mapping, &mut batch)?,
            };
            if !more {
                break;
            }
        }
        batch.end = match &self.format {
            Format::Ndjson { at, .. } => *at,
            Format::Csv { rows, .. } => rows.at(),
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
    if line.len() <= MAX_EVENT_BYTES && batch.events.push_line(line) {
        batch.lines.push(at.line);
    } else {
        batch.refused.push(unreadable_line(at.line, line));
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

/// Reads one CSV row into the batch; false at the end of the input. A row
/// of another width than the header's, or not UTF-8, is refused here.
fn csv_row(
    rows: &mut CsvRows<Box<dyn BufRead + Send>>,
    width: usize,
    mapping: &Mapping,
    batch: &mut Batch,
) -> anyhow::Result<bool> {
    let Some(Row { line, cells }) = rows.next_row()? else {
        return Ok(false);
    };
    let refusal = match cells {
        Ok(cells) if cells.len() == width => {
            batch.events.push_value(mapping.event(&cells));
            batch.lines.push(line);
            return Ok(true);
        }
        Ok(cells) => {
            let message = format!("the row has {} cells, the header {width}", cells.len());
            (message, cells)
        }
        Err(unreadable) => (unreadable.message, unreadable.cells),
    };
    let (message, cells) = refusal;
    batch.refused.push(Reject {
        line,
        event: Value::Array(cells.into_iter().map(Value::String).collect()),
        errors: vec![Problem::new("", "invalid_csv", message)],
    });
    Ok(true)
}

/// Header names, without the byte-order mark some spreadsheets write.
fn header_names(mut cells: Vec<String>) -> Vec<String> {
    if let Some(first) = cells.first_mut() {
        if let Some(rest) = first.strip_prefix('\u{feff}') {
            *first = rest.to_owned();
        }
    }
    cells
}

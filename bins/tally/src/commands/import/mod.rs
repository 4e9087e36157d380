//! `tally import FILE`: events from NDJSON or CSV into a database (through
//! `Billing::ingest_batch`) or a server (`POST /v1/events/batch`), in batches
//! of up to 5000, read on a thread of their own ([`source`]) and two in flight
//! at once ([`Import::run`]).
//!
//! - NDJSON: one event per line, as `POST /v1/events` takes it (blank lines
//!   are skipped but keep their numbers, as in `tally validate`).
//! - CSV (`--format csv`, or a `.csv` file): a header line, then one event per
//!   row through a column mapping ([`csv_map`]).
//!
//! Refused events go to the rejects file ([`rejects`]) with their line
//! numbers. After each acknowledged batch the state file ([`state`]) records
//! where the input stands, so the same command run again after an
//! interruption goes on from there: at least once, since the batches in
//! flight may be sent again, which is harmless (an event is an upsert by type and record
//! id; an identical one is `unchanged`). Exit code: 0 when every event was
//! accepted, 1 when some were refused, 2 when the import could not run or
//! stopped early.

mod csv_map;
mod csv_rows;
mod events;
mod rejects;
mod sink;
mod source;
mod state;

use std::collections::VecDeque;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail, ensure};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tally_billing::MAX_BATCH_EVENTS;
use tokio::task::JoinHandle;

use crate::commands::{DatabaseArgs, runtime};
use csv_map::{Field, FieldMap, MapSpec, Unmapped};
use events::{Events, Keys};
use rejects::{Reject, RejectsFile};
use sink::{Answer, HttpSink, Sink};
use source::{Batch, Checkpoint, Input, Reader};
use state::{Progress, StateFile};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON (one event per line) or CSV file; `-` reads standard input
    /// (never resumed).
    pub file: PathBuf,
    /// The input's format; default: csv for a `.csv` file, else ndjson.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// CSV: the column of a field (event_type, customer_id, timestamp or
    /// record.KEY); repeatable. A field not mapped reads the column of its name.
    #[arg(long = "map", value_name = "FIELD=COLUMN")]
    pub maps: Vec<FieldMap>,
    /// CSV: a record field whose cells stay text even when they look like
    /// numbers or booleans (record.zip); repeatable.
    #[arg(long = "text", value_name = "FIELD")]
    pub text: Vec<Field>,
    /// CSV: columns no field takes go into the record under their name
    /// (`record`, the default) or nowhere (`ignore`).
    #[arg(long, value_enum)]
    pub unmapped: Option<Unmapped>,
    /// The account to import into (with --database-url).
    #[arg(long, required_unless_present = "url", conflicts_with = "url")]
    pub account: Option<String>,
    /// A server to send the events to (`http://host:port`), instead of a database.
    #[arg(long)]
    pub url: Option<String>,
    /// The server's API key, with --url.
    #[arg(long, env = "TALLY_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Where refused events go; default: FILE.rejects.ndjson
    /// (import.rejects.ndjson for standard input).
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// Start from the beginning, whatever FILE.import-state says.
    #[arg(long)]
    pub restart: bool,
    /// Events per batch, 1..=5000.
    #[arg(long, default_value_t = MAX_BATCH_EVENTS, value_parser = batch_size)]
    pub batch_size: usize,
    /// Sends this many batches, then stops once they are acknowledged, as
    /// an interruption would (tests of the resume).
    #[arg(long, hide = true)]
    pub stop_after_batches: Option<u64>,
    #[command(flatten)]
    pub database: DatabaseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Ndjson,
    Csv,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let input = Input::new(&args.file);
    let format = format(args)?;
    let spec = MapSpec {
        maps: args.maps.clone(),
        text: args.text.clone(),
        unmapped: args.unmapped.unwrap_or(Unmapped::Record),
    };
    runtime()?.block_on(async {
        let (sink, destination) = open_sink(args).await?;
        let rejects = rejects_path(args);
        // A resume keeps the rejects file's first bytes: it must be the same file.
        let reading = match format {
            Format::Ndjson => "ndjson".to_owned(),
            Format::Csv => format!("csv {}", spec.describe()),
        };
        let options = format!("{reading} rejects {}", rejects.display());
        let state = match &input {
            Input::File(path) => Some(StateFile::new(path, &options, &destination)?),
            Input::Stdin => None,
        };
        let start = match &state {
            Some(state) if !args.restart => state.load()?.unwrap_or_default(),
            _ => Progress::default(),
        };
        let reader = match format {
            Format::Ndjson => Reader::ndjson(&input, start.at, sink.form())?,
            Format::Csv => Reader::csv(&input, start.at, &spec, sink.form())?,
        };
        let mut import = Import {
            sink: Arc::new(sink),
            state,
            rejects: RejectsFile::start(&rejects, start.rejects_len)?,
            progress: start,
            bar: progress_bar(&input),
            stop_after_batches: args.stop_after_batches,
        };
        match import.run(reader, args.batch_size).await {
            Ok(()) => import.report(),
            Err(error) => Err(import.stopped(error)),
        }
    })
}

fn batch_size(text: &str) -> Result<usize, String> {
    match text.parse() {
        Ok(size) if (1..=MAX_BATCH_EVENTS).contains(&size) => Ok(size),
        _ => Err(format!("a batch holds 1 to {MAX_BATCH_EVENTS} events")),
    }
}

/// The format the flags name, or the file's extension suggests; mapping
/// flags with NDJSON are a mistake worth saying.
fn format(args: &Args) -> anyhow::Result<Format> {
    let csv_extension = args
        .file
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    let format = args.format.unwrap_or(if csv_extension {
        Format::Csv
    } else {
        Format::Ndjson
    });
    let mapped = !args.maps.is_empty() || !args.text.is_empty() || args.unmapped.is_some();
    ensure!(
        format == Format::Csv || !mapped,
        "--map, --text and --unmapped apply to CSV: add --format csv"
    );
    Ok(format)
}

/// The destination and how the state file names it.
async fn open_sink(args: &Args) -> anyhow::Result<(Sink, String)> {
    match (&args.url, &args.account) {
        (Some(url), _) => {
            let Some(key) = &args.api_key else {
                bail!("--url needs an API key: --api-key or TALLY_API_KEY");
            };
            let http = HttpSink::new(url, key)?;
            let destination = http.describe();
            Ok((Sink::Http(http), destination))
        }
        (None, Some(account)) => {
            let url = &args.database.database_url;
            let sink = Sink::store(url, account).await?;
            let destination = format!("{} account {account}", tally_engine::redact_url(url));
            Ok((sink, destination))
        }
        (None, None) => bail!("give --account NAME (into a database) or --url (into a server)"),
    }
}

fn rejects_path(args: &Args) -> PathBuf {
    args.rejects.clone().unwrap_or_else(|| {
        if args.file.as_os_str() == "-" {
            return PathBuf::from("import.rejects.ndjson");
        }
        let mut path = args.file.as_os_str().to_owned();
        path.push(".rejects.ndjson");
        path.into()
    })
}

/// Batches sent at once: the next one is validated (and, through a server,
/// parsed) while the previous one commits.
const IN_FLIGHT: usize = 2;

struct Import {
    sink: Arc<Sink>,
    state: Option<StateFile>,
    rejects: RejectsFile,
    progress: Progress,
    bar: ProgressBar,
    stop_after_batches: Option<u64>,
}

/// A batch sent, waiting for its answer; `answer` is none when every line
/// was refused on reading.
struct InFlight {
    keys: Keys,
    lines: Vec<u64>,
    refused: Vec<Reject>,
    end: Checkpoint,
    answer: Option<JoinHandle<anyhow::Result<(Events, Answer)>>>,
}

impl Import {
    /// Sends every batch, up to [`IN_FLIGHT`] at once, and acknowledges them
    /// in input order, so the state always names a point before which
    /// everything is stored. A batch that names an event of a batch in
    /// flight waits for it: batches in flight together share no key, so
    /// whichever commits first, the result is the one of input order.
    async fn run(&mut self, reader: Reader, batch_size: usize) -> anyhow::Result<()> {
        self.bar.set_position(self.progress.at.offset);
        let mut batches = reader.spawn(batch_size)?;
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        let mut sent = 0;
        while self.stop_after_batches != Some(sent) {
            let Some(batch) = batches.recv().await else {
                break;
            };
            let batch = batch?;
            while in_flight.len() >= IN_FLIGHT
                || in_flight
                    .iter()
                    .any(|sending| sending.keys.overlap(batch.events.keys()))
            {
                let Some(oldest) = in_flight.pop_front() else {
                    break;
                };
                self.acknowledge(oldest).await?;
            }
            in_flight.push_back(self.send(batch));
            sent += 1;
        }
        while let Some(oldest) = in_flight.pop_front() {
            self.acknowledge(oldest).await?;
        }
        if self.stop_after_batches == Some(sent) {
            bail!("stopped after {sent} batches, as --stop-after-batches asks");
        }
        self.bar.finish_and_clear();
        if let Some(state) = &self.state {
            state.remove()?;
        }
        Ok(())
    }

    /// Starts sending a batch on a task of its own.
    fn send(&self, batch: Batch) -> InFlight {
        let Batch {
            mut events,
            lines,
            refused,
            end,
        } = batch;
        let keys = events.take_keys();
        let answer = (!events.is_empty()).then(|| {
            let sink = Arc::clone(&self.sink);
            tokio::spawn(async move {
                let answer = sink.send(&events).await?;
                Ok((events, answer))
            })
        });
        InFlight {
            keys,
            lines,
            refused,
            end,
            answer,
        }
    }

    /// Waits for a batch's answer, writes its refusals, then records the
    /// new state.
    async fn acknowledge(&mut self, sent: InFlight) -> anyhow::Result<()> {
        let InFlight {
            lines,
            mut refused,
            end,
            answer,
            ..
        } = sent;
        if let Some(answer) = answer {
            let (events, answer) = answer.await.context("sending a batch failed")??;
            ensure!(
                answer.outcomes.len() + answer.refused.len() == events.len(),
                "the answer accounts for {} events of a batch of {}",
                answer.outcomes.len() + answer.refused.len(),
                events.len()
            );
            for outcome in &answer.outcomes {
                self.progress.counts.accept(outcome);
            }
            for (index, errors) in answer.refused {
                let (Some(&line), Some(event)) = (lines.get(index), events.value(index)) else {
                    bail!(
                        "the answer names event {index} of a batch of {}",
                        events.len()
                    );
                };
                refused.push(Reject {
                    line,
                    event,
                    errors,
                });
            }
        }
        refused.sort_by_key(|reject| reject.line);
        self.rejects.write(&refused)?;
        self.progress.counts.refused += refused.len() as u64;
        self.progress.at = end;
        self.progress.rejects_len = self.rejects.len();
        if let Some(state) = &self.state {
            state.save(&self.progress)?;
        }
        self.bar.set_position(end.offset);
        let counts = &self.progress.counts;
        self.bar.set_message(format!(
            "{} events, {} refused",
            counts.accepted(),
            counts.refused
        ));
        Ok(())
    }

    /// An error that stopped the import, with where it stopped when a later
    /// run can go on from there.
    fn stopped(&self, error: anyhow::Error) -> anyhow::Error {
        self.bar.abandon();
        match &self.state {
            Some(state) if self.progress.at.line > 0 => error.context(format!(
                "import stopped after line {}; the same command goes on from there ({})",
                self.progress.at.line,
                state.path().display()
            )),
            _ => error,
        }
    }

    /// The summary on standard output; the exit code.
    fn report(&self) -> anyhow::Result<ExitCode> {
        let counts = &self.progress.counts;
        let mut out = std::io::stdout().lock();
        writeln!(
            out,
            "{} events: {} accepted ({} created, {} updated, {} unchanged, {} stale), {} refused",
            counts.accepted() + counts.refused,
            counts.accepted(),
            counts.created,
            counts.updated,
            counts.unchanged,
            counts.stale,
            counts.refused,
        )?;
        if counts.refused == 0 {
            return Ok(ExitCode::SUCCESS);
        }
        writeln!(
            out,
            "refused events are in {}",
            self.rejects.path().display()
        )?;
        Ok(ExitCode::from(1))
    }
}

/// A bar over the input's bytes, drawn only when standard error is a
/// terminal; a spinner for standard input, whose length is unknown.
fn progress_bar(input: &Input) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let len = match input {
        Input::File(path) => file_len(path),
        Input::Stdin => None,
    };
    let bar = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
    let template = match len {
        Some(_) => "{bar:40} {percent}% {msg} {binary_bytes_per_sec} eta {eta}",
        None => "{spinner} {msg} {binary_bytes_per_sec}",
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

fn file_len(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|metadata| metadata.len())
}

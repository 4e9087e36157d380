//! `tally validate FILE`: checks NDJSON events as the API would, without storing them.
//!
//! Output, one line per event (blank lines are skipped but keep their numbers):
//! `line N: ok`, then `line N: /path pii_warning: kind` for each warning; or
//! `line N: /path code: message` for each error. A summary line closes the report.
//! The exit code is 0 when every event is valid, 1 when any is not.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use tally_event::{
    DEFAULT_MAX_FUTURE_SKEW_MS, MAX_EVENT_BYTES, PiiPolicy, Timestamp, ValidationConfig,
    ValidationError, parse_event_bytes,
};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// NDJSON file, one event per line; `-` reads standard input.
    pub file: PathBuf,
    /// How far ahead of now a timestamp may be, in milliseconds; 0 turns the check off.
    #[arg(long, env = "TALLY_MAX_FUTURE_SKEW_MS", default_value_t = DEFAULT_MAX_FUTURE_SKEW_MS)]
    pub max_future_skew_ms: u64,
    /// What to do with personal data: off, warn, mask or reject.
    #[arg(long, env = "TALLY_PII_POLICY", default_value_t = PiiPolicy::Warn)]
    pub pii_policy: PiiPolicy,
    /// Print only problems (errors and personal-data warnings) and the
    /// summary, not a line per valid event.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Counts for the summary line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub valid: usize,
    pub invalid: usize,
    pub warnings: usize,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let now = Timestamp::from_datetime(chrono::Utc::now())
        .context("the system clock is outside years 1970..=9999")?;
    let config = ValidationConfig {
        max_future_skew_ms: args.max_future_skew_ms,
        pii_policy: args.pii_policy,
    };
    let mut out = BufWriter::new(io::stdout().lock());
    let summary = if args.file.as_os_str() == "-" {
        check_stream(io::stdin().lock(), &mut out, &config, now, args.quiet)
    } else {
        let file = File::open(&args.file)
            .with_context(|| format!("cannot open {}", args.file.display()))?;
        check_stream(BufReader::new(file), &mut out, &config, now, args.quiet)
    }
    .context("reading events or writing the report")?;
    out.flush().context("writing the report")?;
    Ok(if summary.invalid > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Validates each line of `reader` and writes the report to `out`; `quiet`
/// leaves out the line of each valid event.
pub fn check_stream(
    mut reader: impl BufRead,
    out: &mut impl Write,
    config: &ValidationConfig,
    now: Timestamp,
    quiet: bool,
) -> io::Result<Summary> {
    let mut summary = Summary::default();
    let mut line = Vec::new();
    let mut number = 0_usize;
    // One byte over the limit is enough to report `event_too_large`; the rest of an
    // oversized line is skipped without being held in memory.
    while read_line(&mut reader, &mut line, MAX_EVENT_BYTES + 1)? > 0 {
        number += 1;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_event_bytes(&line, config, now) {
            Ok(parsed) => {
                summary.valid += 1;
                summary.warnings += parsed.warnings.len();
                if !quiet {
                    writeln!(out, "line {number}: ok")?;
                }
                for warning in &parsed.warnings {
                    writeln!(
                        out,
                        "line {number}: {} pii_warning: {}",
                        warning.path, warning.kind
                    )?;
                }
            }
            Err(errors) => {
                summary.invalid += 1;
                for error in &errors {
                    write_error(out, number, error)?;
                }
            }
        }
    }
    let events = summary.valid + summary.invalid;
    writeln!(
        out,
        "{events} {}: {} valid, {} invalid, {} pii {}",
        plural(events, "event", "events"),
        summary.valid,
        summary.invalid,
        summary.warnings,
        plural(summary.warnings, "warning", "warnings"),
    )?;
    Ok(summary)
}

fn plural(count: usize, one: &'static str, many: &'static str) -> &'static str {
    if count == 1 { one } else { many }
}

fn write_error(out: &mut impl Write, number: usize, error: &ValidationError) -> io::Result<()> {
    if error.path.is_empty() {
        writeln!(out, "line {number}: {}: {}", error.code, error.message)
    } else {
        writeln!(
            out,
            "line {number}: {} {}: {}",
            error.path, error.code, error.message
        )
    }
}

/// Reads one line (without its `\n`) into `line`, keeping at most `cap` bytes of it.
/// Returns the bytes the line took in the input, its `\n` included: 0 at the
/// end of the input (`tally import` counts them to know where to resume).
pub(crate) fn read_line(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    cap: usize,
) -> io::Result<usize> {
    line.clear();
    let mut consumed = 0;
    loop {
        let buffer = match reader.fill_buf() {
            Ok(buffer) => buffer,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if buffer.is_empty() {
            return Ok(consumed);
        }
        let newline = buffer.iter().position(|&b| b == b'\n');
        let content = newline.map_or(buffer, |at| buffer.get(..at).unwrap_or_default());
        let room = cap.saturating_sub(line.len());
        line.extend_from_slice(content.get(..content.len().min(room)).unwrap_or_default());
        let taken = newline.map_or(buffer.len(), |at| at + 1);
        reader.consume(taken);
        consumed += taken;
        if newline.is_some() {
            return Ok(consumed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(input: &[u8]) -> (String, Summary) {
        let now = Timestamp::from_millis(1_735_689_600_000).unwrap();
        let mut out = Vec::new();
        let summary =
            check_stream(input, &mut out, &ValidationConfig::default(), now, false).unwrap();
        (String::from_utf8(out).unwrap(), summary)
    }

    #[test]
    fn blank_lines_keep_their_numbers() {
        let event =
            br#"{"customer_id":"c","event_type":"t","timestamp":1734710651000,"record":{"id":1}}"#;
        let input = [&event[..], b"\n\n  \r\n", &event[..], b"\r\n"].concat();
        let (text, summary) = report(&input);
        assert_eq!(
            text,
            "line 1: ok\nline 4: ok\n2 events: 2 valid, 0 invalid, 0 pii warnings\n"
        );
        assert_eq!(summary.valid, 2);
    }

    #[test]
    fn oversized_lines_are_cut_and_reported() {
        let mut input = vec![b'x'; MAX_EVENT_BYTES * 3];
        input.extend_from_slice(b"\n{}\n");
        let (text, summary) = report(&input);
        assert!(text.starts_with("line 1: event_too_large: "), "{text}");
        assert!(text.contains("line 2: /customer_id required"), "{text}");
        assert_eq!(summary.invalid, 2);
    }

    #[test]
    fn empty_input_is_valid() {
        let (text, summary) = report(b"");
        assert_eq!(text, "0 events: 0 valid, 0 invalid, 0 pii warnings\n");
        assert_eq!(summary, Summary::default());
    }
}

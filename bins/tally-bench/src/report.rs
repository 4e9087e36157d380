//! Figures: each the median of several runs with their min and max, printed as
//! a markdown table and written as JSON.

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

/// One measured figure over every run.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// The scenario that measured it (`http-batch`, `usage`, …).
    pub scenario: String,
    /// What it is, in words.
    pub name: String,
    pub unit: Unit,
    /// One value per run, in run order.
    pub runs: Vec<f64>,
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// The figure's target (docs/PERFORMANCE.md, "Targets"), in words, when it has one.
    pub target: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    EventsPerSecond,
    RowsPerSecond,
    Milliseconds,
    Seconds,
    Bytes,
    Ratio,
    Count,
}

impl Figure {
    pub fn new(scenario: &str, name: &str, unit: Unit, runs: Vec<f64>) -> Figure {
        let mut sorted = runs.clone();
        sorted.sort_by(f64::total_cmp);
        let median = match sorted.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => sorted[n / 2],
            n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        };
        Figure {
            scenario: scenario.to_owned(),
            name: name.to_owned(),
            unit,
            median,
            min: sorted.first().copied().unwrap_or(f64::NAN),
            max: sorted.last().copied().unwrap_or(f64::NAN),
            runs,
            target: None,
        }
    }

    pub fn target(mut self, target: &str) -> Figure {
        self.target = Some(target.to_owned());
        self
    }
}

/// What a scenario checked: counts that must match what was sent, so a run
/// that measured the wrong thing fails instead of printing a number.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub scenario: String,
    pub name: String,
    pub value: u64,
}

/// Everything one `tally-bench` invocation measured.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub command: String,
    pub runs: usize,
    pub cores: usize,
    pub figures: Vec<Figure>,
    pub checks: Vec<Check>,
    /// Scenarios skipped, with why.
    pub skipped: Vec<String>,
}

impl Report {
    pub fn add(&mut self, figure: Figure) {
        eprintln!(
            "  {}: {} (min {}, max {})",
            figure.name,
            format_value(figure.median, figure.unit),
            format_value(figure.min, figure.unit),
            format_value(figure.max, figure.unit)
        );
        self.figures.push(figure);
    }

    pub fn check(&mut self, scenario: &str, name: &str, value: u64) {
        self.checks.push(Check {
            scenario: scenario.to_owned(),
            name: name.to_owned(),
            value,
        });
    }

    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| scenario | figure | median | min | max | target |\n|---|---|---|---|---|---|\n",
        );
        for f in &self.figures {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                f.scenario,
                f.name,
                format_value(f.median, f.unit),
                format_value(f.min, f.unit),
                format_value(f.max, f.unit),
                f.target.as_deref().unwrap_or("")
            ));
        }
        for skipped in &self.skipped {
            out.push_str(&format!("\nskipped: {skipped}\n"));
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self)?;
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
    }
}

/// A value with its unit, rounded for reading: `123 400 events/s`, `41.2 ms`.
pub fn format_value(value: f64, unit: Unit) -> String {
    if !value.is_finite() {
        return "n/a".to_owned();
    }
    match unit {
        Unit::EventsPerSecond => format!("{} events/s", group(value)),
        Unit::RowsPerSecond => format!("{} rows/s", group(value)),
        Unit::Milliseconds => format!("{value:.1} ms"),
        Unit::Seconds => format!("{value:.2} s"),
        Unit::Bytes => format!("{:.1} MB", value / 1_000_000.0),
        Unit::Ratio => format!("{value:.2} ×"),
        Unit::Count => group(value),
    }
}

/// Digits in groups of three, separated by spaces (the docs' style).
fn group(value: f64) -> String {
    let digits = format!("{:.0}", value.round());
    let (sign, digits) = digits
        .strip_prefix('-')
        .map_or(("", digits.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

/// A file's size plus its `-wal` and `-shm` siblings, in bytes.
pub fn sqlite_size(path: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(Path::new(&name)).ok()
        })
        .map(|meta| meta.len())
        .sum()
}

/// Deletes a SQLite database and its `-wal` and `-shm` files.
pub fn remove_sqlite(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        let _ = std::fs::remove_file(Path::new(&name));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_min_max() {
        let f = Figure::new("s", "f", Unit::Seconds, vec![3.0, 1.0, 2.0]);
        assert_eq!((f.median, f.min, f.max), (2.0, 1.0, 3.0));
        let f = Figure::new("s", "f", Unit::Seconds, vec![4.0, 1.0, 2.0, 3.0]);
        assert_eq!(f.median, 2.5);
        assert_eq!(f.runs, vec![4.0, 1.0, 2.0, 3.0]);
    }

    #[test]
    fn values_read_well() {
        assert_eq!(
            format_value(123_456.4, Unit::EventsPerSecond),
            "123 456 events/s"
        );
        assert_eq!(format_value(999.0, Unit::RowsPerSecond), "999 rows/s");
        assert_eq!(format_value(41.25, Unit::Milliseconds), "41.2 ms");
        assert_eq!(format_value(150_000_000.0, Unit::Bytes), "150.0 MB");
        assert_eq!(format_value(f64::NAN, Unit::Seconds), "n/a");
    }
}

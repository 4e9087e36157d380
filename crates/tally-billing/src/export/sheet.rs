//! The CSV text of one product's events: the columns, the cells and the guard
//! against spreadsheet formulas. Synchronous, over any `std::io::Write`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::io::Write;

use rust_decimal::Decimal;
use tally_event::{Record, Scalar, Timestamp, Value};

/// At most this many record keys become columns of their own; keys beyond them
/// (in byte order) go into one `record.other` column as a JSON object. A record
/// has at most 25 keys, but the union over millions of records has no bound
/// of its own: this one keeps the key set (≤ 100 bytes a key) and the header
/// small whatever the export reads.
pub const MAX_RECORD_COLUMNS: usize = 200;

/// The header of the column holding record keys beyond [`MAX_RECORD_COLUMNS`].
const OTHER_COLUMN: &str = "record.other";

/// The record keys an export shows, gathered over a first pass when the
/// aggregator exposes no keys of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeySet {
    keys: BTreeSet<String>,
    overflowed: bool,
}

impl KeySet {
    /// No key seen yet.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Adds the record's keys, keeping the [`MAX_RECORD_COLUMNS`] smallest.
    pub fn add(&mut self, record: &Record) {
        for key in record.properties().keys() {
            self.insert(key);
        }
    }

    /// Adds every key of `other` (another price group's), keeping the
    /// [`MAX_RECORD_COLUMNS`] smallest.
    pub fn merge(&mut self, other: &KeySet) {
        for key in &other.keys {
            self.insert(key);
        }
        self.overflowed |= other.overflowed;
    }

    fn insert(&mut self, key: &String) {
        if self.keys.contains(key) {
            return;
        }
        self.keys.insert(key.clone());
        if self.keys.len() > MAX_RECORD_COLUMNS {
            self.keys.pop_last();
            self.overflowed = true;
        }
    }
}

/// The columns of one product's CSV, fixed before the first row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    record_keys: Vec<String>,
    /// Keys outside `record_keys` are written, as JSON, in `record.other`.
    other: bool,
    price_group: bool,
    /// Decimal places of the currency's major unit (2 for EUR, 0 for JPY).
    exponent: u32,
}

impl Layout {
    /// The aggregator's `exposed_event_keys` pick the record columns, in their
    /// order; without them, every key seen (from [`KeySet`]) in byte order.
    /// `price_group` adds a column naming each row's price group (products
    /// with several groups).
    pub fn new(exposed: Option<&[String]>, seen: KeySet, price_group: bool, exponent: u32) -> Self {
        let (record_keys, other) = match exposed {
            Some(keys) => (keys.to_vec(), false),
            None => (seen.keys.into_iter().collect(), seen.overflowed),
        };
        Layout {
            record_keys,
            other,
            price_group,
            exponent,
        }
    }

    /// `id`, `timestamp`, `name`, a `record.{key}` column per record key,
    /// (`record.other`), (`price_group`), `quantity`, `amount`, `currency`.
    pub fn header(&self) -> Vec<String> {
        let mut header = vec!["id".to_owned(), "timestamp".to_owned(), "name".to_owned()];
        header.extend(self.record_keys.iter().map(|key| format!("record.{key}")));
        if self.other {
            header.push(OTHER_COLUMN.to_owned());
        }
        if self.price_group {
            header.push("price_group".to_owned());
        }
        header.extend(["quantity", "amount", "currency"].map(str::to_owned));
        header
    }
}

/// One row: an event and what it was billed.
#[derive(Debug, Clone, Copy)]
pub struct ExportRow<'a> {
    /// The event's `evt_` id.
    pub event_id: &'a str,
    /// When the event happened, written RFC 3339 with milliseconds.
    pub timestamp: Timestamp,
    /// The rendered `custom_event_name`.
    pub name: &'a str,
    /// The event's record: one `record.{key}` cell per column of the layout.
    pub record: &'a Record,
    /// The price group's name (written only when the product has several).
    pub price_group: &'a str,
    /// What the event adds to the quantity; `None` for an event behind a
    /// non-additive quantity (min, max, avg, latest, formula), written empty.
    pub quantity: Option<Decimal>,
    /// Minor units of `currency`.
    pub amount: i64,
    /// ISO 4217 code of `amount`.
    pub currency: &'a str,
}

/// Writes a header and rows as RFC 4180 CSV: CRLF line ends, fields quoted
/// when they hold a comma, a quote or a line break, quotes doubled.
pub struct Sheet<W: Write> {
    out: csv::Writer<W>,
    layout: Layout,
    /// Reused for every formatted cell, so a row allocates nothing once warm.
    cell: String,
}

impl<W: Write> Sheet<W> {
    /// Writes the header.
    pub fn new(out: W, layout: Layout) -> std::io::Result<Self> {
        let mut out = csv::WriterBuilder::new()
            .terminator(csv::Terminator::CRLF)
            .from_writer(out);
        out.write_record(layout.header()).map_err(into_io)?;
        Ok(Sheet {
            out,
            layout,
            cell: String::new(),
        })
    }

    /// Writes one row in the layout's columns; the amount in major units with the currency's
    /// decimals, text cells guarded against formula injection.
    pub fn write_row(&mut self, row: &ExportRow<'_>) -> std::io::Result<()> {
        self.text(row.event_id)?;
        self.cell.clear();
        self.cell.push_str(&row.timestamp.to_rfc3339());
        self.flush_cell()?;
        self.text(row.name)?;
        for index in 0..self.layout.record_keys.len() {
            let value = row.record.get(&self.layout.record_keys[index]);
            self.value(value)?;
        }
        if self.layout.other {
            self.other(row.record)?;
        }
        if self.layout.price_group {
            self.text(row.price_group)?;
        }
        self.quantity(row.quantity)?;
        self.amount(row.amount)?;
        self.text(row.currency)?;
        self.out.write_record(None::<&[u8]>).map_err(into_io)
    }

    /// Writes what the CSV writer still buffers and returns the output.
    pub fn finish(self) -> std::io::Result<W> {
        self.out
            .into_inner()
            .map_err(|error| std::io::Error::other(error.to_string()))
    }

    /// Hands what the CSV writer buffers to the output.
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }

    /// A cell from text that anyone could have sent: guarded.
    fn text(&mut self, text: &str) -> std::io::Result<()> {
        self.cell.clear();
        push_guarded(&mut self.cell, text);
        self.flush_cell()
    }

    fn value(&mut self, value: Option<&Value>) -> std::io::Result<()> {
        self.cell.clear();
        match value {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => write_infallible(&mut self.cell, format_args!("{b}")),
            // A JSON number stays a number: `-12.5` is a value, not a formula.
            Some(Value::Number(n)) => write_infallible(&mut self.cell, format_args!("{n}")),
            Some(Value::String(s)) => push_guarded(&mut self.cell, s),
            Some(Value::Array(items)) => push_guarded(&mut self.cell, &array_json(items)),
        }
        self.flush_cell()
    }

    fn other(&mut self, record: &Record) -> std::io::Result<()> {
        let keys = &self.layout.record_keys;
        let rest: serde_json::Map<String, serde_json::Value> = record
            .properties()
            .iter()
            .filter(|(key, _)| keys.binary_search(key).is_err())
            .map(|(key, value)| (key.clone(), value.to_json()))
            .collect();
        self.cell.clear();
        if !rest.is_empty() {
            // A JSON object starts with `{`: nothing to guard.
            self.cell
                .push_str(&serde_json::Value::Object(rest).to_string());
        }
        self.flush_cell()
    }

    fn quantity(&mut self, quantity: Option<Decimal>) -> std::io::Result<()> {
        self.cell.clear();
        if let Some(quantity) = quantity {
            write_infallible(&mut self.cell, format_args!("{quantity}"));
        }
        self.flush_cell()
    }

    /// Major units with exactly the currency's decimals: `12.34`, `-0.05`, `1234`.
    fn amount(&mut self, minor: i64) -> std::io::Result<()> {
        self.cell.clear();
        let major = Decimal::new(minor, self.layout.exponent);
        write_infallible(&mut self.cell, format_args!("{major}"));
        self.flush_cell()
    }

    fn flush_cell(&mut self) -> std::io::Result<()> {
        self.out.write_field(self.cell.as_bytes()).map_err(into_io)
    }
}

/// Text that a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, or a
/// tab or carriage return first, per OWASP's CSV injection advice) gets a
/// leading `'`, which spreadsheets show as text and do not evaluate.
pub fn push_guarded(cell: &mut String, text: &str) {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        cell.push('\'');
    }
    cell.push_str(text);
}

/// A guarded copy of `text`, as a text cell shows it.
pub fn safe_cell(text: &str) -> String {
    let mut cell = String::with_capacity(text.len() + 1);
    push_guarded(&mut cell, text);
    cell
}

fn array_json(items: &[Scalar]) -> String {
    let items: Vec<serde_json::Value> = items.iter().map(Scalar::to_json).collect();
    serde_json::Value::Array(items).to_string()
}

/// Writing into a `String` cannot fail.
fn write_infallible(cell: &mut String, args: std::fmt::Arguments<'_>) {
    let _ = cell.write_fmt(args);
}

fn into_io(error: csv::Error) -> std::io::Error {
    match error.into_kind() {
        csv::ErrorKind::Io(error) => error,
        other => std::io::Error::other(format!("{other:?}")),
    }
}

#[cfg(test)]
mod tests;

//! From a CSV row to an event, by a column mapping.
//!
//! `--map FIELD=COLUMN` names the column of a field; FIELD is `event_type`,
//! `customer_id`, `timestamp` or `record.KEY`. Without a `--map`, a top-level
//! field reads the column of its own name when there is one. Every other
//! column goes into the record under its header (a `record.` prefix is
//! dropped: `record.amount` is the key `amount`), or nowhere with `--unmapped
//! ignore`.
//!
//! Cells: an empty cell leaves its field out. `event_type` and `customer_id`
//! are always text. A `timestamp` cell that is an integer becomes a number
//! (epoch milliseconds). A record cell that is a JSON number (`12`, `-0.5`,
//! `1e3`; not `00123`, `+5` or `.5`) becomes a number, `true` and `false`
//! become booleans, anything else stays text; `--text record.KEY` keeps a
//! field's cells text whatever they look like (zip codes, phone numbers).

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;

use anyhow::{bail, ensure};
use serde_json::{Map, Value};

/// An event field a column can fill.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    EventType,
    CustomerId,
    Timestamp,
    Record(String),
}

impl Field {
    const TOP_LEVEL: [Field; 3] = [Field::EventType, Field::CustomerId, Field::Timestamp];

    fn name(&self) -> String {
        match self {
            Field::EventType => "event_type".to_owned(),
            Field::CustomerId => "customer_id".to_owned(),
            Field::Timestamp => "timestamp".to_owned(),
            Field::Record(key) => format!("record.{key}"),
        }
    }
}

impl FromStr for Field {
    type Err = String;

    fn from_str(text: &str) -> Result<Field, String> {
        match text {
            "event_type" => Ok(Field::EventType),
            "customer_id" => Ok(Field::CustomerId),
            "timestamp" => Ok(Field::Timestamp),
            _ => match text.strip_prefix("record.") {
                Some(key) if !key.is_empty() => Ok(Field::Record(key.to_owned())),
                _ => Err(format!(
                    "unknown field {text}: use event_type, customer_id, timestamp or record.KEY"
                )),
            },
        }
    }
}

/// One `--map FIELD=COLUMN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMap {
    pub field: Field,
    pub column: String,
}

impl FromStr for FieldMap {
    type Err = String;

    fn from_str(text: &str) -> Result<FieldMap, String> {
        let Some((field, column)) = text.split_once('=') else {
            return Err(format!(
                "{text}: expected FIELD=COLUMN (record.amount=amount)"
            ));
        };
        if column.is_empty() {
            return Err(format!("{text}: the column name is empty"));
        }
        Ok(FieldMap {
            field: field.parse()?,
            column: column.to_owned(),
        })
    }
}

/// What becomes of the columns no field names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Unmapped {
    /// Into the record, under the column's name.
    Record,
    /// Nowhere.
    Ignore,
}

/// The mapping options as given, before a header is known.
#[derive(Debug, Clone)]
pub struct MapSpec {
    pub maps: Vec<FieldMap>,
    pub text: Vec<Field>,
    pub unmapped: Unmapped,
}

impl MapSpec {
    /// The options as one line, so a resume can tell whether they changed.
    pub fn describe(&self) -> String {
        let maps: Vec<String> = self
            .maps
            .iter()
            .map(|map| format!("{}={}", map.field.name(), map.column))
            .collect();
        let text: Vec<String> = self.text.iter().map(Field::name).collect();
        format!(
            "map {} text {} unmapped {:?}",
            maps.join(","),
            text.join(","),
            self.unmapped
        )
    }
}

/// How a cell becomes a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Timestamp,
    Typed,
}

/// The mapping resolved against a header: which column fills which field.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Field, column index, cell kind; in field order, so records keep their
    /// keys sorted whatever the column order.
    fields: Vec<(Field, usize, Kind)>,
}

impl Mapping {
    /// Resolves `spec` against `header`; a mapped column missing from the
    /// header, a field mapped twice, or two columns filling one record key
    /// are errors.
    pub fn new(spec: &MapSpec, header: &[String]) -> anyhow::Result<Mapping> {
        let column = |name: &str| header.iter().position(|h| h == name);
        let mut fields = BTreeMap::new();
        let mut used = HashSet::new();
        for map in &spec.maps {
            let Some(index) = column(&map.column) else {
                bail!(
                    "--map {}={}: no column {} in the header",
                    map.field.name(),
                    map.column,
                    map.column
                );
            };
            ensure!(
                fields.insert(map.field.clone(), index).is_none(),
                "{} is mapped twice",
                map.field.name()
            );
            used.insert(index);
        }
        for field in Field::TOP_LEVEL {
            if let (false, Some(index)) = (fields.contains_key(&field), column(&field.name())) {
                fields.insert(field, index);
                used.insert(index);
            }
        }
        if spec.unmapped == Unmapped::Record {
            add_unmapped(header, &used, &mut fields)?;
        }
        let text: HashSet<&Field> = spec.text.iter().collect();
        let fields = fields
            .into_iter()
            .map(|(field, index)| {
                let kind = match &field {
                    Field::EventType | Field::CustomerId => Kind::Text,
                    Field::Timestamp => Kind::Timestamp,
                    Field::Record(_) if text.contains(&field) => Kind::Text,
                    Field::Record(_) => Kind::Typed,
                };
                (field, index, kind)
            })
            .collect();
        Ok(Mapping { fields })
    }

    /// The event of one row: an object with the mapped fields that have a
    /// cell, and a `record` object when any record field has one.
    pub fn event(&self, row: &[String]) -> Value {
        let mut event = Map::new();
        let mut record = Map::new();
        for (field, index, kind) in &self.fields {
            let Some(cell) = row.get(*index).filter(|cell| !cell.is_empty()) else {
                continue;
            };
            let value = cell_value(cell, *kind);
            match field {
                Field::Record(key) => record.insert(key.clone(), value),
                top => event.insert(top.name(), value),
            };
        }
        if !record.is_empty() {
            event.insert("record".to_owned(), Value::Object(record));
        }
        Value::Object(event)
    }
}

/// Columns no field took go into the record under their name.
fn add_unmapped(
    header: &[String],
    used: &HashSet<usize>,
    fields: &mut BTreeMap<Field, usize>,
) -> anyhow::Result<()> {
    for (index, name) in header.iter().enumerate() {
        if used.contains(&index) || name.is_empty() {
            continue;
        }
        let key = name.strip_prefix("record.").unwrap_or(name);
        let field = Field::Record(key.to_owned());
        if let Some(&other) = fields.get(&field) {
            let other = header.get(other).map_or("", String::as_str);
            bail!(
                "columns {other} and {name} both fill record.{key}: map one elsewhere \
                 (--map record.OTHER_KEY={name}) or use --unmapped ignore"
            );
        }
        fields.insert(field, index);
    }
    Ok(())
}

fn cell_value(cell: &str, kind: Kind) -> Value {
    let text = || Value::String(cell.to_owned());
    match kind {
        Kind::Text => text(),
        Kind::Timestamp if is_json_number(cell) && !cell.contains(['.', 'e', 'E']) => number(cell),
        Kind::Timestamp => text(),
        Kind::Typed => match cell {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ if is_json_number(cell) => number(cell),
            _ => text(),
        },
    }
}

/// The cell as a JSON number, exact (`arbitrary_precision` keeps its text).
fn number(cell: &str) -> Value {
    serde_json::Number::from_str(cell)
        .map_or_else(|_| Value::String(cell.to_owned()), Value::Number)
}

/// The JSON number grammar (RFC 8259): `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn is_json_number(text: &str) -> bool {
    let rest = text.strip_prefix('-').unwrap_or(text);
    let (int, rest) = split_digits(rest);
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    let rest = match rest.strip_prefix('.') {
        Some(fraction) => match split_digits(fraction) {
            ("", _) => return false,
            (_, rest) => rest,
        },
        None => rest,
    };
    match rest.strip_prefix(['e', 'E']) {
        Some(exponent) => {
            let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            matches!(split_digits(exponent), (digits, "") if !digits.is_empty())
        }
        None => rest.is_empty(),
    }
}

fn split_digits(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text.split_at(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(maps: &[&str], text: &[&str], unmapped: Unmapped) -> MapSpec {
        MapSpec {
            maps: maps.iter().map(|m| m.parse().unwrap()).collect(),
            text: text.iter().map(|t| t.parse().unwrap()).collect(),
            unmapped,
        }
    }

    /// `expected` is JSON text: numbers compare by their text
    /// (`arbitrary_precision`), so `12.50` stays `12.50`.
    fn check(spec: &MapSpec, header: &[&str], row: &[&str], expected: &str) {
        let expected: Value = serde_json::from_str(expected).unwrap();
        let header: Vec<String> = header.iter().map(|h| (*h).to_owned()).collect();
        let mapping = Mapping::new(spec, &header).unwrap();
        let row: Vec<String> = row.iter().map(|cell| (*cell).to_owned()).collect();
        let event = mapping.event(&row);
        assert_eq!(event, expected);
    }

    #[test]
    fn maps_names_defaults_and_unmapped_columns() {
        let spec = spec(
            &["customer_id=customer", "record.id=ref"],
            &[],
            Unmapped::Record,
        );
        check(
            &spec,
            &[
                "event_type",
                "customer",
                "timestamp",
                "ref",
                "record.amount",
                "note",
            ],
            &["api_call", "00042", "1734710651000", "7", "12.50", "hello"],
            r#"{"event_type": "api_call", "customer_id": "00042", "timestamp": 1734710651000,
                "record": {"id": 7, "amount": 12.50, "note": "hello"}}"#,
        );
    }

    #[test]
    fn cells_become_numbers_booleans_or_text() {
        let spec = spec(&[], &["record.zip"], Unmapped::Record);
        check(
            &spec,
            &["timestamp", "a", "b", "c", "d", "e", "zip", "empty"],
            &[
                "2024-12-20T16:04:11Z",
                "-1e3",
                "00123",
                "+5",
                "true",
                "1.",
                "75001",
                "",
            ],
            r#"{"timestamp": "2024-12-20T16:04:11Z",
                "record": {"a": -1e3, "b": "00123", "c": "+5", "d": true, "e": "1.", "zip": "75001"}}"#,
        );
    }

    #[test]
    fn ignore_keeps_only_mapped_columns() {
        let spec = spec(&["record.id=id"], &[], Unmapped::Ignore);
        check(
            &spec,
            &["id", "other", "event_type"],
            &["x1", "dropped", "t"],
            r#"{"event_type": "t", "record": {"id": "x1"}}"#,
        );
    }

    #[test]
    fn mistakes_are_named() {
        let header = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let missing = Mapping::new(
            &spec(&["record.id=nope"], &[], Unmapped::Record),
            &header(&["id"]),
        );
        assert!(missing.unwrap_err().to_string().contains("no column nope"));
        let clash = Mapping::new(
            &spec(&["record.amount=amt"], &[], Unmapped::Record),
            &header(&["amt", "amount"]),
        );
        assert!(
            clash
                .unwrap_err()
                .to_string()
                .contains("both fill record.amount")
        );
        assert!("amount".parse::<FieldMap>().is_err());
        assert!(
            "customer=c"
                .parse::<FieldMap>()
                .unwrap_err()
                .contains("unknown field customer")
        );
    }

    #[test]
    fn json_number_grammar() {
        for yes in ["0", "-0", "12", "1.5", "1e9", "2E-3", "-0.25e+2"] {
            assert!(is_json_number(yes), "{yes}");
        }
        for no in [
            "", "-", "01", "+1", ".5", "1.", "1e", "1e+", "0x10", "NaN", " 1", "1_000",
        ] {
            assert!(!is_json_number(no), "{no}");
        }
    }
}

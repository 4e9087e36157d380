use std::collections::BTreeMap;

use rust_decimal::Decimal;
use tally_event::{Record, RecordId, Scalar, Timestamp, Value};

use super::*;

fn record(pairs: &[(&str, Value)]) -> Record {
    let properties: BTreeMap<String, Value> = pairs
        .iter()
        .map(|(key, value)| ((*key).to_owned(), value.clone()))
        .collect();
    Record::from_trusted_parts(RecordId::from_integer(1), properties)
}

fn string(text: &str) -> Value {
    Value::String(text.to_owned())
}

fn number(text: &str) -> Value {
    Value::Number(text.parse().unwrap())
}

fn row<'a>(record: &'a Record, name: &'a str) -> ExportRow<'a> {
    ExportRow {
        event_id: "evt_1",
        timestamp: Timestamp::from_millis(1_704_067_200_000).unwrap(),
        name,
        record,
        price_group: "base",
        quantity: Some(Decimal::ONE),
        amount: -5,
        currency: "EUR",
    }
}

fn csv_of(layout: Layout, rows: &[ExportRow<'_>]) -> String {
    let mut sheet = Sheet::new(Vec::new(), layout).unwrap();
    for row in rows {
        sheet.write_row(row).unwrap();
    }
    String::from_utf8(sheet.finish().unwrap()).unwrap()
}

fn seen(records: &[&Record]) -> KeySet {
    let mut keys = KeySet::new();
    for record in records {
        keys.add(record);
    }
    keys
}

#[test]
fn guarded_text_gets_a_quote_and_other_text_does_not() {
    let cases = [
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("a=b", "a=b"),
        (" =1", " =1"),
        ("", ""),
        ("'quoted", "'quoted"),
    ];
    for (text, expected) in cases {
        let mut cell = String::new();
        push_guarded(&mut cell, text);
        assert_eq!(cell, expected, "cell of {text:?}");
    }
}

#[test]
fn numbers_stay_numbers_and_strings_are_guarded() {
    let record = record(&[
        ("id", number("1")),
        ("delta", number("-12.50")),
        ("label", string("-12.50")),
        ("formula", string("=1+1")),
        ("tags", Value::Array(vec![Scalar::String("=x".into())])),
        ("flag", Value::Bool(true)),
        ("gone", Value::Null),
    ]);
    let layout = Layout::new(None, seen(&[&record]), false, 2);
    let text = csv_of(layout, &[row(&record, "=cmd|' /C calc'!A0")]);
    insta::assert_snapshot!(text);
}

#[test]
fn fields_are_quoted_per_rfc_4180_with_crlf() {
    let record = record(&[("id", number("1")), ("note", string("a, \"b\"\nc"))]);
    let layout = Layout::new(None, seen(&[&record]), true, 0);
    let text = csv_of(layout, &[row(&record, "x")]);
    assert_eq!(
        text,
        "id,timestamp,name,record.id,record.note,price_group,quantity,amount,currency\r\n\
         evt_1,2024-01-01T00:00:00.000Z,x,1,\"a, \"\"b\"\"\nc\",base,1,-5,EUR\r\n"
    );
}

#[test]
fn exposed_keys_choose_the_record_columns_in_their_order() {
    let record = record(&[("id", number("7")), ("b", string("B")), ("a", string("A"))]);
    let exposed = vec!["b".to_owned(), "missing".to_owned(), "id".to_owned()];
    let layout = Layout::new(Some(&exposed), seen(&[&record]), false, 3);
    let text = csv_of(layout, &[row(&record, "n")]);
    assert_eq!(
        text,
        "id,timestamp,name,record.b,record.missing,record.id,quantity,amount,currency\r\n\
         evt_1,2024-01-01T00:00:00.000Z,n,B,,7,1,-0.005,EUR\r\n"
    );
}

#[test]
fn amounts_have_the_currency_decimals() {
    for (exponent, minor, expected) in [
        (2, 1234, "12.34"),
        (2, 5, "0.05"),
        (0, 1234, "1234"),
        (3, -1, "-0.001"),
        (2, 0, "0.00"),
    ] {
        let mut sheet = Sheet::new(
            Vec::new(),
            Layout::new(Some(&[]), KeySet::new(), false, exponent),
        )
        .unwrap();
        sheet.amount(minor).unwrap();
        assert_eq!(sheet.cell, expected);
    }
}

#[test]
fn keys_beyond_the_cap_go_to_one_json_column() {
    let mut keys = KeySet::new();
    let mut wide = Vec::new();
    for n in 0..=MAX_RECORD_COLUMNS {
        wide.push((format!("k{n:04}"), number("1")));
    }
    let pairs: Vec<(&str, Value)> = wide.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for chunk in pairs.chunks(25) {
        keys.add(&record(chunk));
    }
    let last = record(&[("k9999", string("=last")), ("k0000", number("2"))]);
    keys.add(&last);
    let layout = Layout::new(None, keys, false, 2);
    let header = layout.header();
    assert_eq!(header.len(), 3 + MAX_RECORD_COLUMNS + 1 + 3);
    assert_eq!(header[3 + MAX_RECORD_COLUMNS], "record.other");
    let text = csv_of(layout, &[row(&last, "n")]);
    let line = text.lines().nth(1).unwrap_or_default();
    assert!(
        line.starts_with("evt_1,2024-01-01T00:00:00.000Z,n,2,"),
        "{line}"
    );
    assert!(
        line.ends_with(",\"{\"\"k9999\"\":\"\"=last\"\"}\",1,-0.05,EUR"),
        "{line}"
    );
}

proptest::proptest! {
    /// Whatever the amount and the currency's decimals, the cell reads back
    /// to the same minor units: summing a CSV column loses nothing.
    #[test]
    fn amount_cells_read_back_to_their_minor_units(minor in proptest::prelude::any::<i64>(), exponent in 0u32..=4) {
        let layout = Layout::new(Some(&[]), KeySet::new(), false, exponent);
        let mut sheet = Sheet::new(Vec::new(), layout).unwrap();
        sheet.amount(minor).unwrap();
        let major: Decimal = sheet.cell.parse().unwrap();
        let scale = Decimal::from(10i64.pow(exponent));
        proptest::prop_assert_eq!(major * scale, Decimal::from(minor));
        proptest::prop_assert_eq!(major.scale(), exponent);
    }
}

proptest::proptest! {
    /// Any text: its cell never starts like a formula, keeps the text after
    /// the guard, and survives RFC 4180 quoting through a CSV reader.
    #[test]
    fn any_text_is_guarded_and_read_back(name in proptest::prelude::any::<String>(), value in proptest::prelude::any::<String>()) {
        let record = record(&[("id", number("1")), ("note", string(&value))]);
        let layout = Layout::new(None, seen(&[&record]), false, 2);
        let text = csv_of(layout, &[row(&record, &name)]);
        let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
        let cells = reader.records().next().unwrap().unwrap();
        for (cell, original) in [(&cells[2], &name), (&cells[4], &value)] {
            proptest::prop_assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell:?}");
            let unguarded = if cell.len() > original.len() { &cell[1..] } else { cell };
            proptest::prop_assert_eq!(unguarded, original.as_str());
        }
    }
}

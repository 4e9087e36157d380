//! The archive read back, and the bound on what an export buffers.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use rust_decimal::Decimal;
use tally_event::{Record, RecordId, Timestamp, Value};

use super::*;

fn record(n: u64) -> Record {
    let mut properties = BTreeMap::new();
    properties.insert("id".to_owned(), Value::Number(Decimal::from(n)));
    properties.insert("region".to_owned(), Value::String(format!("eu-{}", n % 7)));
    Record::from_trusted_parts(RecordId::from_integer(i128::from(n)), properties)
}

fn layout() -> Layout {
    let mut keys = KeySet::new();
    keys.add(&record(0));
    Layout::new(None, keys, false, 2)
}

fn write_rows<W: std::io::Write>(
    sheet: &mut Sheet<W>,
    rows: u64,
    buffer: &ChunkBuffer,
    chunks: &mut Vec<usize>,
) {
    for n in 0..rows {
        let record = record(n);
        let id = format!("evt_{n}");
        let row = ExportRow {
            event_id: &id,
            timestamp: Timestamp::from_millis(1_704_067_200_000 + n as i64).unwrap(),
            name: "api call",
            record: &record,
            price_group: "base",
            quantity: Some(Decimal::ONE),
            amount: 1,
            currency: "EUR",
        };
        sheet.write_row(&row).unwrap();
        if let Some(chunk) = buffer.take_full() {
            chunks.push(chunk.len());
        }
    }
}

/// The most a drained buffer can hold: a chunk, the CSV writer's own buffer
/// spilled at once, and one more row.
const BOUND: usize = CHUNK_BYTES + 8 * 1024 + 1024;

/// In a ZIP, the deflate encoder also spills its 32 KiB output buffer at once.
const ZIP_BOUND: usize = BOUND + 32 * 1024;

#[test]
fn a_csv_export_buffers_one_chunk_whatever_the_row_count() {
    let buffer = ChunkBuffer::new();
    let mut sheet = Sheet::new(buffer.clone(), layout()).unwrap();
    let mut chunks = Vec::new();
    write_rows(&mut sheet, 200_000, &buffer, &mut chunks);
    sheet.finish().unwrap();
    let rest = buffer.take_all().len();
    let total: usize = chunks.iter().sum::<usize>() + rest;
    assert!(
        total > 100 * CHUNK_BYTES,
        "{total} bytes is not a large export"
    );
    let largest = chunks.iter().copied().max().unwrap_or_default();
    assert!(largest <= BOUND, "a chunk of {largest} bytes");
    assert!(rest < BOUND, "{rest} bytes left at the end");
}

#[test]
fn a_zip_export_buffers_one_chunk_whatever_the_row_count() {
    let mut archive = Archive::new();
    let buffer = archive.buffer();
    let mut chunks = Vec::new();
    for product in ["a", "b"] {
        let (_, mut sheet) = archive.start_csv(product, layout()).unwrap();
        write_rows(&mut sheet, 100_000, &buffer, &mut chunks);
        sheet.finish().unwrap();
    }
    let rest = archive.finish().unwrap().take_all().len();
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    let largest = chunks.iter().copied().max().unwrap_or_default();
    assert!(largest <= ZIP_BOUND, "a chunk of {largest} bytes");
    assert!(rest < ZIP_BOUND, "{rest} bytes left at the end");
}

#[test]
fn the_archive_unzips_into_one_csv_per_product() {
    let at = Timestamp::parse("2024-12-21T08:30:15Z").unwrap();
    let mut archive = Archive::new().modified_at(at);
    let buffer = archive.buffer();
    let mut bytes = Vec::new();
    let mut names = Vec::new();
    let mut chunks = Vec::new();
    for (product, rows) in [("API calls", 3), ("API calls", 1), ("CON", 0), ("a/b", 2)] {
        let (name, mut sheet) = archive.start_csv(product, layout()).unwrap();
        write_rows(&mut sheet, rows, &buffer, &mut chunks);
        sheet.finish().unwrap();
        bytes.extend(buffer.take_all());
        names.push((name, rows));
    }
    bytes.extend(archive.finish().unwrap().take_all());
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    assert_eq!(zip.len(), names.len());
    for (index, (name, rows)) in names.iter().enumerate() {
        let mut file = zip.by_index(index).unwrap();
        assert_eq!(file.name(), name);
        let modified = file.last_modified().unwrap_or_default();
        let parts = (modified.year(), modified.month(), modified.day());
        assert_eq!(
            (parts, modified.hour(), modified.minute()),
            ((2024, 12, 21), 8, 30)
        );
        let mut text = String::new();
        file.read_to_string(&mut text).unwrap();
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len() as u64, 1 + rows, "{name}: {text}");
        assert_eq!(
            lines[0],
            "id,timestamp,name,record.id,record.region,quantity,amount,currency"
        );
        for (n, line) in lines[1..].iter().enumerate() {
            let expected = format!(
                "evt_{n},{},api call,{n},eu-{},1,0.01,EUR",
                Timestamp::from_millis(1_704_067_200_000 + n as i64)
                    .unwrap()
                    .to_rfc3339(),
                n % 7
            );
            assert_eq!(*line, expected);
        }
    }
    let names: Vec<&str> = names.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(
        names,
        ["API calls.csv", "API calls (2).csv", "CON_.csv", "a_b.csv"]
    );
}

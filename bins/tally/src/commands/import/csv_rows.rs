//! CSV rows, each with the line it starts on and the input's position after it.
//!
//! `csv_core`'s parser is fed straight from the input's buffer, and the
//! newlines it consumes are counted here: the `csv` crate's reader dates a row
//! from where the previous one ended, so a blank line before a row, or a CRLF
//! line end, shifts its line numbers, and a resumed import would start on the
//! `\n` of the previous row. Only `\n` ends a row (a quoted cell may hold
//! newlines and span lines); a `\r` ending the last cell is the CR of a CRLF
//! line end and is dropped. Blank lines are skipped and keep their numbers.
//! A row larger than [`MAX_ROW_BYTES`] is read to its end but its cells are
//! not kept, so one unclosed quote cannot fill the memory.

use std::io::BufRead;

use anyhow::Context;
use csv_core::{ReadRecordResult, Terminator};

use super::source::Checkpoint;

/// The most cell bytes a row may hold: well above the largest event
/// (64 KiB), for columns that `--unmapped ignore` drops.
pub const MAX_ROW_BYTES: usize = 1024 * 1024;

/// One row of the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The line the row starts on, from 1.
    pub line: u64,
    /// The cells, or why they cannot be read.
    pub cells: Result<Vec<String>, Unreadable>,
}

/// A row whose cells cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub message: String,
    /// The cells as far as they are known (none for a row too large).
    pub cells: Vec<String>,
}

/// The rows of a CSV input, from a position at a row boundary.
pub struct CsvRows<R> {
    input: R,
    parser: csv_core::Reader,
    at: Checkpoint,
    /// The row's cell bytes, back to back; `ends` are where each cell ends.
    cells: Vec<u8>,
    ends: Vec<usize>,
}

/// Where a row being parsed stands.
struct Parsing {
    start: Option<u64>,
    cells_len: usize,
    ends_len: usize,
    too_large: bool,
}

impl<R: BufRead> CsvRows<R> {
    /// Rows of `input`, which starts at `at` in the file (a row boundary).
    pub fn new(input: R, at: Checkpoint) -> CsvRows<R> {
        CsvRows {
            input,
            parser: csv_core::ReaderBuilder::new()
                .terminator(Terminator::Any(b'\n'))
                .build(),
            at,
            cells: vec![0; 4096],
            ends: vec![0; 64],
        }
    }

    /// Bytes and lines consumed from the start of the file.
    pub fn at(&self) -> Checkpoint {
        self.at
    }

    /// The next row that is not blank; `None` at the end of the input.
    pub fn next_row(&mut self) -> anyhow::Result<Option<Row>> {
        loop {
            let Some(row) = self.next_record()? else {
                return Ok(None);
            };
            let blank = matches!(&row.cells, Ok(cells) if cells.len() == 1 && cells[0].is_empty());
            if !blank {
                return Ok(Some(row));
            }
        }
    }

    /// The next record, blank or not.
    fn next_record(&mut self) -> anyhow::Result<Option<Row>> {
        let mut parsing = Parsing {
            start: None,
            cells_len: 0,
            ends_len: 0,
            too_large: false,
        };
        loop {
            let buffer = self.input.fill_buf().context("cannot read the input")?;
            let input_ended = buffer.is_empty();
            let (result, consumed, written, ended) = {
                // A row too large keeps being parsed, to find its end, over
                // cells that are overwritten.
                let (cells_from, ends_from) = if parsing.too_large {
                    (0, 0)
                } else {
                    (parsing.cells_len, parsing.ends_len)
                };
                let cells = self.cells.get_mut(cells_from..).unwrap_or_default();
                let ends = self.ends.get_mut(ends_from..).unwrap_or_default();
                self.parser.read_record(buffer, cells, ends)
            };
            let taken = buffer.get(..consumed).unwrap_or_default();
            if parsing.start.is_none() {
                // The parser skips the `\n`s before a row: the row starts
                // on the line of its first other byte.
                if let Some(first) = taken.iter().position(|&byte| byte != b'\n') {
                    parsing.start = Some(self.at.line + newlines(&taken[..first]) + 1);
                }
            }
            self.at.offset += consumed as u64;
            self.at.line += newlines(taken);
            self.input.consume(consumed);
            if !parsing.too_large {
                parsing.cells_len += written;
                parsing.ends_len += ended;
            }
            match result {
                // Given no input, the parser ends the row or the input.
                ReadRecordResult::InputEmpty if input_ended => return Ok(None),
                ReadRecordResult::InputEmpty => {}
                ReadRecordResult::OutputFull => self.grow_cells(&mut parsing),
                ReadRecordResult::OutputEndsFull => {
                    if !parsing.too_large {
                        self.ends.resize(self.ends.len() * 2, 0);
                    }
                }
                ReadRecordResult::Record => return Ok(Some(self.row(&parsing))),
                ReadRecordResult::End => return Ok(None),
            }
        }
    }

    /// More room for cells, up to [`MAX_ROW_BYTES`]; past it the row is too
    /// large and its cells are dropped.
    fn grow_cells(&mut self, parsing: &mut Parsing) {
        if parsing.too_large {
            return;
        }
        if self.cells.len() >= MAX_ROW_BYTES {
            parsing.too_large = true;
            return;
        }
        let len = (self.cells.len() * 2).min(MAX_ROW_BYTES);
        self.cells.resize(len, 0);
    }

    fn row(&self, parsing: &Parsing) -> Row {
        let line = parsing.start.unwrap_or(self.at.line);
        if parsing.too_large {
            return Row {
                line,
                cells: Err(Unreadable {
                    message: format!("the row is larger than {} MiB", MAX_ROW_BYTES >> 20),
                    cells: Vec::new(),
                }),
            };
        }
        let bytes = self.cells.get(..parsing.cells_len).unwrap_or_default();
        let ends = self.ends.get(..parsing.ends_len).unwrap_or_default();
        let mut cells: Vec<&[u8]> = Vec::with_capacity(ends.len());
        let mut start = 0;
        for &end in ends {
            cells.push(bytes.get(start..end).unwrap_or_default());
            start = end;
        }
        if let Some(last) = cells.last_mut() {
            *last = last.strip_suffix(b"\r").unwrap_or(last);
        }
        let text: Result<Vec<String>, _> = cells
            .iter()
            .map(|cell| String::from_utf8(cell.to_vec()))
            .collect();
        let cells = text.map_err(|_| Unreadable {
            message: "the row is not UTF-8".to_owned(),
            cells: cells
                .iter()
                .map(|cell| String::from_utf8_lossy(cell).into_owned())
                .collect(),
        });
        Row { line, cells }
    }
}

fn newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&byte| byte == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use std::io::BufReader;

    use super::*;

    /// Every row as (line, cells), and the position at the end.
    fn rows(text: &[u8], buffer: usize) -> (Vec<(u64, Vec<String>)>, Checkpoint) {
        let mut rows = CsvRows::new(
            BufReader::with_capacity(buffer, text),
            Checkpoint::default(),
        );
        let mut all = Vec::new();
        while let Some(row) = rows.next_row().unwrap() {
            all.push((row.line, row.cells.unwrap()));
        }
        (all, rows.at())
    }

    fn row(line: u64, cells: &[&str]) -> (u64, Vec<String>) {
        (line, cells.iter().map(|cell| (*cell).to_owned()).collect())
    }

    #[test]
    fn lines_count_blank_lines_crlf_and_quoted_newlines() {
        let lf = b"a,b\n1,2\n\n3,\"x\ny\"\n4,5\n";
        let crlf = b"a,b\r\n1,2\r\n\r\n3,\"x\r\ny\"\r\n4,5\r\n";
        for buffer in [1, 3, 64 * 1024] {
            let (found, end) = rows(lf, buffer);
            assert_eq!(
                found,
                [
                    row(1, &["a", "b"]),
                    row(2, &["1", "2"]),
                    row(4, &["3", "x\ny"]),
                    row(6, &["4", "5"])
                ]
            );
            assert_eq!(
                end,
                Checkpoint {
                    offset: 21,
                    line: 6
                }
            );
            let (found, end) = rows(crlf, buffer);
            assert_eq!(
                found,
                [
                    row(1, &["a", "b"]),
                    row(2, &["1", "2"]),
                    row(4, &["3", "x\r\ny"]),
                    row(6, &["4", "5"])
                ]
            );
            assert_eq!(
                end,
                Checkpoint {
                    offset: 27,
                    line: 6
                }
            );
        }
    }

    #[test]
    fn a_last_line_without_newline_and_quotes_inside_cells() {
        let (found, end) = rows(b"a,\"b \"\"c\"\"\"\n1,x\"y", 8);
        assert_eq!(found, [row(1, &["a", "b \"c\""]), row(2, &["1", "x\"y"])]);
        assert_eq!(
            end,
            Checkpoint {
                offset: 17,
                line: 1
            }
        );
    }

    /// A reader started at a row boundary numbers lines as a whole one does.
    #[test]
    fn reading_from_a_position_goes_on_with_the_same_numbers() {
        let text = b"h\n\n1\n\"2\n2\"\n\n3\n";
        let mut whole = CsvRows::new(&text[..], Checkpoint::default());
        whole.next_row().unwrap();
        whole.next_row().unwrap();
        let middle = whole.at();
        assert_eq!(middle, Checkpoint { offset: 5, line: 3 });
        let rest = &text[usize::try_from(middle.offset).unwrap()..];
        let mut resumed = CsvRows::new(rest, middle);
        let second = resumed.next_row().unwrap().unwrap();
        assert_eq!((second.line, second.cells.unwrap()), row(4, &["2\n2"]));
        let third = resumed.next_row().unwrap().unwrap();
        assert_eq!(third.line, 7);
        assert!(resumed.next_row().unwrap().is_none());
        assert_eq!(
            resumed.at(),
            Checkpoint {
                offset: 14,
                line: 7
            }
        );
    }

    #[test]
    fn a_row_too_large_is_refused_and_the_next_one_read() {
        let mut text = b"a\n\"".to_vec();
        text.extend(std::iter::repeat_n(b'x', MAX_ROW_BYTES + 10));
        text.extend(b"\n\"\nb\n");
        let mut rows = CsvRows::new(&text[..], Checkpoint::default());
        assert_eq!(rows.next_row().unwrap().unwrap().line, 1);
        let large = rows.next_row().unwrap().unwrap();
        assert_eq!(large.line, 2);
        assert!(
            large
                .cells
                .unwrap_err()
                .message
                .contains("larger than 1 MiB")
        );
        let next = rows.next_row().unwrap().unwrap();
        assert_eq!((next.line, next.cells.unwrap()), row(4, &["b"]));
    }

    #[test]
    fn invalid_utf8_is_refused_with_its_cells() {
        let mut rows = CsvRows::new(&b"ok,\xff\n"[..], Checkpoint::default());
        let row = rows.next_row().unwrap().unwrap();
        let unreadable = row.cells.unwrap_err();
        assert_eq!(unreadable.message, "the row is not UTF-8");
        assert_eq!(unreadable.cells, ["ok", "\u{fffd}"]);
    }
}

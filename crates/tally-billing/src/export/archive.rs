//! The ZIP of an invoice's events: one CSV per usage product, written as a
//! stream (sizes and checksums in data descriptors after each file), so
//! nothing is seeked back over and nothing waits for the whole archive.

use std::io::Write;

use chrono::{Datelike, Timelike};
use tally_event::Timestamp;
use zip::ZipWriter;
use zip::write::{SimpleFileOptions, StreamWriter};

use super::chunks::ChunkBuffer;
use super::names::UniqueNames;
use super::sheet::{Layout, Sheet};

type Inner = ZipWriter<StreamWriter<ChunkBuffer>>;

/// A ZIP archive being written into a [`ChunkBuffer`]; drain the buffer (from
/// [`Archive::buffer`]) between rows.
pub struct Archive {
    zip: Inner,
    buffer: ChunkBuffer,
    names: UniqueNames,
    /// The files' modification time (ZIP keeps local time without a zone:
    /// this is UTC). Without it, readers show 1980-01-01.
    modified: Option<zip::DateTime>,
}

impl Archive {
    /// An empty archive writing into its own [`ChunkBuffer`].
    pub fn new() -> Self {
        let buffer = ChunkBuffer::new();
        Archive {
            zip: ZipWriter::new_stream(buffer.clone()),
            buffer,
            names: UniqueNames::new(),
            modified: None,
        }
    }

    /// Dates every file at `at` (the export's time, from the service's
    /// clock); an instant outside ZIP's years 1980..=2107 leaves the default.
    pub fn modified_at(mut self, at: Timestamp) -> Self {
        let at = at.to_datetime();
        let (Ok(year), Ok(month), Ok(day)) = (
            u16::try_from(at.year()),
            u8::try_from(at.month()),
            u8::try_from(at.day()),
        ) else {
            return self;
        };
        let (hour, minute, second) = (at.hour(), at.minute(), at.second());
        let time = [hour, minute, second].map(|part| u8::try_from(part).unwrap_or(0));
        self.modified =
            zip::DateTime::from_date_and_time(year, month, day, time[0], time[1], time[2]).ok();
        self
    }

    /// Where the archive's bytes collect.
    pub fn buffer(&self) -> ChunkBuffer {
        self.buffer.clone()
    }

    /// Starts the CSV of a product, named after it (see [`super::names`]), and
    /// returns its sheet with the header written, plus the file name chosen.
    pub fn start_csv(
        &mut self,
        product_name: &str,
        layout: Layout,
    ) -> std::io::Result<(String, Sheet<&mut Inner>)> {
        let file_name = self.names.file_name(product_name, "csv");
        // Deflate, and Zip64 sizes so a file past 4 GiB still fits; every
        // current unzip tool reads both.
        let mut options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        if let Some(modified) = self.modified {
            options = options.last_modified_time(modified);
        }
        self.zip
            .start_file(file_name.as_str(), options)
            .map_err(std::io::Error::other)?;
        let sheet = Sheet::new(&mut self.zip, layout)?;
        Ok((file_name, sheet))
    }

    /// Writes the central directory; the buffer then holds the archive's end.
    pub fn finish(self) -> std::io::Result<ChunkBuffer> {
        let mut stream = self.zip.finish().map_err(std::io::Error::other)?;
        stream.flush()?;
        Ok(self.buffer)
    }
}

impl Default for Archive {
    fn default() -> Self {
        Archive::new()
    }
}

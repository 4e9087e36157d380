//! The ZIP of an invoice's events: one CSV per usage product, written as a
//! stream (sizes and checksums in data descriptors after each file), so
//! nothing is seeked back over and nothing waits for the whole archive.

use std::io::Write;

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
}

impl Archive {
    pub fn new() -> Self {
        let buffer = ChunkBuffer::new();
        Archive {
            zip: ZipWriter::new_stream(buffer.clone()),
            buffer,
            names: UniqueNames::new(),
        }
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
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
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

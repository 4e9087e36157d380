//! Bytes handed out in chunks: the exporters write into a [`ChunkBuffer`] and
//! whoever sends the bytes on (an HTTP body, a file) takes them out between
//! rows, so the buffer never holds more than about one chunk.

use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

/// The size from which [`ChunkBuffer::take_full`] hands the bytes out.
pub const CHUNK_BYTES: usize = 64 * 1024;

/// A shared byte buffer: the writer side is cloned into a CSV or ZIP writer,
/// the reader side drains it. A mutex rather than a `RefCell` so an export
/// future stays `Send`; the two sides never run at once, so it is never
/// contended.
#[derive(Debug, Clone, Default)]
pub struct ChunkBuffer(Arc<Mutex<Vec<u8>>>);

impl ChunkBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        ChunkBuffer::default()
    }

    fn bytes(&self) -> MutexGuard<'_, Vec<u8>> {
        // The buffer is plain bytes: a writer that panicked mid-write leaves
        // nothing inconsistent to guard against.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The bytes buffered, once there are at least [`CHUNK_BYTES`] of them.
    pub fn take_full(&self) -> Option<Vec<u8>> {
        let mut bytes = self.bytes();
        (bytes.len() >= CHUNK_BYTES).then(|| std::mem::take(&mut *bytes))
    }

    /// Every byte buffered (the end of an export).
    pub fn take_all(&self) -> Vec<u8> {
        std::mem::take(&mut *self.bytes())
    }

    /// Bytes buffered and not yet taken.
    pub fn len(&self) -> usize {
        self.bytes().len()
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

impl Write for ChunkBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

//! A [`Source`] over anything that implements `std::io::Read`: a file natively, bytes in
//! memory in tests.

use std::io::Read;

use super::{Source, SourceError};

/// A source reading from `R`, of a known size or not.
pub struct ReadSource<R> {
    inner: R,
    size: Option<u64>,
}

impl<R: Read> ReadSource<R> {
    /// Wraps `inner`, which holds `size` bytes when that is known.
    pub fn new(inner: R, size: Option<u64>) -> Self {
        ReadSource { inner, size }
    }
}

impl ReadSource<std::fs::File> {
    /// The file at `path`.
    pub fn open(path: &std::path::Path) -> Result<Self, SourceError> {
        let io = |e: std::io::Error| SourceError::Io(format!("{}: {e}", path.display()));
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        Ok(ReadSource::new(file, Some(size)))
    }
}

impl<R: Read> Source for ReadSource<R> {
    fn size(&self) -> Option<u64> {
        self.size
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => return other.map_err(|e| SourceError::Io(e.to_string())),
            }
        }
    }
}

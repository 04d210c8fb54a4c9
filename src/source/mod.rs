//! Where a model's bytes come from: a [`Source`] yields a file's bytes in order, and a
//! [`Reader`] on top of it parses the GGUF header and hands out tensor data as it arrives.
//!
//! GGUF puts all tensor data after the header in file order, so a model can be uploaded while
//! it streams in (a file natively; an HTTP response or a `File` in the browser, see
//! `crate::web`), and nothing needs the whole file, or even a whole tensor, in memory.

mod read;

use crate::gguf::{Gguf, GgufError};

pub use read::ReadSource;

pub use crate::gguf::MAX_HEADER_BYTES;

/// Bytes the header is read in, beyond the first (see [`Reader::read_header`]).
const HEADER_STEP: u64 = 512 << 10;

/// Why a source's bytes could not be had.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The network failed (the message says how and what to do).
    #[error("{0}")]
    Network(String),
    /// Reading a local file failed.
    #[error("{0}")]
    Io(String),
    /// Storage the source keeps the file in is full (the message says how much is needed).
    #[error("{0}")]
    Quota(String),
    /// The caller stopped the load.
    #[error("loading was aborted")]
    Aborted,
    /// The source ended before the size it announced.
    #[error("the download stopped after {got} of {size} bytes: the connection was cut; try again")]
    Cut {
        /// Bytes received.
        got: u64,
        /// Bytes announced.
        size: u64,
    },
    /// The file is shorter than its header says.
    #[error("the file ends after {got} bytes, but it needs at least {needed}: it is truncated")]
    Truncated {
        /// Bytes in the file.
        got: u64,
        /// Bytes the file needs (its header, or the tensor data the header places).
        needed: u64,
    },
    /// The header is broken, or this is not a GGUF file at all.
    #[error(transparent)]
    Header(#[from] GgufError),
    /// The header is implausibly large.
    #[error("the GGUF header is larger than {} MiB: the file is damaged or not a model", MAX_HEADER_BYTES >> 20)]
    HeaderTooLarge,
}

/// A file's bytes, front to back.
// Futures of sources are not `Send` in the browser; hearth never moves them across threads.
#[allow(async_fn_in_trait)]
pub trait Source {
    /// Total size in bytes, when the source knows it in advance.
    fn size(&self) -> Option<u64>;

    /// Reads the next bytes into `buf` and returns how many (at least one while `buf` is not
    /// empty); 0 at the end.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError>;
}

/// Reads a [`Source`] in order: the header first, then tensor data, with the time spent
/// waiting on the source accounted (download-bound versus upload-bound loading).
pub struct Reader<S> {
    source: S,
    /// File offset of the next byte handed out.
    pos: u64,
    /// Bytes read from the source ahead of `pos` (the data after the header).
    ahead: Vec<u8>,
    ahead_at: usize,
    /// Milliseconds spent waiting for the source.
    pub wait_ms: f64,
}

impl<S: Source> Reader<S> {
    /// A reader at the start of `source`.
    pub fn new(source: S) -> Self {
        Reader { source, pos: 0, ahead: Vec::new(), ahead_at: 0, wait_ms: 0.0 }
    }

    /// File offset of the next byte.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The source's size, if known.
    pub fn size(&self) -> Option<u64> {
        self.source.size()
    }

    /// One read: bytes read ahead first, then the source.
    async fn fill(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let n = if self.ahead_at < self.ahead.len() {
            let n = buf.len().min(self.ahead.len() - self.ahead_at);
            buf[..n].copy_from_slice(&self.ahead[self.ahead_at..self.ahead_at + n]);
            self.ahead_at += n;
            if self.ahead_at == self.ahead.len() {
                self.ahead = Vec::new();
                self.ahead_at = 0;
            }
            n
        } else {
            let t0 = crate::clock::now_ms();
            let n = self.source.read(buf).await?;
            self.wait_ms += crate::clock::now_ms() - t0;
            n
        };
        self.pos += n as u64;
        Ok(n)
    }

    /// The error for a source that ended at `self.pos` although `needed` bytes were expected.
    fn ended(&self, needed: u64) -> SourceError {
        match self.source.size() {
            Some(size) if self.pos < size => SourceError::Cut { got: self.pos, size },
            _ => SourceError::Truncated { got: self.pos, needed },
        }
    }

    /// Fills `buf` completely.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), SourceError> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.fill(&mut buf[done..]).await?;
            if n == 0 {
                return Err(self.ended(self.pos + (buf.len() - done) as u64));
            }
            done += n;
        }
        Ok(())
    }

    /// Reads and drops bytes up to file offset `offset` (padding between tensors, tensors the
    /// model does not use).
    pub async fn skip_to(&mut self, offset: u64) -> Result<(), SourceError> {
        let mut scratch = vec![0u8; (offset.saturating_sub(self.pos)).min(64 << 10) as usize];
        while self.pos < offset {
            let want = ((offset - self.pos) as usize).min(scratch.len());
            let n = self.fill(&mut scratch[..want]).await?;
            if n == 0 {
                return Err(self.ended(offset));
            }
        }
        Ok(())
    }

    /// Reads and parses the GGUF header, pulling only about as many bytes as it needs; the
    /// reader is then at the start of the tensor data.
    pub async fn read_header(&mut self) -> Result<Gguf, SourceError> {
        let size = self.source.size().unwrap_or(u64::MAX);
        let mut buf: Vec<u8> = Vec::new();
        let mut want: u64 = HEADER_STEP;
        loop {
            let target = want.min(size) as usize;
            let mut ended = false;
            if buf.len() < target {
                let start = buf.len();
                buf.resize(target, 0);
                let mut got = start;
                while got < target {
                    let n = self.fill(&mut buf[got..]).await?;
                    if n == 0 {
                        ended = true;
                        break;
                    }
                    got += n;
                }
                buf.truncate(got);
            }
            match Gguf::parse(&buf, size) {
                Ok(g) => {
                    // Hand back what was read past the header.
                    let data = g.data_offset().min(buf.len() as u64) as usize;
                    self.pos = data as u64;
                    buf.drain(..data);
                    self.ahead = buf;
                    self.ahead_at = 0;
                    return Ok(g);
                }
                Err(GgufError::NeedMore { needed }) => {
                    if ended || buf.len() as u64 >= size {
                        return Err(self.ended(buf.len() as u64 + needed));
                    }
                    // Grow by steps of a sixteenth (at least HEADER_STEP): a large vocabulary
                    // costs a bounded number of re-parses, and what is read past the header
                    // stays under one step (what `inspect` of a URL transfers in vain).
                    let len = buf.len() as u64;
                    want = len.saturating_add(needed).max(len + (len / 16).max(HEADER_STEP));
                    if buf.len() as u64 + needed > MAX_HEADER_BYTES {
                        return Err(SourceError::HeaderTooLarge);
                    }
                    want = want.min(MAX_HEADER_BYTES);
                }
                Err(e) => return Err(SourceError::Header(e)),
            }
        }
    }
}

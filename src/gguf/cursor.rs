//! A bounds-checked little-endian reader over a prefix of a file.
//!
//! Every read says how far it got: past the prefix is `NeedMore` (the rest of the file may
//! still arrive), past the declared file size is `BeyondFile` (the file is broken). Claimed
//! lengths are checked against the bytes that remain *before* anything is allocated.

use super::GgufError;
use super::header::MAX_HEADER_BYTES;

#[derive(Clone)]
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    file_size: u64,
}

impl<'a> Cursor<'a> {
    /// `data` is the first `data.len()` bytes of a file of `file_size` bytes.
    pub fn new(data: &'a [u8], file_size: u64) -> Self {
        Cursor { data, pos: 0, file_size }
    }

    /// Offset of the next byte to read, from the start of the file.
    pub fn pos(&self) -> u64 {
        self.pos as u64
    }

    /// Bytes of the file after the current position (whether or not they have arrived).
    pub fn left_in_file(&self) -> u64 {
        self.file_size.saturating_sub(self.pos())
    }

    /// Checks that `claimed` bytes can follow the current position in the file, without
    /// requiring them to be in the prefix yet.
    pub fn check_claim(&self, what: &'static str, claimed: u64) -> Result<(), GgufError> {
        let left = self.left_in_file();
        if claimed > left {
            return Err(GgufError::BeyondFile { what, at: self.pos(), claimed, left });
        }
        Ok(())
    }

    /// The next `n` bytes, which must end inside the first [`MAX_HEADER_BYTES`] of the file
    /// (so a claimed 4 GB string is refused before anyone reads or allocates it).
    pub fn take(&mut self, what: &'static str, n: u64) -> Result<&'a [u8], GgufError> {
        self.check_claim(what, n)?;
        let end = self.pos().saturating_add(n);
        if end > MAX_HEADER_BYTES {
            return Err(GgufError::TooMany { what: "the header's size in bytes", count: end, max: MAX_HEADER_BYTES });
        }
        let have = (self.data.len() - self.pos) as u64;
        if n > have {
            return Err(GgufError::NeedMore { needed: n - have });
        }
        let start = self.pos;
        // n <= have <= usize::MAX, so the cast is exact.
        self.pos += n as usize;
        Ok(&self.data[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let bytes = self.take(what, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    pub fn u8(&mut self, what: &'static str) -> Result<u8, GgufError> {
        Ok(self.array::<1>(what)?[0])
    }
    pub fn u16(&mut self, what: &'static str) -> Result<u16, GgufError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A GGUF string: a u64 length then that many bytes (not NUL-terminated).
    pub fn bytes_with_len(&mut self, what: &'static str) -> Result<&'a [u8], GgufError> {
        let len = self.u64(what)?;
        self.take(what, len)
    }

    /// A GGUF string that must be UTF-8 and at most `max` bytes long.
    pub fn string(&mut self, what: &'static str, max: u64) -> Result<String, GgufError> {
        let at = self.pos();
        let len = self.u64(what)?;
        self.check_claim(what, len)?;
        if len > max {
            return Err(GgufError::TooLong { what, at, len, max });
        }
        let bytes = self.take(what, len)?;
        std::str::from_utf8(bytes).map(str::to_owned).map_err(|_| GgufError::InvalidUtf8 { what, at })
    }
}

//! `Gguf`: a parsed GGUF header (metadata and tensor infos), read from a prefix of the file.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;

use super::cursor::Cursor;
use super::value::{read_value, read_value_type};
use super::{Array, GgmlType, GgufError, StrArray, Value};

/// Caps on counts read from a header. Real files are far below them (SmolLM2: 272 tensors,
/// ~40 keys); they exist so a hostile count fails early with a clear message.
pub const MAX_TENSORS: u64 = 1 << 20;
/// See [`MAX_TENSORS`].
pub const MAX_KEYS: u64 = 1 << 20;
/// ggml tensors have at most four dimensions.
pub const MAX_DIMS: u32 = 4;
/// The largest header hearth reads (real ones are 1–10 MiB, mostly the vocabulary).
pub const MAX_HEADER_BYTES: u64 = 64 << 20;
/// The longest metadata key.
pub const MAX_KEY_LEN: u64 = 1024;
/// The longest tensor name: ggml's GGML_MAX_NAME (64) with its terminating NUL, as
/// llama.cpp's gguf.cpp checks.
pub const MAX_NAME_LEN: u64 = 63;
/// Alignment of tensor data when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: u64 = 32;

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// Its name, e.g. `blk.0.attn_q.weight`.
    pub name: String,
    /// Dimensions, innermost (contiguous) first, as ggml's `ne`: a weight of `rows` rows of
    /// `cols` elements is `[cols, rows]`.
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Offset of its first byte from the start of the data section.
    pub offset: u64,
    /// Size of its data in bytes.
    pub n_bytes: u64,
}

impl TensorInfo {
    /// Total number of elements.
    pub fn n_elements(&self) -> u64 {
        self.dims.iter().product()
    }

    /// Elements per row (`dims[0]`).
    pub fn row_len(&self) -> u64 {
        self.dims.first().copied().unwrap_or(1)
    }

    /// Number of rows (product of all dimensions but the first).
    pub fn n_rows(&self) -> u64 {
        self.dims.iter().skip(1).product()
    }
}

/// A parsed GGUF header: version, metadata and tensor infos, all bounds-checked.
#[derive(Clone, Debug)]
pub struct Gguf {
    version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    by_name: HashMap<String, usize>,
    alignment: u64,
    data_offset: u64,
    file_size: u64,
}

impl Gguf {
    /// Parses the header from `prefix`, the first bytes of a file of `file_size` bytes.
    ///
    /// When `prefix` ends inside the header this returns [`GgufError::NeedMore`], so a caller
    /// that streams the file (the browser) can parse as soon as enough bytes have arrived.
    /// Every tensor's extent is checked against `file_size`.
    pub fn parse(prefix: &[u8], file_size: u64) -> Result<Gguf, GgufError> {
        let file_size = file_size.max(prefix.len() as u64);
        let mut c = Cursor::new(prefix, file_size);

        let magic: [u8; 4] = c.take("the magic", 4)?.try_into().unwrap_or_default();
        if &magic != b"GGUF" {
            return Err(GgufError::BadMagic { found: magic });
        }
        let version = c.u32("the version")?;
        if version.swap_bytes() == 2 || version.swap_bytes() == 3 {
            return Err(GgufError::BigEndian);
        }
        if version != 2 && version != 3 {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let n_tensors = c.u64("the tensor count")?;
        let n_keys = c.u64("the metadata key count")?;
        check_count("the tensor count", n_tensors, MAX_TENSORS)?;
        check_count("the metadata key count", n_keys, MAX_KEYS)?;
        // A tensor info takes at least 24 bytes, a key-value pair at least 13.
        c.check_claim("the tensor infos", n_tensors.saturating_mul(24))?;
        c.check_claim("the metadata", n_keys.saturating_mul(13))?;

        let mut metadata = BTreeMap::new();
        for _ in 0..n_keys {
            let key = c.string("a metadata key", MAX_KEY_LEN)?;
            let ty = read_value_type(&mut c, &key)?;
            let value = read_value(&mut c, &key, ty, 0)?;
            if metadata.contains_key(&key) {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.insert(key, value);
        }

        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(Value::U32(a)) if a.is_power_of_two() => u64::from(*a),
            Some(v) => return Err(GgufError::BadAlignment(format!("{v:?}"))),
        };

        let mut tensors = Vec::new();
        let mut by_name = HashMap::new();
        for _ in 0..n_tensors {
            let info = read_tensor_info(&mut c)?;
            if by_name.insert(info.name.clone(), tensors.len()).is_some() {
                return Err(GgufError::DuplicateTensor(info.name));
            }
            tensors.push(info);
        }

        let header_end = c.pos();
        let data_offset = header_end.div_ceil(alignment).saturating_mul(alignment);
        check_extents(&tensors, alignment, data_offset, file_size)?;

        Ok(Gguf { version, metadata, tensors, by_name, alignment, data_offset, file_size })
    }

    /// Reads the header from `reader` (positioned at the file's start), pulling only as many
    /// bytes as the header needs.
    pub fn read<R: Read>(reader: &mut R, file_size: u64) -> Result<Gguf, GgufError> {
        let mut buf = Vec::new();
        let mut want: u64 = 1 << 20;
        loop {
            let target = want.min(file_size).max(buf.len() as u64);
            let mut chunk = reader.by_ref().take(target - buf.len() as u64);
            chunk.read_to_end(&mut buf).map_err(|e| GgufError::Io(e.to_string()))?;
            let ended_early = (buf.len() as u64) < target;
            match Gguf::parse(&buf, file_size) {
                Err(GgufError::NeedMore { needed }) if !ended_early && (buf.len() as u64) < file_size => {
                    // Grow geometrically so a large vocabulary costs few re-parses.
                    want = (buf.len() as u64).saturating_add(needed).max(want.saturating_mul(2));
                }
                Err(GgufError::NeedMore { .. }) => {
                    return Err(GgufError::Io(format!("the file ended after {} bytes, inside its header", buf.len())));
                }
                other => return other,
            }
        }
    }

    /// GGUF version (2 or 3).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// All metadata, sorted by key.
    pub fn metadata(&self) -> &BTreeMap<String, Value> {
        &self.metadata
    }

    /// Tensor infos in file order.
    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    /// The tensor named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.by_name.get(name).map(|&i| &self.tensors[i])
    }

    /// Alignment of tensor data in bytes.
    pub fn alignment(&self) -> u64 {
        self.alignment
    }

    /// Absolute file offset where the data section starts.
    pub fn data_offset(&self) -> u64 {
        self.data_offset
    }

    /// Size of the whole file in bytes, as given to [`Gguf::parse`].
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Absolute byte range of a tensor's data in the file (checked at parse time).
    pub fn tensor_range(&self, t: &TensorInfo) -> std::ops::Range<u64> {
        let start = self.data_offset + t.offset;
        start..start + t.n_bytes
    }

    /// `general.architecture`.
    pub fn architecture(&self) -> Result<&str, GgufError> {
        self.get_str("general.architecture")
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Result<&Value, GgufError> {
        self.metadata.get(key).ok_or_else(|| GgufError::MissingKey(key.to_owned()))
    }

    fn wrong(&self, key: &str, expected: &'static str, v: &Value) -> GgufError {
        GgufError::WrongType { key: key.to_owned(), expected, found: v.type_name() }
    }

    /// An integer value that fits in u32 (any integer type in the file).
    pub fn get_u32(&self, key: &str) -> Result<u32, GgufError> {
        let v = self.get(key)?;
        v.as_i128().and_then(|i| u32::try_from(i).ok()).ok_or_else(|| self.wrong(key, "an integer in 0..2^32", v))
    }

    /// An integer value that fits in u64.
    pub fn get_u64(&self, key: &str) -> Result<u64, GgufError> {
        let v = self.get(key)?;
        v.as_i128().and_then(|i| u64::try_from(i).ok()).ok_or_else(|| self.wrong(key, "a non-negative integer", v))
    }

    /// A float value (f32, f64, or an integer).
    pub fn get_f32(&self, key: &str) -> Result<f32, GgufError> {
        let v = self.get(key)?;
        v.as_f64().map(|f| f as f32).ok_or_else(|| self.wrong(key, "a number", v))
    }

    /// A bool value.
    pub fn get_bool(&self, key: &str) -> Result<bool, GgufError> {
        match self.get(key)? {
            Value::Bool(b) => Ok(*b),
            v => Err(self.wrong(key, "a bool", v)),
        }
    }

    /// A string value.
    pub fn get_str(&self, key: &str) -> Result<&str, GgufError> {
        match self.get(key)? {
            Value::String(s) => Ok(s),
            v => Err(self.wrong(key, "a string", v)),
        }
    }

    /// One u32 per layer: an integer array of `n_layer` entries (as hybrid models write a
    /// per-layer key, e.g. LFM2's KV head counts, 0 for a layer without attention), or one
    /// integer for every layer.
    pub fn get_u32_per_layer(&self, key: &str, n_layer: u32) -> Result<Vec<u32>, GgufError> {
        let v = self.get(key)?;
        if v.as_i128().is_some() {
            return Ok(vec![self.get_u32(key)?; n_layer as usize]);
        }
        let values = match v {
            Value::Array(a) if a.len() == n_layer as usize => a.as_i128s(),
            _ => None,
        };
        values
            .and_then(|xs| xs.into_iter().map(|x| u32::try_from(x).ok()).collect())
            .ok_or_else(|| self.wrong(key, "an integer in 0..2^32, or one per layer", v))
    }

    /// An array value of any element type.
    pub fn get_array(&self, key: &str) -> Result<&Array, GgufError> {
        match self.get(key)? {
            Value::Array(a) => Ok(a),
            v => Err(self.wrong(key, "an array", v)),
        }
    }

    /// An array of strings.
    pub fn get_str_array(&self, key: &str) -> Result<&StrArray, GgufError> {
        match self.get_array(key)? {
            Array::String(a) => Ok(a),
            _ => Err(self.wrong(key, "an array of strings", self.get(key)?)),
        }
    }

    /// Like the `get_*` getters, but `Ok(None)` when the key is absent (a wrong type is
    /// still an error).
    pub fn optional<'a, T>(
        &'a self,
        key: &str,
        getter: impl FnOnce(&'a Self, &str) -> Result<T, GgufError>,
    ) -> Result<Option<T>, GgufError> {
        if self.metadata.contains_key(key) { getter(self, key).map(Some) } else { Ok(None) }
    }
}

fn check_count(what: &'static str, count: u64, max: u64) -> Result<(), GgufError> {
    if count > max {
        return Err(GgufError::TooMany { what, count, max });
    }
    Ok(())
}

fn read_tensor_info(c: &mut Cursor<'_>) -> Result<TensorInfo, GgufError> {
    let name = c.string("a tensor name", MAX_NAME_LEN)?;
    let n_dims = c.u32("a tensor's dimension count")?;
    if n_dims > MAX_DIMS {
        return Err(GgufError::TooManyDims { tensor: name, n_dims });
    }
    let mut dims = Vec::with_capacity(n_dims as usize);
    for _ in 0..n_dims {
        dims.push(c.u64("a tensor dimension")?);
    }
    let type_id = c.u32("a tensor type")?;
    let offset = c.u64("a tensor offset")?;
    let ty =
        GgmlType::from_id(type_id).ok_or_else(|| GgufError::UnknownTensorType { tensor: name.clone(), type_id })?;

    let overflow = || GgufError::SizeOverflow { tensor: name.clone(), dims: dims.clone() };
    let n_elements = dims.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d)).ok_or_else(overflow)?;
    let ne0 = dims.first().copied().unwrap_or(1);
    let block = ty.block_size();
    if !ne0.is_multiple_of(u64::from(block)) {
        return Err(GgufError::PartialBlock { tensor: name, ne0, ty, block });
    }
    let n_bytes = ty.row_bytes(n_elements).ok_or_else(overflow)?;
    Ok(TensorInfo { name, dims, ty, offset, n_bytes })
}

/// Checks alignment, bounds and non-overlap of all tensors' data.
fn check_extents(tensors: &[TensorInfo], alignment: u64, data_offset: u64, file_size: u64) -> Result<(), GgufError> {
    for t in tensors {
        if !t.offset.is_multiple_of(alignment) {
            return Err(GgufError::Misaligned { tensor: t.name.clone(), offset: t.offset, alignment });
        }
        let end = data_offset.checked_add(t.offset).and_then(|s| s.checked_add(t.n_bytes));
        match end {
            Some(end) if end <= file_size => {}
            _ => {
                return Err(GgufError::OutOfFile { tensor: t.name.clone(), end: end.unwrap_or(u64::MAX), file_size });
            }
        }
    }
    let mut order: Vec<&TensorInfo> = tensors.iter().collect();
    order.sort_by_key(|t| t.offset);
    for pair in order.windows(2) {
        // Ends cannot overflow: each was checked against the file size above.
        if pair[0].offset + pair[0].n_bytes > pair[1].offset {
            return Err(GgufError::Overlap { first: pair[0].name.clone(), second: pair[1].name.clone() });
        }
    }
    Ok(())
}

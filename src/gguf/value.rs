//! Metadata values: GGUF's thirteen value types, arrays (nested too), and reading them.

use super::GgufError;
use super::cursor::Cursor;
use super::header::MAX_HEADER_BYTES;

/// Arrays of arrays deeper than this are rejected (real files use none; hostile ones could
/// otherwise recurse until the stack overflows).
pub const MAX_ARRAY_DEPTH: u32 = 4;

/// A GGUF metadata value type (`gguf_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    String,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    /// The type with GGUF id `id` (0..=12).
    pub fn from_id(id: u32) -> Option<Self> {
        use ValueType::*;
        Some(match id {
            0 => U8,
            1 => I8,
            2 => U16,
            3 => I16,
            4 => U32,
            5 => I32,
            6 => F32,
            7 => Bool,
            8 => String,
            9 => Array,
            10 => U64,
            11 => I64,
            12 => F64,
            _ => return None,
        })
    }

    /// The fewest bytes one value of this type takes in a file (a string's or array's
    /// length prefix, an array's type id too). Used to bound counts before allocating.
    fn min_bytes(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | String => 8,
            Array => 12,
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    String(String),
    Array(Array),
    U64(u64),
    I64(i64),
    F64(f64),
}

/// A metadata array. Elements are stored unboxed per type, so memory stays proportional to
/// the bytes the file spends on them.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Array {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    F32(Vec<f32>),
    Bool(Vec<bool>),
    String(StrArray),
    Array(Vec<Array>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F64(Vec<f64>),
}

/// An array of strings stored as one byte buffer and the end offset of each string.
///
/// Strings are kept as bytes: a vocabulary may hold byte sequences that are not UTF-8.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StrArray {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl StrArray {
    /// Number of strings.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no strings.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The bytes of string `i`.
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.bytes.get(start..end)
    }

    /// All strings in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).filter_map(|i| self.get(i))
    }

    /// Appends a string (used when building files in tests and tools).
    pub fn push(&mut self, s: &[u8]) {
        self.bytes.extend_from_slice(s);
        self.ends.push(self.bytes.len());
    }
}

impl<S: AsRef<[u8]>> FromIterator<S> for StrArray {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> Self {
        let mut a = StrArray::default();
        for s in iter {
            a.push(s.as_ref());
        }
        a
    }
}

impl Value {
    /// A short description of the value's type, for error messages.
    pub fn type_name(&self) -> String {
        match self {
            Value::U8(_) => "u8".into(),
            Value::I8(_) => "i8".into(),
            Value::U16(_) => "u16".into(),
            Value::I16(_) => "i16".into(),
            Value::U32(_) => "u32".into(),
            Value::I32(_) => "i32".into(),
            Value::F32(_) => "f32".into(),
            Value::Bool(_) => "bool".into(),
            Value::String(_) => "a string".into(),
            Value::Array(a) => format!("an array of {} {}", a.len(), a.element_name()),
            Value::U64(_) => "u64".into(),
            Value::I64(_) => "i64".into(),
            Value::F64(_) => "f64".into(),
        }
    }

    /// The value as an integer, when it is one (any width or signedness).
    pub fn as_i128(&self) -> Option<i128> {
        Some(match *self {
            Value::U8(v) => v.into(),
            Value::I8(v) => v.into(),
            Value::U16(v) => v.into(),
            Value::I16(v) => v.into(),
            Value::U32(v) => v.into(),
            Value::I32(v) => v.into(),
            Value::U64(v) => v.into(),
            Value::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// The value as a float, when it is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F32(v) => Some(v.into()),
            Value::F64(v) => Some(v),
            _ => self.as_i128().map(|v| v as f64),
        }
    }
}

impl Array {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Array::U8(v) => v.len(),
            Array::I8(v) => v.len(),
            Array::U16(v) => v.len(),
            Array::I16(v) => v.len(),
            Array::U32(v) => v.len(),
            Array::I32(v) => v.len(),
            Array::F32(v) => v.len(),
            Array::Bool(v) => v.len(),
            Array::String(v) => v.len(),
            Array::Array(v) => v.len(),
            Array::U64(v) => v.len(),
            Array::I64(v) => v.len(),
            Array::F64(v) => v.len(),
        }
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The elements as integers, when the array holds integers (any width or signedness).
    pub fn as_i128s(&self) -> Option<Vec<i128>> {
        fn all<T: Copy + Into<i128>>(v: &[T]) -> Vec<i128> {
            v.iter().map(|&x| x.into()).collect()
        }
        Some(match self {
            Array::U8(v) => all(v),
            Array::I8(v) => all(v),
            Array::U16(v) => all(v),
            Array::I16(v) => all(v),
            Array::U32(v) => all(v),
            Array::I32(v) => all(v),
            Array::U64(v) => all(v),
            Array::I64(v) => all(v),
            _ => return None,
        })
    }

    /// The element type's name, for display.
    pub fn element_name(&self) -> &'static str {
        match self {
            Array::U8(_) => "u8",
            Array::I8(_) => "i8",
            Array::U16(_) => "u16",
            Array::I16(_) => "i16",
            Array::U32(_) => "u32",
            Array::I32(_) => "i32",
            Array::F32(_) => "f32",
            Array::Bool(_) => "bool",
            Array::String(_) => "string",
            Array::Array(_) => "array",
            Array::U64(_) => "u64",
            Array::I64(_) => "i64",
            Array::F64(_) => "f64",
        }
    }
}

/// Reads `n` fixed-size elements, after checking that the file can hold them.
fn read_vec<'a, T, const N: usize>(c: &mut Cursor<'a>, n: u64, decode: fn([u8; N]) -> T) -> Result<Vec<T>, GgufError> {
    let bytes = c.take("an array", n.saturating_mul(N as u64))?;
    Ok(bytes
        .chunks_exact(N)
        .map(|b| {
            let mut a = [0u8; N];
            a.copy_from_slice(b);
            decode(a)
        })
        .collect())
}

/// Reads one value of type `ty` for metadata key `key`.
pub(crate) fn read_value(c: &mut Cursor<'_>, key: &str, ty: ValueType, depth: u32) -> Result<Value, GgufError> {
    let w = "a metadata value";
    Ok(match ty {
        ValueType::U8 => Value::U8(c.u8(w)?),
        ValueType::I8 => Value::I8(c.u8(w)? as i8),
        ValueType::U16 => Value::U16(c.u16(w)?),
        ValueType::I16 => Value::I16(c.u16(w)? as i16),
        ValueType::U32 => Value::U32(c.u32(w)?),
        ValueType::I32 => Value::I32(c.u32(w)? as i32),
        ValueType::F32 => Value::F32(f32::from_bits(c.u32(w)?)),
        ValueType::Bool => Value::Bool(c.u8(w)? != 0),
        ValueType::String => Value::String(c.string("a string value", MAX_HEADER_BYTES)?),
        ValueType::Array => Value::Array(read_array(c, key, depth + 1)?),
        ValueType::U64 => Value::U64(c.u64(w)?),
        ValueType::I64 => Value::I64(c.u64(w)? as i64),
        ValueType::F64 => Value::F64(f64::from_bits(c.u64(w)?)),
    })
}

/// Reads a value type id and maps unknown ids to a typed error naming the key.
pub(crate) fn read_value_type(c: &mut Cursor<'_>, key: &str) -> Result<ValueType, GgufError> {
    let type_id = c.u32("a value type")?;
    ValueType::from_id(type_id).ok_or_else(|| GgufError::UnknownValueType { key: key.to_owned(), type_id })
}

/// Reads `n` strings into one exactly-sized buffer: a first pass checks every length and
/// sums them, so nothing is reserved that the file does not actually hold.
fn read_str_array(c: &mut Cursor<'_>, n: u64) -> Result<StrArray, GgufError> {
    let what = "a string in an array";
    let mut scan = c.clone();
    let mut total: u64 = 0;
    for _ in 0..n {
        total += scan.bytes_with_len(what)?.len() as u64;
    }
    // Both sizes are bounded by bytes already in memory, so the casts are exact.
    let mut a = StrArray { bytes: Vec::with_capacity(total as usize), ends: Vec::with_capacity(n as usize) };
    for _ in 0..n {
        a.push(c.bytes_with_len(what)?);
    }
    Ok(a)
}

fn read_array(c: &mut Cursor<'_>, key: &str, depth: u32) -> Result<Array, GgufError> {
    if depth > MAX_ARRAY_DEPTH {
        return Err(GgufError::NestingTooDeep { key: key.to_owned(), max: MAX_ARRAY_DEPTH });
    }
    let ty = read_value_type(c, key)?;
    let n = c.u64("an array length")?;
    // Each element takes at least min_bytes in the file: reject lengths the file cannot hold
    // before reserving anything.
    c.check_claim("an array", n.saturating_mul(ty.min_bytes()))?;
    Ok(match ty {
        ValueType::U8 => Array::U8(read_vec(c, n, |[b]| b)?),
        ValueType::I8 => Array::I8(read_vec(c, n, |[b]| b as i8)?),
        ValueType::U16 => Array::U16(read_vec(c, n, u16::from_le_bytes)?),
        ValueType::I16 => Array::I16(read_vec(c, n, i16::from_le_bytes)?),
        ValueType::U32 => Array::U32(read_vec(c, n, u32::from_le_bytes)?),
        ValueType::I32 => Array::I32(read_vec(c, n, i32::from_le_bytes)?),
        ValueType::F32 => Array::F32(read_vec(c, n, f32::from_le_bytes)?),
        ValueType::Bool => Array::Bool(read_vec(c, n, |[b]| b != 0)?),
        ValueType::U64 => Array::U64(read_vec(c, n, u64::from_le_bytes)?),
        ValueType::I64 => Array::I64(read_vec(c, n, i64::from_le_bytes)?),
        ValueType::F64 => Array::F64(read_vec(c, n, f64::from_le_bytes)?),
        ValueType::String => Array::String(read_str_array(c, n)?),
        ValueType::Array => {
            let mut v = Vec::new();
            for _ in 0..n {
                v.push(read_array(c, key, depth + 1)?);
            }
            Array::Array(v)
        }
    })
}

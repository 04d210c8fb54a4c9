//! `GgufBuilder`: writes GGUF files in memory. Tests use it to make valid and hostile files;
//! tools use it to write small models.

use super::{Array, GgmlType, StrArray, Value};

/// Builds a GGUF v3 (or v2) file in memory, tensors aligned as llama.cpp writes them.
#[derive(Clone, Debug)]
pub struct GgufBuilder {
    version: u32,
    alignment: u64,
    kvs: Vec<(String, Value)>,
    tensors: Vec<Tensor>,
}

/// A tensor's info and its bytes, or only the number of bytes it claims.
#[derive(Clone, Debug)]
struct Tensor {
    name: String,
    dims: Vec<u64>,
    ty: GgmlType,
    data: Vec<u8>,
    n_bytes: u64,
}

impl Default for GgufBuilder {
    fn default() -> Self {
        GgufBuilder { version: 3, alignment: super::DEFAULT_ALIGNMENT, kvs: Vec::new(), tensors: Vec::new() }
    }
}

impl GgufBuilder {
    /// An empty v3 file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the version field written to the header.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Adds a metadata key-value pair. `general.alignment` also sets the data alignment when it
    /// is a power of two up to 1 MiB; other values are written as given while the data stays
    /// at the default alignment, as a hostile file would have it.
    pub fn kv(mut self, key: &str, value: Value) -> Self {
        if let (Some(a), "general.alignment") = (value.as_i128(), key) {
            self.alignment = u64::try_from(a)
                .ok()
                .filter(|a| a.is_power_of_two() && *a <= 1 << 20)
                .unwrap_or(super::DEFAULT_ALIGNMENT);
        }
        self.kvs.push((key.to_owned(), value));
        self
    }

    /// Adds a tensor with dimensions `dims` (innermost first) and raw data bytes.
    pub fn tensor(mut self, name: &str, dims: &[u64], ty: GgmlType, data: Vec<u8>) -> Self {
        let n_bytes = data.len() as u64;
        self.tensors.push(Tensor { name: name.to_owned(), dims: dims.to_vec(), ty, data, n_bytes });
        self
    }

    /// Declares a tensor whose data is never written, only counted in the offsets and the file
    /// size [`GgufBuilder::build_header`] reports: headers of models too big to build (memory
    /// plans, fuzzing, hostile shapes).
    pub fn declare(mut self, name: &str, dims: &[u64], ty: GgmlType) -> Self {
        let n = dims.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        let n_bytes = n.and_then(|n| ty.row_bytes(n)).unwrap_or(u64::MAX / 4);
        self.tensors.push(Tensor { name: name.to_owned(), dims: dims.to_vec(), ty, data: Vec::new(), n_bytes });
        self
    }

    /// The header alone (up to the aligned start of tensor data) and the size of the whole file
    /// it describes.
    pub fn build_header(&self) -> (Vec<u8>, u64) {
        let mut out = self.header();
        out.resize(self.align(out.len() as u64) as usize, 0);
        let data: u64 = self.tensors.iter().fold(0, |end, t| self.align(end.saturating_add(t.n_bytes)));
        let size = (out.len() as u64).saturating_add(data);
        (out, size)
    }

    /// The file's bytes (declared tensors contribute no bytes).
    pub fn build(&self) -> Vec<u8> {
        let mut out = self.header();
        out.resize(self.align(out.len() as u64) as usize, 0);
        for t in &self.tensors {
            out.extend_from_slice(&t.data);
            out.resize(self.align(out.len() as u64) as usize, 0);
        }
        out
    }

    fn align(&self, n: u64) -> u64 {
        n.div_ceil(self.alignment).saturating_mul(self.alignment)
    }

    fn header(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"GGUF");
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            put_str(&mut out, k.as_bytes());
            out.extend_from_slice(&value_type_id(v).to_le_bytes());
            put_value(&mut out, v);
        }
        let mut offset = 0u64;
        for t in &self.tensors {
            put_str(&mut out, t.name.as_bytes());
            out.extend_from_slice(&(t.dims.len() as u32).to_le_bytes());
            for d in &t.dims {
                out.extend_from_slice(&d.to_le_bytes());
            }
            out.extend_from_slice(&t.ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset = self.align(offset.saturating_add(t.n_bytes));
        }
        out
    }
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(&(s.len() as u64).to_le_bytes());
    out.extend_from_slice(s);
}

fn value_type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

fn array_type_id(a: &Array) -> u32 {
    match a {
        Array::U8(_) => 0,
        Array::I8(_) => 1,
        Array::U16(_) => 2,
        Array::I16(_) => 3,
        Array::U32(_) => 4,
        Array::I32(_) => 5,
        Array::F32(_) => 6,
        Array::Bool(_) => 7,
        Array::String(_) => 8,
        Array::Array(_) => 9,
        Array::U64(_) => 10,
        Array::I64(_) => 11,
        Array::F64(_) => 12,
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => out.push(*x),
        Value::I8(x) => out.push(*x as u8),
        Value::U16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I16(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::U32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F32(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::Bool(x) => out.push(u8::from(*x)),
        Value::String(s) => put_str(out, s.as_bytes()),
        Value::Array(a) => put_array(out, a),
        Value::U64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::I64(x) => out.extend_from_slice(&x.to_le_bytes()),
        Value::F64(x) => out.extend_from_slice(&x.to_le_bytes()),
    }
}

fn put_array(out: &mut Vec<u8>, a: &Array) {
    out.extend_from_slice(&array_type_id(a).to_le_bytes());
    out.extend_from_slice(&(a.len() as u64).to_le_bytes());
    fn each<T: Copy, const N: usize>(out: &mut Vec<u8>, v: &[T], f: fn(T) -> [u8; N]) {
        v.iter().for_each(|x| out.extend_from_slice(&f(*x)));
    }
    match a {
        Array::U8(v) => out.extend_from_slice(v),
        Array::I8(v) => each(out, v, i8::to_le_bytes),
        Array::U16(v) => each(out, v, u16::to_le_bytes),
        Array::I16(v) => each(out, v, i16::to_le_bytes),
        Array::U32(v) => each(out, v, u32::to_le_bytes),
        Array::I32(v) => each(out, v, i32::to_le_bytes),
        Array::F32(v) => each(out, v, f32::to_le_bytes),
        Array::Bool(v) => each(out, v, |b| [u8::from(b)]),
        Array::String(v) => put_strs(out, v),
        Array::Array(v) => v.iter().for_each(|a| put_array(out, a)),
        Array::U64(v) => each(out, v, u64::to_le_bytes),
        Array::I64(v) => each(out, v, i64::to_le_bytes),
        Array::F64(v) => each(out, v, f64::to_le_bytes),
    }
}

fn put_strs(out: &mut Vec<u8>, v: &StrArray) {
    v.iter().for_each(|s| put_str(out, s));
}

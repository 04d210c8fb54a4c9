//! The GGUF file format: header, metadata and tensor infos.
//!
//! [`Gguf::parse`] reads from a *prefix* of a file, because in the browser the header arrives
//! first and tensor data streams after it; an incomplete prefix gives
//! [`GgufError::NeedMore`]. Every count and length read from the file is checked against the
//! bytes that remain before anything is allocated, and every tensor's extent against the file
//! size, so a truncated or hostile file gives a typed error, never a panic or a huge allocation.

mod cursor;
mod dtype;
mod error;
mod header;
mod summary;
mod value;
mod writer;

pub use dtype::GgmlType;
pub use error::GgufError;
pub use header::{
    DEFAULT_ALIGNMENT, Gguf, MAX_DIMS, MAX_HEADER_BYTES, MAX_KEY_LEN, MAX_KEYS, MAX_NAME_LEN, MAX_TENSORS, TensorInfo,
};
pub use summary::{Summary, TensorRow, TypeTotal};
pub use value::{Array, MAX_ARRAY_DEPTH, StrArray, Value, ValueType};
pub use writer::GgufBuilder;

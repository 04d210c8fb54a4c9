//! Everything that can be wrong with a GGUF file, as one typed error with readable messages.

use super::GgmlType;

/// Why a GGUF file (or a prefix of one) could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GgufError {
    /// The bytes given end inside the header; the file itself may be fine.
    #[error("the GGUF header is not complete yet: need at least {needed} more bytes")]
    NeedMore {
        /// A lower bound on how many more bytes of the file are needed.
        needed: u64,
    },
    /// The file does not start with `GGUF`.
    #[error("{}", bad_magic(found))]
    BadMagic {
        /// The first four bytes.
        found: [u8; 4],
    },
    /// A big-endian GGUF, which hearth does not read.
    #[error("big-endian GGUF files are not supported")]
    BigEndian,
    /// A version other than 2 or 3.
    #[error("GGUF version {0} is not supported (hearth reads versions 2 and 3)")]
    UnsupportedVersion(u32),
    /// A length or count that the rest of the file cannot hold.
    #[error("{what} at byte {at} claims {claimed} bytes, but the file has only {left} left")]
    BeyondFile {
        /// What was being read (e.g. "a string", "tensor count").
        what: &'static str,
        /// Offset in the file where the claim was read.
        at: u64,
        /// How many bytes the claim needs.
        claimed: u64,
        /// How many bytes the file has after `at`.
        left: u64,
    },
    /// A string longer than its cap.
    #[error("{what} at byte {at} is {len} bytes long, more than the {max} hearth accepts")]
    TooLong {
        /// What the string is.
        what: &'static str,
        /// Offset in the file of its length.
        at: u64,
        /// Its claimed length.
        len: u64,
        /// The cap.
        max: u64,
    },
    /// A count above a sanity cap.
    #[error("{what} is {count}, more than the {max} hearth accepts")]
    TooMany {
        /// What was counted.
        what: &'static str,
        /// The count read from the file.
        count: u64,
        /// The cap.
        max: u64,
    },
    /// A metadata value type id outside GGUF's 0..=12.
    #[error("metadata key '{key}' has unknown value type {type_id}")]
    UnknownValueType {
        /// The key whose value could not be read.
        key: String,
        /// The type id found.
        type_id: u32,
    },
    /// Arrays of arrays nested deeper than hearth allows.
    #[error("metadata key '{key}' nests arrays deeper than {max} levels")]
    NestingTooDeep {
        /// The key.
        key: String,
        /// The depth cap.
        max: u32,
    },
    /// A string that is not UTF-8 where text is required (keys, names, string values).
    #[error("{what} at byte {at} is not valid UTF-8")]
    InvalidUtf8 {
        /// What the string is.
        what: &'static str,
        /// Its offset in the file.
        at: u64,
    },
    /// The same metadata key twice.
    #[error("metadata key '{0}' appears twice")]
    DuplicateKey(String),
    /// The same tensor name twice.
    #[error("tensor '{0}' appears twice")]
    DuplicateTensor(String),
    /// `general.alignment` that is zero, not a power of two, or not an integer.
    #[error("general.alignment must be a power-of-two u32, found {0}")]
    BadAlignment(String),
    /// A tensor type id ggml never defined.
    #[error("tensor '{tensor}' has unknown type id {type_id}")]
    UnknownTensorType {
        /// The tensor's name.
        tensor: String,
        /// The type id found.
        type_id: u32,
    },
    /// More than four dimensions.
    #[error("tensor '{tensor}' has {n_dims} dimensions (at most 4 are allowed)")]
    TooManyDims {
        /// The tensor's name.
        tensor: String,
        /// The dimension count found.
        n_dims: u32,
    },
    /// Dimensions whose element count or byte size does not fit in 64 bits.
    #[error("tensor '{tensor}' has dimensions {dims:?} whose size overflows")]
    SizeOverflow {
        /// The tensor's name.
        tensor: String,
        /// Its dimensions, innermost first.
        dims: Vec<u64>,
    },
    /// A row length that is not a whole number of quant blocks.
    #[error("tensor '{tensor}' has rows of {ne0} elements, not a multiple of {ty}'s block of {block}")]
    PartialBlock {
        /// The tensor's name.
        tensor: String,
        /// Its innermost dimension.
        ne0: u64,
        /// Its type.
        ty: GgmlType,
        /// The type's block size.
        block: u32,
    },
    /// A tensor offset that is not a multiple of the file's alignment.
    #[error("tensor '{tensor}' starts at data offset {offset}, not a multiple of the alignment {alignment}")]
    Misaligned {
        /// The tensor's name.
        tensor: String,
        /// Its offset within the data section.
        offset: u64,
        /// The file's alignment.
        alignment: u64,
    },
    /// Two tensors whose bytes overlap.
    #[error("tensors '{first}' and '{second}' overlap in the data section")]
    Overlap {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// A tensor whose bytes run past the end of the file.
    #[error("tensor '{tensor}' ends at byte {end}, past the end of the file ({file_size} bytes)")]
    OutOfFile {
        /// The tensor's name.
        tensor: String,
        /// Its absolute end offset (or u64::MAX when that overflows).
        end: u64,
        /// The file size.
        file_size: u64,
    },
    /// A metadata key that is needed but absent.
    #[error("metadata key '{0}' is missing")]
    MissingKey(String),
    /// A metadata value of another type than the one needed.
    #[error("metadata key '{key}' should be {expected}, but it is {found}")]
    WrongType {
        /// The key.
        key: String,
        /// The type that was needed.
        expected: &'static str,
        /// A description of what was found.
        found: String,
    },
    /// Reading the file failed.
    #[error("cannot read the file: {0}")]
    Io(String),
}

/// The message for a file that does not start with `GGUF`, telling a web page (the usual
/// mistake: a model page's URL instead of the file's) from other data.
fn bad_magic(found: &[u8; 4]) -> String {
    let text = String::from_utf8_lossy(found).to_lowercase();
    if text.starts_with('<') || text.starts_with("\n<") {
        return "this is a web page (HTML), not a GGUF file: link to the model file itself (on the Hugging Face hub a \
                /resolve/ URL, not /blob/)"
            .into();
    }
    format!("not a GGUF file (it starts with {found:02x?}, not \"GGUF\")")
}

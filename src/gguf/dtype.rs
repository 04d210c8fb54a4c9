//! `GgmlType`: the element and block types a GGUF tensor can have, with their block geometry.

use std::fmt;

/// A tensor element type as numbered by ggml (`enum ggml_type`).
///
/// Every type ggml has defined is listed so that a file using one parses and `hearth inspect`
/// can show it; which of them hearth can compute with is decided by the `quant` layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[allow(non_camel_case_types, missing_docs)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q8_1,
    Q2_K,
    Q3_K,
    Q4_K,
    Q5_K,
    Q6_K,
    Q8_K,
    IQ2_XXS,
    IQ2_XS,
    IQ3_XXS,
    IQ1_S,
    IQ4_NL,
    IQ3_S,
    IQ2_S,
    IQ4_XS,
    I8,
    I16,
    I32,
    I64,
    F64,
    IQ1_M,
    BF16,
    TQ1_0,
    TQ2_0,
    MXFP4,
}

/// (ggml id, type, elements per block, bytes per block), from ggml's type traits.
const TABLE: [(u32, GgmlType, u32, u32); 32] = {
    use GgmlType::*;
    [
        (0, F32, 1, 4),
        (1, F16, 1, 2),
        (2, Q4_0, 32, 18),
        (3, Q4_1, 32, 20),
        (6, Q5_0, 32, 22),
        (7, Q5_1, 32, 24),
        (8, Q8_0, 32, 34),
        (9, Q8_1, 32, 40),
        (10, Q2_K, 256, 84),
        (11, Q3_K, 256, 110),
        (12, Q4_K, 256, 144),
        (13, Q5_K, 256, 176),
        (14, Q6_K, 256, 210),
        (15, Q8_K, 256, 292),
        (16, IQ2_XXS, 256, 66),
        (17, IQ2_XS, 256, 74),
        (18, IQ3_XXS, 256, 98),
        (19, IQ1_S, 256, 50),
        (20, IQ4_NL, 32, 18),
        (21, IQ3_S, 256, 110),
        (22, IQ2_S, 256, 82),
        (23, IQ4_XS, 256, 136),
        (24, I8, 1, 1),
        (25, I16, 1, 2),
        (26, I32, 1, 4),
        (27, I64, 1, 8),
        (28, F64, 1, 8),
        (29, IQ1_M, 256, 56),
        (30, BF16, 1, 2),
        (34, TQ1_0, 256, 54),
        (35, TQ2_0, 256, 66),
        (39, MXFP4, 32, 17),
    ]
};

impl GgmlType {
    /// The type with ggml id `id`, or `None` for an id ggml never assigned (or has retired).
    pub fn from_id(id: u32) -> Option<Self> {
        TABLE.iter().find(|e| e.0 == id).map(|e| e.1)
    }

    fn entry(self) -> &'static (u32, GgmlType, u32, u32) {
        // Every variant has exactly one row; the unit test `table_covers_every_variant` checks it.
        TABLE.iter().find(|e| e.1 == self).unwrap_or(&TABLE[0])
    }

    /// ggml's numeric id of this type, as stored in a GGUF tensor info.
    pub fn id(self) -> u32 {
        self.entry().0
    }

    /// Number of elements in one block (1 for plain float and integer types).
    pub fn block_size(self) -> u32 {
        self.entry().2
    }

    /// Number of bytes one block occupies.
    pub fn type_size(self) -> u32 {
        self.entry().3
    }

    /// Bytes of a row of `n` elements, or `None` when `n` is not a whole number of blocks or
    /// the size overflows.
    pub fn row_bytes(self, n: u64) -> Option<u64> {
        let bs = u64::from(self.block_size());
        if !n.is_multiple_of(bs) {
            return None;
        }
        (n / bs).checked_mul(u64::from(self.type_size()))
    }

    /// Every type ggml defines, in id order.
    pub fn all() -> impl Iterator<Item = GgmlType> {
        TABLE.iter().map(|e| e.1)
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_covers_every_variant() {
        for (i, row) in TABLE.iter().enumerate() {
            assert_eq!(row.1.entry().0, row.0, "row {i}");
            assert_eq!(GgmlType::from_id(row.0), Some(row.1));
        }
        assert_eq!(GgmlType::all().count(), TABLE.len());
        assert_eq!(GgmlType::from_id(4), None, "Q4_2 was removed from ggml");
    }

    #[test]
    fn row_bytes_needs_whole_blocks() {
        assert_eq!(GgmlType::Q4_K.row_bytes(512), Some(288));
        assert_eq!(GgmlType::Q4_0.row_bytes(33), None);
        assert_eq!(GgmlType::F32.row_bytes(u64::MAX), None);
    }
}

//! Weight matrices on the GPU, paged by whole rows so that no buffer exceeds the binding limit
//! (`maxStorageBufferBindingSize`: 128 MiB on lavapipe and many phones).

use crate::gguf::GgmlType;
use crate::quant::{QuantError, to_gpu_layout};

use super::GpuContext;

/// Why a weight could not be put on the GPU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeightError {
    /// The type has no GPU kernels, or the bytes do not match the shape.
    #[error("weight '{name}': {source}")]
    Quant {
        /// The tensor.
        name: String,
        /// What is wrong.
        source: QuantError,
    },
    /// A shape the kernels cannot take.
    #[error("weight '{name}' has shape {rows}x{cols}: {why}")]
    Shape {
        /// The tensor.
        name: String,
        /// Rows.
        rows: u64,
        /// Elements per row.
        cols: u64,
        /// Why not.
        why: &'static str,
    },
}

/// One buffer holding a run of whole rows of a weight, in the GPU layout.
#[derive(Debug)]
pub struct WeightPage {
    /// The data.
    pub buffer: wgpu::Buffer,
    /// First row of the weight held here.
    pub first_row: u32,
    /// Number of rows held here.
    pub n_rows: u32,
    /// Word offset of the f16-scale region (see `quant::to_gpu_layout`).
    pub scales: u32,
}

/// A weight matrix (rows, cols) on the GPU in one or more pages.
#[derive(Debug)]
pub struct GpuWeight {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub ty: GgmlType,
    /// Rows (output features).
    pub rows: u32,
    /// Elements per row (input features).
    pub cols: u32,
    /// Pages in row order.
    pub pages: Vec<WeightPage>,
}

impl GpuWeight {
    /// Uploads `bytes` (rows × cols elements of `ty`, as in the GGUF file), split into pages of
    /// at most `ctx.weight_page_bytes` bytes.
    pub fn upload(
        ctx: &GpuContext,
        name: &str,
        ty: GgmlType,
        rows: u64,
        cols: u64,
        bytes: &[u8],
    ) -> Result<Self, WeightError> {
        let shape_err = |why| WeightError::Shape { name: name.to_owned(), rows, cols, why };
        let quant_err = |source| WeightError::Quant { name: name.to_owned(), source };
        if !cols.is_multiple_of(8) || cols == 0 {
            return Err(shape_err("rows must be a non-zero multiple of 8 elements"));
        }
        let row_bytes = ty.row_bytes(cols).ok_or_else(|| shape_err("rows are not whole blocks"))?;
        if Some(bytes.len() as u64) != row_bytes.checked_mul(rows) {
            return Err(shape_err("the data size does not match the shape"));
        }
        let (Ok(rows32), Ok(cols32)) = (u32::try_from(rows), u32::try_from(cols)) else {
            return Err(shape_err("more than 2^32 rows or columns"));
        };
        // The split layout may add up to 3 bytes of padding per page.
        let rows_per_page = (ctx.weight_page_bytes.saturating_sub(4) / row_bytes).min(rows);
        if rows_per_page == 0 && rows > 0 {
            return Err(shape_err("one row is larger than the GPU's storage binding limit"));
        }
        let mut pages = Vec::new();
        let mut first = 0u64;
        while first < rows {
            let n = rows_per_page.min(rows - first);
            let chunk = &bytes[(first * row_bytes) as usize..((first + n) * row_bytes) as usize];
            let (data, scales) = to_gpu_layout(ty, chunk).map_err(quant_err)?;
            let label = format!("{name}[{first}..{}]", first + n);
            pages.push(WeightPage {
                buffer: ctx.upload(&data, &label),
                first_row: first as u32,
                n_rows: n as u32,
                scales,
            });
            first += n;
        }
        Ok(GpuWeight { name: name.to_owned(), ty, rows: rows32, cols: cols32, pages })
    }
}

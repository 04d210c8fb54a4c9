//! Weight matrices on the GPU, paged by whole rows so that no buffer exceeds the binding limit
//! (`maxStorageBufferBindingSize`: 128 MiB on lavapipe and many phones).

use crate::gguf::GgmlType;
use crate::quant::{QuantError, gpu_layout, gpu_layout_bytes, split_in_place};

use super::{GpuContext, GpuError};

/// Why a weight could not be put on the GPU.
#[derive(Debug, Clone, thiserror::Error)]
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
    /// One row does not fit in one binding.
    #[error("weight '{name}' has rows of {row_bytes} bytes, more than this GPU binds at once ({max} bytes)")]
    RowTooLarge {
        /// The tensor.
        name: String,
        /// Bytes of one row.
        row_bytes: u64,
        /// The binding limit.
        max: u64,
    },
    /// Rows written out of order or across a page: a bug in the caller.
    #[error("weight '{name}': rows {first}..{end} cannot be written at once ({why})")]
    Rows {
        /// The tensor.
        name: String,
        /// First row written.
        first: u64,
        /// One past the last row.
        end: u64,
        /// Why not.
        why: &'static str,
    },
    /// A page does not fit the device.
    #[error(transparent)]
    Gpu(#[from] GpuError),
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
    /// Word offset of the side region: what each block's values share (see `quant::to_gpu_layout`).
    pub scales: u32,
}

/// One tensor of a [`GpuWeight`]: its rows `first_row..first_row + rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightPart {
    /// Tensor name.
    pub name: String,
    /// Its first row in the weight.
    pub first_row: u32,
    /// Its rows.
    pub rows: u32,
}

/// A weight matrix (rows, cols) on the GPU in one or more pages: one tensor, or several of the
/// same type and width stacked by rows (q, k and v; gate and up), which the matrix kernels
/// multiply by one input in one dispatch, writing each tensor's rows to its own output.
#[derive(Debug)]
pub struct GpuWeight {
    /// Tensor name (names joined by '+' when stacked).
    pub name: String,
    /// Element type.
    pub ty: GgmlType,
    /// Rows (output features).
    pub rows: u32,
    /// Elements per row (input features).
    pub cols: u32,
    /// Pages in row order.
    pub pages: Vec<WeightPage>,
    /// The tensors stacked here, in row order (one when not stacked).
    pub parts: Vec<WeightPart>,
    /// `(rows,)` f32 bias added to every product (the stacked tensors' biases in row order),
    /// when the projection has one.
    pub bias: Option<wgpu::Buffer>,
}

/// Where one page of a weight lies and what it takes, before it is allocated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLayout {
    /// First row of the weight in the page.
    pub first_row: u32,
    /// Rows in the page.
    pub n_rows: u32,
    /// Bytes of the page's buffer (data, then the side region).
    pub bytes: u64,
    /// Word offset of the side region (0 when there is none).
    pub scales: u32,
}

/// The pages of a `rows` × `cols` weight `name` of type `ty` in buffers of at most
/// `page_bytes`: what [`GpuWeight::allocate_parts`] allocates and the memory plan counts.
pub fn page_layout(
    name: &str,
    ty: GgmlType,
    rows: u64,
    cols: u64,
    page_bytes: u64,
) -> Result<Vec<PageLayout>, WeightError> {
    let shape_err = |why| WeightError::Shape { name: name.to_owned(), rows, cols, why };
    if !cols.is_multiple_of(8) || cols == 0 {
        return Err(shape_err("rows must be a non-zero multiple of 8 elements"));
    }
    let row_bytes = ty.row_bytes(cols).ok_or_else(|| shape_err("rows are not whole blocks"))?;
    if u32::try_from(rows).is_err() || u32::try_from(cols).is_err() {
        return Err(shape_err("more than 2^32 rows or columns"));
    }
    let blocks_per_row = cols / u64::from(ty.block_size());
    let layout = gpu_layout(ty).map_err(|source| WeightError::Quant { name: name.to_owned(), source })?;
    // A row on the GPU may take more than in the file (scales widened to whole words); the
    // split layout adds the type's table and up to 3 bytes of padding per page. An even number
    // of rows per page keeps stacked tensors on even blocks of their page.
    let gpu_row_bytes = blocks_per_row * u64::from(layout.block_bytes(ty));
    let per_page = page_bytes.saturating_sub(4 + layout.table_bytes());
    let mut rows_per_page = (per_page / gpu_row_bytes.max(1)).min(rows);
    if rows_per_page == 0 && rows > 0 {
        return Err(WeightError::RowTooLarge { name: name.to_owned(), row_bytes, max: page_bytes });
    }
    if rows_per_page > 1 && rows_per_page < rows {
        rows_per_page &= !1;
    }
    let mut pages = Vec::new();
    let mut first = 0u64;
    while first < rows {
        let n = rows_per_page.min(rows - first);
        let (bytes, scales) = gpu_layout_bytes(ty, n * blocks_per_row)
            .map_err(|source| WeightError::Quant { name: name.to_owned(), source })?;
        // Both fit u32: rows does.
        pages.push(PageLayout { first_row: first as u32, n_rows: n as u32, bytes: super::buffer_bytes(bytes), scales });
        first += n;
    }
    Ok(pages)
}

impl GpuWeight {
    /// Allocates the pages of a `rows` × `cols` weight of type `ty`, each at most
    /// `ctx.weight_page_bytes`, for [`GpuWeight::write_rows`] to fill. Allocating before the
    /// data arrives tells whether the model fits before it is downloaded.
    pub fn allocate(ctx: &GpuContext, name: &str, ty: GgmlType, rows: u64, cols: u64) -> Result<Self, WeightError> {
        Self::allocate_stacked(ctx, &[(name, rows)], ty, cols)
    }

    /// Allocates tensors of the same type and width stacked by rows, given as (name, rows) in
    /// order. Each must have an even number of rows (so that every tensor after the first
    /// starts on an even block of its page, as [`GpuWeight::write_rows`] needs).
    pub fn allocate_stacked(
        ctx: &GpuContext,
        tensors: &[(&str, u64)],
        ty: GgmlType,
        cols: u64,
    ) -> Result<Self, WeightError> {
        if tensors.len() > 1 && tensors.iter().any(|(_, r)| r % 2 == 1) {
            let name = tensors.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("+");
            let rows = tensors.iter().map(|(_, r)| r).sum();
            return Err(WeightError::Shape {
                name,
                rows,
                cols,
                why: "only tensors of an even number of rows are stacked",
            });
        }
        Self::allocate_parts(ctx, tensors, ty, cols)
    }

    /// Allocates a weight whose rows are `parts` (name, rows) in order, each written to its
    /// own output by the matrix kernels, of any number of rows: one fused tensor of the file
    /// (Q, K and V in `attn_qkv`; gate and up in Phi-3's `ffn_up`), written whole.
    pub fn allocate_parts(
        ctx: &GpuContext,
        tensors: &[(&str, u64)],
        ty: GgmlType,
        cols: u64,
    ) -> Result<Self, WeightError> {
        let name = tensors.iter().map(|(n, _)| *n).collect::<Vec<_>>().join("+");
        let name = name.as_str();
        let rows: u64 = tensors.iter().map(|(_, r)| r).sum();
        let shape_err = |why| WeightError::Shape { name: name.to_owned(), rows, cols, why };
        let (Ok(rows32), Ok(cols32)) = (u32::try_from(rows), u32::try_from(cols)) else {
            return Err(shape_err("more than 2^32 rows or columns"));
        };
        let mut pages = Vec::new();
        let table = gpu_layout(ty).map_err(|source| WeightError::Quant { name: name.to_owned(), source })?.table;
        for p in page_layout(name, ty, rows, cols, ctx.weight_page_bytes)? {
            let label = format!("{name}[{}..{}]", p.first_row, p.first_row + p.n_rows);
            ctx.check_storage(&label, p.bytes)?;
            let buffer = ctx.storage_buffer(p.bytes, &label);
            if !table.is_empty() {
                ctx.write(&buffer, u64::from(p.scales) * 4, bytemuck::cast_slice(table));
            }
            pages.push(WeightPage { buffer, first_row: p.first_row, n_rows: p.n_rows, scales: p.scales });
        }
        let mut parts = Vec::with_capacity(tensors.len());
        let mut first_row = 0;
        for (name, rows) in tensors {
            // Each is at most the total, which fits u32 (checked above).
            let rows = *rows as u32;
            parts.push(WeightPart { name: (*name).to_owned(), first_row, rows });
            first_row += rows;
        }
        Ok(GpuWeight { name: name.to_owned(), ty, rows: rows32, cols: cols32, pages, parts, bias: None })
    }

    /// The part holding tensor `name`.
    pub fn part(&self, name: &str) -> Option<&WeightPart> {
        self.parts.iter().find(|p| p.name == name)
    }

    /// Bytes of one row in the file.
    pub fn row_bytes(&self) -> u64 {
        self.ty.row_bytes(u64::from(self.cols)).unwrap_or(0)
    }

    /// One past the last row of the page that holds `row`.
    pub fn page_end(&self, row: u32) -> u32 {
        self.pages.iter().map(|p| p.first_row + p.n_rows).find(|&end| end > row).unwrap_or(self.rows)
    }

    /// Writes whole rows `first..` given as the file's bytes in `blocks`, which is rearranged
    /// in place into the GPU layout (`scales` is scratch space). The rows must lie in one page
    /// and, for types whose scales are split off, start at an even block of it (so that the
    /// scales land on whole words): chunks of an even number of rows from a page's start do.
    pub fn write_rows(
        &self,
        ctx: &GpuContext,
        first: u32,
        blocks: &mut [u8],
        scales: &mut Vec<u8>,
    ) -> Result<(), WeightError> {
        let row_bytes = self.row_bytes();
        let n = blocks.len() as u64 / row_bytes.max(1);
        let end = u64::from(first) + n;
        let rows_err = |why| WeightError::Rows { name: self.name.clone(), first: first.into(), end, why };
        if n * row_bytes != blocks.len() as u64 {
            return Err(rows_err("not whole rows"));
        }
        let page = self
            .pages
            .iter()
            .find(|p| p.first_row <= first && u64::from(p.first_row + p.n_rows) >= end)
            .ok_or_else(|| rows_err("they are not inside one page"))?;
        let blocks_per_row = u64::from(self.cols / self.ty.block_size());
        let first_block = u64::from(first - page.first_row) * blocks_per_row;
        let data_len = split_in_place(self.ty, blocks, scales)
            .map_err(|source| WeightError::Quant { name: self.name.clone(), source })?;
        let data_bytes = data_len as u64 / (n * blocks_per_row).max(1);
        ctx.write(&page.buffer, first_block * data_bytes, &blocks[..data_len]);
        if !scales.is_empty() {
            let side_bytes = scales.len() as u64 / (n * blocks_per_row).max(1);
            if !(first_block * side_bytes).is_multiple_of(4) {
                return Err(rows_err("the side region must start on a whole word (an even block for f16 scales)"));
            }
            let table = 4 * gpu_layout(self.ty).map_or(0, |l| l.table.len() as u64);
            ctx.write(&page.buffer, u64::from(page.scales) * 4 + table + first_block * side_bytes, scales);
        }
        Ok(())
    }

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
        let w = Self::allocate(ctx, name, ty, rows, cols)?;
        if Some(bytes.len() as u64) != w.row_bytes().checked_mul(rows) {
            return Err(WeightError::Shape {
                name: name.to_owned(),
                rows,
                cols,
                why: "the data size does not match the shape",
            });
        }
        let mut scales = Vec::new();
        for p in &w.pages {
            let range = u64::from(p.first_row) * w.row_bytes()..u64::from(p.first_row + p.n_rows) * w.row_bytes();
            let mut chunk = bytes[range.start as usize..range.end as usize].to_vec();
            w.write_rows(ctx, p.first_row, &mut chunk, &mut scales)?;
        }
        Ok(w)
    }
}

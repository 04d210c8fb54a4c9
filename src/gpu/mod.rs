//! The GPU runtime: device and limits, buffers, pipelines, and recording a step's dispatches
//! into one command encoder. Kernels (`crate::kernels`) describe dispatches on top of it.

mod buffer;
mod context;
mod pipeline;
mod preprocess;
mod recorder;
mod uniforms;
mod weights;

pub use buffer::{ErrorCapture, Readback, buffer_bytes};
pub use context::{AdapterReport, GpuContext, GpuError, LimitCaps};
pub use pipeline::{Pipeline, PipelineCache, PipelineKey, ShaderDef};
pub use preprocess::{PreprocessError, preprocess};
pub use recorder::{Dispatch, Recorder};
pub use uniforms::{Uniform, UniformArena, UniformField, UniformScalar, UniformScalarType, UniformSlot, UniformsFull};
pub use weights::{GpuWeight, PageLayout, WeightError, WeightPage, WeightPart, page_layout};

//! Model architectures as data: configuration from GGUF metadata, weights mapped by name, and
//! one transformer forward pass that the flags of the configuration specialize.

mod config;
pub mod family;
mod plan;
mod state;
mod transformer;
mod weights;

pub use config::{
    AttnDims, ConfigError, DeltaNetDims, LayerKind, ModelConfig, QkvBias, RopeFactors, TensorLayout, caps,
};
pub use plan::{DeviceBudget, DoesNotFit, MemoryPlan, PlanError, PlanTarget, PlannedBuffer, effective_context};
pub use state::{
    DELTA_SNAPSHOTS, DeltaNetActs, PENALTY_WINDOW, PerLayerActs, READBACKS, SnapshotMarks, State, StateBuffer,
    StateSizes,
};
pub use transformer::{Head, Tokens, forward, layer_dispatches, sampler, submit};
pub use weights::{
    IGNORED_TENSORS, LayerWeights, LoadError, ModelWeights, NormWeights, PerLayerEmbeddings, PerLayerWeights,
    RopeFactorTables, UPLOAD_CHUNK, UnexpectedTensor, load_weights, matrix_types, tensor_shapes, unexpected_tensor,
};

//! Model architectures as data: configuration from GGUF metadata, weights mapped by name, and
//! one transformer forward pass that the flags of the configuration specialize.

mod config;
mod plan;
mod transformer;
mod weights;

pub use config::{ConfigError, ModelConfig, SUPPORTED, caps};
pub use plan::{DeviceBudget, DoesNotFit, MemoryPlan, PlanError, PlannedBuffer, effective_context};
pub use transformer::{Head, PENALTY_WINDOW, State, Tokens, forward, layer_dispatches, sampler, submit};
pub use weights::{LayerWeights, LoadError, ModelWeights, UPLOAD_CHUNK, load_weights, matrix_types, tensor_shapes};

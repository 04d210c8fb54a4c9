//! One error type for everything a front end asks of hearth, each with a short code that the
//! CLI, the JS API (`error.code`) and tests can match on.

use crate::chat::ChatError;
use crate::engine::EngineError;
use crate::gpu::{GpuError, WeightError};
use crate::kernels::KernelError;
use crate::model::{ConfigError, LoadError, PlanError};
use crate::quant::QuantError;
use crate::source::SourceError;
use crate::tokenizer::TokenizerError;

/// Why a load or a request failed. Messages are sentences a person can act on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Getting the model's bytes (network, file, header).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The GPU, the model or generation.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The model's tokenizer.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The model's chat template.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// A request that cannot be served as asked.
    #[error("invalid request: {0}")]
    Request(String),
}

impl From<GpuError> for Error {
    fn from(e: GpuError) -> Self {
        Error::Engine(EngineError::Gpu(e))
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Engine(EngineError::Config(e))
    }
}

impl Error {
    /// The class of the error: `no-webgpu`, `adapter-limits`, `out-of-memory`, `device-lost`,
    /// `network`, `bad-model`, `unsupported-model`, `aborted`, `bad-request` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Source(e) => source_code(e),
            Error::Engine(e) => engine_code(e),
            Error::Tokenizer(
                TokenizerError::UnsupportedModel(_)
                | TokenizerError::UnsupportedPre(_)
                | TokenizerError::RefusedPre { .. },
            ) => "unsupported-model",
            Error::Tokenizer(TokenizerError::Library(_)) => "bad-request",
            Error::Tokenizer(_) => "bad-model",
            // A template that fails on the request's messages (e.g. it raises on a role order).
            Error::Chat(_) => "bad-request",
            Error::Request(_) => "bad-request",
        }
    }
}

fn source_code(e: &SourceError) -> &'static str {
    match e {
        SourceError::Network(_) | SourceError::Io(_) | SourceError::Cut { .. } => "network",
        SourceError::Aborted => "aborted",
        SourceError::Quota(_) => "quota",
        SourceError::Truncated { .. } | SourceError::Header(_) | SourceError::HeaderTooLarge => "bad-model",
    }
}

fn weight_code(e: &WeightError) -> &'static str {
    match e {
        WeightError::Quant { source: QuantError::Unsupported(_), .. } => "unsupported-model",
        WeightError::Gpu(g) => g.code(),
        WeightError::RowTooLarge { .. } => "adapter-limits",
        WeightError::Quant { .. } | WeightError::Shape { .. } => "bad-model",
        WeightError::Rows { .. } => "internal",
    }
}

fn engine_code(e: &EngineError) -> &'static str {
    match e {
        EngineError::Gguf(_) => "bad-model",
        EngineError::Config(ConfigError::Unsupported(_) | ConfigError::UnsupportedFeature { .. }) => {
            "unsupported-model"
        }
        EngineError::Config(_) => "bad-model",
        EngineError::Load(l) => match l {
            LoadError::Weight(w) => weight_code(w),
            LoadError::Quant { source: QuantError::Unsupported(_), .. } => "unsupported-model",
            LoadError::Source { source, .. } => source_code(source),
            // A tensor the architecture does not read: a variant hearth does not run.
            LoadError::Unexpected(_) => "unsupported-model",
            LoadError::Missing(_) | LoadError::Shape { .. } | LoadError::Quant { .. } | LoadError::Read { .. } => {
                "bad-model"
            }
        },
        EngineError::Kernel(KernelError::Weight(w)) => weight_code(w),
        // Shapes the kernels cannot take (a head size, say) are this model's, not a bug.
        EngineError::Kernel(KernelError::Shape { .. }) => "unsupported-model",
        EngineError::Kernel(KernelError::Shader(_)) => "internal",
        // A load whose own steps need more parameter space than the arena holds: a model
        // larger than hearth is built for.
        EngineError::Kernel(KernelError::UniformsFull(_)) => "unsupported-model",
        EngineError::Gpu(g) => g.code(),
        EngineError::Plan(PlanError::Unsupported { .. } | PlanError::Unexpected(_)) => "unsupported-model",
        EngineError::Plan(_) => "bad-model",
        EngineError::DoesNotFit(_) => "adapter-limits",
        EngineError::ContextFull { .. } | EngineError::EmptyPrompt | EngineError::BadToken { .. } => "bad-request",
        EngineError::Cancelled => "aborted",
    }
}

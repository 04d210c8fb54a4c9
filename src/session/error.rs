//! One error type for everything a front end asks of hearth, each with a short code that the
//! CLI, the JS API (`error.code`) and tests can match on.

use crate::chat::ChatError;
use crate::engine::EngineError;
use crate::error_code::ErrorCode;
use crate::gpu::{GpuError, WeightError};
use crate::grammar::GrammarError;
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
    /// A prompt that leaves no room in the context for a reply.
    #[error(
        "the prompt has {prompt_tokens} tokens but the context holds {context_length}: drop earlier turns or shorten the messages, or load the model with a longer context"
    )]
    ContextLength {
        /// Tokens of the prompt (the whole conversation as the template renders it).
        prompt_tokens: usize,
        /// Tokens the loaded context holds.
        context_length: usize,
    },
    /// A `response_format` that cannot be enforced, or constrained decoding that failed.
    #[error(transparent)]
    Grammar(#[from] GrammarError),
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
    /// `network`, `bad-model`, `unsupported-model`, `aborted`, `bad-request`,
    /// `context-length-exceeded`, `unsupported-schema` or `internal`.
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Source(e) => source_code(e),
            Error::Engine(e) => engine_code(e),
            Error::Tokenizer(
                TokenizerError::UnsupportedModel(_)
                | TokenizerError::UnsupportedPre(_)
                | TokenizerError::RefusedPre { .. },
            ) => ErrorCode::UnsupportedModel,
            Error::Tokenizer(TokenizerError::Library(_)) => ErrorCode::BadRequest,
            Error::Tokenizer(_) => ErrorCode::BadModel,
            // A template that fails on the request's messages (e.g. it raises on a role order).
            Error::Chat(_) => ErrorCode::BadRequest,
            Error::Request(_) => ErrorCode::BadRequest,
            Error::ContextLength { .. } => ErrorCode::ContextLengthExceeded,
            Error::Grammar(GrammarError::Unsupported { .. }) => ErrorCode::UnsupportedSchema,
            Error::Grammar(GrammarError::Vocabulary(_)) => ErrorCode::UnsupportedModel,
            Error::Grammar(GrammarError::Failed(_)) => ErrorCode::Internal,
        }
    }
}

fn source_code(e: &SourceError) -> ErrorCode {
    match e {
        SourceError::Network(_) | SourceError::Io(_) | SourceError::Cut { .. } => ErrorCode::Network,
        SourceError::Aborted => ErrorCode::Aborted,
        SourceError::Quota(_) => ErrorCode::Quota,
        SourceError::Truncated { .. } | SourceError::Header(_) | SourceError::HeaderTooLarge => ErrorCode::BadModel,
    }
}

fn weight_code(e: &WeightError) -> ErrorCode {
    match e {
        WeightError::Quant { source: QuantError::Unsupported(_), .. } => ErrorCode::UnsupportedModel,
        WeightError::Gpu(g) => g.code(),
        WeightError::RowTooLarge { .. } => ErrorCode::AdapterLimits,
        WeightError::Quant { .. } | WeightError::Shape { .. } => ErrorCode::BadModel,
        WeightError::Rows { .. } => ErrorCode::Internal,
    }
}

fn engine_code(e: &EngineError) -> ErrorCode {
    match e {
        EngineError::Gguf(_) => ErrorCode::BadModel,
        EngineError::Config(ConfigError::Unsupported(_) | ConfigError::UnsupportedFeature { .. }) => {
            ErrorCode::UnsupportedModel
        }
        EngineError::Config(_) => ErrorCode::BadModel,
        EngineError::Load(l) => match l {
            LoadError::Weight(w) => weight_code(w),
            LoadError::Quant { source: QuantError::Unsupported(_), .. } => ErrorCode::UnsupportedModel,
            LoadError::Source { source, .. } => source_code(source),
            // A tensor the architecture does not read: a variant hearth does not run.
            LoadError::Unexpected(_) => ErrorCode::UnsupportedModel,
            LoadError::Missing(_) | LoadError::Shape { .. } | LoadError::Quant { .. } | LoadError::Read { .. } => {
                ErrorCode::BadModel
            }
        },
        EngineError::Kernel(KernelError::Weight(w)) => weight_code(w),
        // Shapes the kernels cannot take (a head size, say) are this model's, not a bug.
        EngineError::Kernel(KernelError::Shape { .. }) => ErrorCode::UnsupportedModel,
        EngineError::Kernel(KernelError::Shader(_)) => ErrorCode::Internal,
        // A load whose own steps need more parameter space than the arena holds: a model
        // larger than hearth is built for.
        EngineError::Kernel(KernelError::UniformsFull(_)) => ErrorCode::UnsupportedModel,
        EngineError::Gpu(g) => g.code(),
        EngineError::Plan(PlanError::Unsupported { .. } | PlanError::Unexpected(_)) => ErrorCode::UnsupportedModel,
        EngineError::Plan(_) => ErrorCode::BadModel,
        EngineError::DoesNotFit(_) => ErrorCode::AdapterLimits,
        EngineError::ContextFull { .. } | EngineError::EmptyPrompt | EngineError::BadToken { .. } => {
            ErrorCode::BadRequest
        }
        EngineError::Cancelled => ErrorCode::Aborted,
    }
}

//! `ErrorCode`: the one list of the short, stable classes every error reaches a front end
//! with (the CLI prints it in brackets; the JS API puts it in `HearthError.code`, and the chat
//! page picks its advice by it). The page's JS throws some of them itself (a bad argument
//! before any wasm runs); `tests/error_codes.rs` checks that the JS uses no other code and
//! advises on each.

use std::fmt;

/// The class of an error, as front ends see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// The browser or machine has no usable WebGPU adapter.
    NoWebgpu,
    /// The model or a buffer is over this GPU's limits or a memory budget.
    AdapterLimits,
    /// The GPU ran out of memory.
    OutOfMemory,
    /// The GPU device was lost (a reset, a crash, an invalid command).
    DeviceLost,
    /// Browser storage is full.
    Quota,
    /// The model could not be fetched (a wrong URL, a cut connection).
    Network,
    /// The file is not a usable GGUF model.
    BadModel,
    /// A valid model of an architecture, tokenizer or type hearth does not run.
    UnsupportedModel,
    /// The user or the caller stopped the work.
    Aborted,
    /// A request or argument out of range.
    BadRequest,
    /// The prompt (the conversation) does not fit in the loaded context: the error says both
    /// sizes, so an app can drop old turns and retry.
    ContextLengthExceeded,
    /// A `response_format` (JSON schema or grammar) that cannot be enforced: refused before
    /// generation, naming the feature.
    UnsupportedSchema,
    /// A bug in hearth.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of the documentation.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::NoWebgpu,
        ErrorCode::AdapterLimits,
        ErrorCode::OutOfMemory,
        ErrorCode::DeviceLost,
        ErrorCode::Quota,
        ErrorCode::Network,
        ErrorCode::BadModel,
        ErrorCode::UnsupportedModel,
        ErrorCode::Aborted,
        ErrorCode::BadRequest,
        ErrorCode::ContextLengthExceeded,
        ErrorCode::UnsupportedSchema,
        ErrorCode::Internal,
    ];

    /// The code as front ends spell it (`adapter-limits`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoWebgpu => "no-webgpu",
            ErrorCode::AdapterLimits => "adapter-limits",
            ErrorCode::OutOfMemory => "out-of-memory",
            ErrorCode::DeviceLost => "device-lost",
            ErrorCode::Quota => "quota",
            ErrorCode::Network => "network",
            ErrorCode::BadModel => "bad-model",
            ErrorCode::UnsupportedModel => "unsupported-model",
            ErrorCode::Aborted => "aborted",
            ErrorCode::BadRequest => "bad-request",
            ErrorCode::ContextLengthExceeded => "context-length-exceeded",
            ErrorCode::UnsupportedSchema => "unsupported-schema",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

//! Model architectures: configuration from GGUF metadata (the forward pass comes next).

mod config;

pub use config::{ConfigError, ModelConfig, SUPPORTED};

//! hearth: open-weight language models from any GGUF file, on WebGPU, in the browser and
//! natively.
//!
//! Layers, lowest first; a layer never imports one above it:
//! - [`gguf`]: the file format (header, metadata, tensor infos), parsed from a prefix;
//! - [`source`]: a file's bytes in order, from any source; the header, then tensor data;
//! - [`quant`]: quant block formats and their CPU dequantization (the reference for kernels);
//! - [`gpu`]: device, limits and features, buffers, pipelines, paged weights, the recorder;
//! - [`kernels`]: one wrapper per WGSL family (`shaders/`), each with its CPU reference;
//! - [`model`]: architectures as data: configuration, weights streamed by name, forward pass;
//! - [`tokenizer`], [`chat`]: tokenizers and chat templates from the file's metadata;
//! - [`engine`]: a loaded model that prefills and decodes, sampling on the GPU;
//! - [`session`]: the request layer every front end uses (OpenAI-shaped requests);
//! - [`clock`], [`rng`], [`error_code`]: wall time on both targets; the seeded generator of
//!   test data; the error classes every front end shows;
//! - `web` (wasm32 only): the wasm-bindgen surface used by `www/worker.js`; `bin/hearth`: the
//!   CLI.
//!
//! Non-goals: training, a server, formats other than GGUF.
#![warn(missing_docs)]

pub mod chat;
pub mod clock;
pub mod engine;
pub mod error_code;
pub mod gguf;
pub mod gpu;
pub mod grammar;
pub mod kernels;
pub mod model;
pub mod quant;
pub mod rng;
pub mod session;
pub mod source;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;

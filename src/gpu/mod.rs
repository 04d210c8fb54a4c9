//! The GPU runtime: adapter and device with their real limits and optional features.

mod context;

pub use context::{AdapterReport, GpuContext, GpuError};

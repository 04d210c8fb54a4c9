//! The Rust side of the Rust–WGSL contract, in one table: each uniform struct the kernels
//! write with the shader that declares its WGSL twin, and each constant written on both sides.
//! tests/contract.rs reads the WGSL through naga's reflection and compares names, offsets,
//! types, sizes and values, so neither side can change alone.

use crate::gguf::GgmlType;
use crate::gpu::{ShaderDef, Uniform, UniformField};
use crate::quant::gpu_layout;

use super::{
    WEIGHT_TYPES, attention, conv, delta_net, elementwise, embed, matmul, matvec, norm, per_layer, rope, sample,
    shaders, step, weight_define,
};

/// A uniform struct and its WGSL twin.
pub struct UniformContract {
    /// A shader that declares the twin.
    pub shader: &'static ShaderDef,
    /// Defines that shader needs to compile with the twin in it.
    pub defines: &'static [&'static str],
    /// The twin's WGSL name.
    pub wgsl: &'static str,
    /// The Rust struct's name, for messages.
    pub rust: &'static str,
    /// The Rust struct's fields.
    pub fields: &'static [UniformField],
    /// The Rust struct's size in bytes.
    pub size: usize,
}

fn uniform<T: Uniform>(
    shader: &'static ShaderDef,
    defines: &'static [&'static str],
    wgsl: &'static str,
    rust: &'static str,
) -> UniformContract {
    UniformContract { shader, defines, wgsl, rust, fields: T::FIELDS, size: std::mem::size_of::<T>() }
}

/// Every uniform struct a kernel writes, with a shader declaring its twin (`Step` with each
/// shader that reads it).
pub fn uniforms() -> Vec<UniformContract> {
    const W: &[&str] = &["W_Q8_0"];
    vec![
        uniform::<matvec::Params>(&shaders::MATVEC, W, "Params", "matvec::Params"),
        uniform::<matmul::Params>(&shaders::MATMUL, W, "Params", "matmul::Params"),
        uniform::<embed::Params>(&shaders::EMBED, W, "Params", "embed::Params"),
        uniform::<norm::Params>(&shaders::NORM, &[], "Params", "norm::Params"),
        uniform::<elementwise::Params>(&shaders::GLU, &[], "Params", "elementwise::Params"),
        uniform::<conv::Params>(&shaders::SHORT_CONV, &[], "Params", "conv::Params"),
        uniform::<delta_net::Params>(&shaders::DELTA_NET, &[], "Params", "delta_net::Params"),
        uniform::<delta_net::Params>(&shaders::DELTA_NET_CHUNKED, &[], "Params", "delta_net::Params"),
        uniform::<per_layer::Params>(&shaders::PER_LAYER_INPUTS, &[], "Params", "per_layer::Params"),
        uniform::<per_layer::SoftcapParams>(&shaders::SOFTCAP, &[], "Params", "per_layer::SoftcapParams"),
        uniform::<rope::RopeKvParams>(&shaders::ROPE_KV, &[], "Params", "rope::RopeKvParams"),
        uniform::<attention::AttnParams>(&shaders::ATTN_PREFILL, &[], "Params", "attention::AttnParams"),
        uniform::<sample::Params>(&shaders::SAMPLE, &[], "Params", "sample::Params"),
        uniform::<step::Step>(&shaders::ROPE_KV, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::ATTN_PREFILL, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::SAMPLE, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::SHORT_CONV, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::DELTA_NET, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::DELTA_NET_CHUNKED, &[], "Step", "Step"),
        uniform::<step::Step>(&shaders::EMBED, &["W_Q8_0", "POSITIONS"], "Step", "Step"),
    ]
}

/// A constant written on both sides.
pub struct ConstantContract {
    /// The shader that declares it.
    pub shader: &'static ShaderDef,
    /// Defines that shader needs to compile (and that select the constant's part).
    pub defines: Vec<&'static str>,
    /// Its WGSL name.
    pub wgsl: &'static str,
    /// Its Rust name, for messages.
    pub rust: &'static str,
    /// Its value on the Rust side.
    pub value: u32,
}

/// A weight type's GPU layout as common/weights.wgsl reads it (`DATA_BYTES`, `SIDE_BYTES` and,
/// for types with a table, `TABLE_WORDS` in the type's part) and as src/quant/layout.rs writes
/// it.
pub fn weight_layouts() -> Vec<(GgmlType, ConstantContract)> {
    let mut out = Vec::new();
    for ty in WEIGHT_TYPES {
        let (Some(define), Ok(layout)) = (weight_define(ty), gpu_layout(ty)) else { continue };
        let c = |wgsl, rust, value| ConstantContract {
            shader: &shaders::MATVEC,
            defines: vec![define, "GROUPS"],
            wgsl,
            rust,
            value,
        };
        out.push((ty, c("DATA_BYTES", "GpuLayout::data_bytes", layout.data_bytes)));
        out.push((ty, c("SIDE_BYTES", "GpuLayout::side.bytes()", layout.side.bytes())));
        if !layout.table.is_empty() {
            out.push((ty, c("TABLE_WORDS", "GpuLayout::table.len()", layout.table.len() as u32)));
        }
    }
    out
}

/// Every constant written on both sides.
pub fn constants() -> Vec<ConstantContract> {
    let c = |shader, defines: &[&'static str], wgsl, rust, value| ConstantContract {
        shader,
        defines: defines.to_vec(),
        wgsl,
        rust,
        value,
    };
    vec![
        c(&shaders::MATMUL, &["W_Q8_0"], "TT", "matmul::TOKENS_PER_INVOCATION", matmul::TOKENS_PER_INVOCATION),
        c(&shaders::MATMUL, &["W_Q8_0"], "RR", "matmul::ROWS_PER_INVOCATION", matmul::ROWS_PER_INVOCATION),
        c(&shaders::MATVEC, &["W_Q8_0"], "MAX_ROWS", "matvec::MAX_ROWS_PER_WORKGROUP", matvec::MAX_ROWS_PER_WORKGROUP),
        c(&shaders::ATTN_PREFILL, &[], "MAX_HEAD_DIM", "attention::NARROW_HEAD_DIM", attention::NARROW_HEAD_DIM),
        c(&shaders::ATTN_PREFILL, &["WIDE_HEADS"], "MAX_HEAD_DIM", "attention::MAX_HEAD_DIM", attention::MAX_HEAD_DIM),
        c(&shaders::DELTA_NET, &[], "MAX_DIM", "delta_net::MAX_DELTA_HEAD_DIM", delta_net::MAX_DELTA_HEAD_DIM),
        c(&shaders::DELTA_NET, &[], "ROWS", "delta_net::ROWS_PER_INVOCATION", delta_net::ROWS_PER_INVOCATION),
        c(&shaders::DELTA_NET_CHUNKED, &[], "MAX_DIM", "delta_net::MAX_DELTA_HEAD_DIM", delta_net::MAX_DELTA_HEAD_DIM),
        c(&shaders::DELTA_NET_CHUNKED, &[], "ROWS", "delta_net::ROWS_PER_INVOCATION", delta_net::ROWS_PER_INVOCATION),
        c(&shaders::DELTA_NET_CHUNKED, &[], "MAX_CHUNK", "delta_net::MAX_CHUNK_TOKENS", delta_net::MAX_CHUNK_TOKENS),
        c(&shaders::DELTA_NET_CHUNKED, &[], "CHUNK_FLOATS", "delta_net::CHUNK_FLOATS", delta_net::CHUNK_FLOATS),
        c(
            &shaders::ATTN_DECODE_SG,
            &["SUBGROUPS"],
            "MAX_DPL",
            "attention::MAX_DIMS_PER_LANE",
            attention::MAX_DIMS_PER_LANE,
        ),
    ]
}

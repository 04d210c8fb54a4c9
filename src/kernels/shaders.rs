//! The one place that lists the WGSL sources (`shaders/*.wgsl`), embedded in the binary.

use crate::gpu::ShaderDef;

macro_rules! shader {
    ($id:ident, $file:literal) => {
        shader!($id, $file, $file);
    };
    ($id:ident, $file:literal, $entry:literal) => {
        #[doc = concat!("`shaders/", $file, ".wgsl`, entry point `", $entry, "`.")]
        pub static $id: ShaderDef = ShaderDef {
            name: $entry,
            file: concat!($file, ".wgsl"),
            source: include_str!(concat!("../../shaders/", $file, ".wgsl")),
        };
    };
}

shader!(MATVEC, "matvec");
shader!(MATMUL, "matmul");
shader!(EMBED, "embed");
shader!(NORM, "norm");
shader!(ROPE_KV, "rope_kv");
shader!(GLU, "glu");
shader!(ATTN_PREFILL, "attention", "attn_prefill");
shader!(ATTN_DECODE, "attention", "attn_decode");
shader!(ATTN_DECODE_SG, "attention", "attn_decode_sg");
shader!(ATTN_COMBINE, "attention", "attn_combine");
shader!(ARGMAX, "sample", "argmax");
shader!(SAMPLE, "sample", "sample");
shader!(COPY, "copy");

/// Files kernels pull in with `#include "…"`.
pub static INCLUDES: &[(&str, &str)] = &[
    ("common/header.wgsl", include_str!("../../shaders/common/header.wgsl")),
    ("common/reduce.wgsl", include_str!("../../shaders/common/reduce.wgsl")),
    ("common/weights.wgsl", include_str!("../../shaders/common/weights.wgsl")),
    ("common/nibble_blocks.wgsl", include_str!("../../shaders/common/nibble_blocks.wgsl")),
    ("common/k_scale_min.wgsl", include_str!("../../shaders/common/k_scale_min.wgsl")),
    ("common/step.wgsl", include_str!("../../shaders/common/step.wgsl")),
    ("common/subgroup_args.wgsl", include_str!("../../shaders/common/subgroup_args.wgsl")),
    ("common/subgroup_init.wgsl", include_str!("../../shaders/common/subgroup_init.wgsl")),
];

/// Every entry point of every kernel family, for validation tests.
pub static ALL: &[&ShaderDef] = &[
    &MATVEC,
    &MATMUL,
    &EMBED,
    &NORM,
    &ROPE_KV,
    &GLU,
    &ATTN_PREFILL,
    &ATTN_DECODE,
    &ATTN_DECODE_SG,
    &ATTN_COMBINE,
    &ARGMAX,
    &SAMPLE,
    &COPY,
];

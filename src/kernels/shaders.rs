//! The one place that lists the WGSL sources (`shaders/*.wgsl`), embedded in the binary.

use crate::gpu::ShaderDef;

macro_rules! shader {
    ($id:ident, $name:literal) => {
        #[doc = concat!("`shaders/", $name, ".wgsl`, entry point `", $name, "`.")]
        pub static $id: ShaderDef = ShaderDef {
            name: $name,
            source: include_str!(concat!("../../shaders/", $name, ".wgsl")),
        };
    };
}

shader!(MATVEC, "matvec");
shader!(MATMUL, "matmul");

/// Files kernels pull in with `#include "…"`.
pub static INCLUDES: &[(&str, &str)] = &[
    (
        "common/header.wgsl",
        include_str!("../../shaders/common/header.wgsl"),
    ),
    (
        "common/reduce.wgsl",
        include_str!("../../shaders/common/reduce.wgsl"),
    ),
    (
        "common/weights.wgsl",
        include_str!("../../shaders/common/weights.wgsl"),
    ),
];

/// Every kernel family, for validation tests.
pub static ALL: &[&ShaderDef] = &[&MATVEC, &MATMUL];

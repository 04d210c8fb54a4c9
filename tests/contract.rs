//! The Rust–WGSL contract, checked by machine: every uniform struct a kernel writes has a WGSL
//! twin with the same fields (names, types, offsets, in order) and size, and every constant
//! written on both sides has one value (`hearth::kernels::contract`), read from the shaders
//! through naga's reflection. CPU only: no GPU is needed.
#![cfg(not(target_arch = "wasm32"))]

use hearth::gpu::{PipelineCache, UniformScalar};
use hearth::kernels::{contract, shaders};
use wgpu::naga;

fn module(shader: &hearth::gpu::ShaderDef, defines: &[&'static str]) -> naga::Module {
    let wgsl = PipelineCache::new(shaders::includes()).source(shader, defines).unwrap();
    naga::front::wgsl::parse_str(&wgsl).unwrap_or_else(|e| panic!("{}: {}", shader.name, e.emit_to_string(&wgsl)))
}

fn scalar(module: &naga::Module, ty: naga::Handle<naga::Type>) -> Option<UniformScalar> {
    match module.types[ty].inner {
        naga::TypeInner::Scalar(naga::Scalar { kind, width: 4 }) => match kind {
            naga::ScalarKind::Uint => Some(UniformScalar::U32),
            naga::ScalarKind::Sint => Some(UniformScalar::I32),
            naga::ScalarKind::Float => Some(UniformScalar::F32),
            _ => None,
        },
        _ => None,
    }
}

/// The differences between a Rust uniform struct and its WGSL twin, as sentences.
fn uniform_differences(c: &contract::UniformContract) -> Vec<String> {
    let m = module(c.shader, c.defines);
    let what = format!("{} (Rust) and {} in {} (WGSL)", c.rust, c.wgsl, c.shader.file);
    let Some(ty) = m.types.iter().find(|(_, t)| t.name.as_deref() == Some(c.wgsl)) else {
        return vec![format!("{what}: no WGSL struct {}", c.wgsl)];
    };
    let naga::TypeInner::Struct { members, span } = &ty.1.inner else {
        return vec![format!("{what}: {} is not a struct", c.wgsl)];
    };
    let mut diffs = Vec::new();
    if *span as usize != c.size {
        diffs.push(format!("{what}: {} bytes in Rust, {span} in WGSL", c.size));
    }
    for i in 0..members.len().max(c.fields.len()) {
        match (c.fields.get(i), members.get(i)) {
            (Some(f), Some(mb)) => {
                let wgsl = (mb.name.as_deref().unwrap_or("?"), scalar(&m, mb.ty), mb.offset);
                if (f.name, Some(f.ty), f.offset) != wgsl {
                    diffs.push(format!(
                        "{what}: field {i} is {} {:?} at {} in Rust, {} {:?} at {} in WGSL",
                        f.name, f.ty, f.offset, wgsl.0, wgsl.1, wgsl.2
                    ));
                }
            }
            (Some(f), None) => diffs.push(format!("{what}: field {} only in Rust", f.name)),
            (None, Some(mb)) => diffs.push(format!("{what}: field {} only in WGSL", mb.name.as_deref().unwrap_or("?"))),
            (None, None) => {}
        }
    }
    diffs
}

/// The difference between a constant's Rust and WGSL values, if any.
fn constant_difference(c: &contract::ConstantContract) -> Option<String> {
    let m = module(c.shader, &c.defines);
    let what = format!("{} (Rust) and {} in {} (WGSL)", c.rust, c.wgsl, c.shader.file);
    let Some((_, k)) = m.constants.iter().find(|(_, k)| k.name.as_deref() == Some(c.wgsl)) else {
        return Some(format!("{what}: no WGSL constant {}", c.wgsl));
    };
    match m.global_expressions[k.init] {
        naga::Expression::Literal(naga::Literal::U32(v)) if v == c.value => None,
        ref e => Some(format!("{what}: {} in Rust, {e:?} in WGSL", c.value)),
    }
}

#[test]
fn uniform_structs_match_their_wgsl_twins() {
    let contracts = contract::uniforms();
    assert!(contracts.len() >= 12, "{} contracts", contracts.len());
    let diffs: Vec<String> = contracts.iter().flat_map(uniform_differences).collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn constants_match_their_wgsl_twins() {
    let diffs: Vec<String> = contract::constants().iter().filter_map(constant_difference).collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// Every weight type's layout: the data region's and the side region's bytes per block (and
/// the table's words) as the shaders read them, as src/quant/layout.rs writes them.
#[test]
fn weight_layouts_match_the_upload() {
    let layouts = contract::weight_layouts();
    let tables = hearth::kernels::WEIGHT_TYPES
        .iter()
        .filter(|&&t| hearth::quant::gpu_layout(t).is_ok_and(|l| !l.table.is_empty()))
        .count();
    assert_eq!(tables, 7, "the 1- to 3-bit i-quants have grids");
    assert_eq!(layouts.len(), 2 * hearth::kernels::WEIGHT_TYPES.len() + tables);
    let diffs: Vec<String> =
        layouts.iter().filter_map(|(ty, c)| constant_difference(c).map(|d| format!("{ty}: {d}"))).collect();
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

//! Every kernel entry point × variant goes through naga's WGSL parser and validator on the CPU,
//! without a GPU: a shader bug shows here with naga's message, whatever the adapter.
#![cfg(not(target_arch = "wasm32"))]

use hearth::gpu::PipelineCache;
use hearth::kernels::{WEIGHT_TYPES, shaders, weight_define};
use wgpu::naga;

fn validate(name: &str, wgsl: &str) {
    let module = naga::front::wgsl::parse_str(wgsl).unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(wgsl)));
    naga::valid::Validator::new(naga::valid::ValidationFlags::all(), naga::valid::Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(wgsl)));
}

#[test]
fn every_shader_variant_parses_and_validates() {
    let cache = PipelineCache::new(shaders::INCLUDES);
    let weight_defines: Vec<&str> = WEIGHT_TYPES.iter().filter_map(|t| weight_define(*t)).collect();
    let mut n = 0;
    for shader in shaders::ALL {
        let reads_weights = shader.source.contains("common/weights.wgsl");
        let extra: Vec<Vec<&str>> = if reads_weights {
            weight_defines
                .iter()
                .flat_map(|&w| {
                    let mut extra = vec![
                        vec![w],
                        vec![w, "OUT_F32"],
                        vec![w, "OUT_F32", "ACCUMULATE"],
                        vec![w, "NORM_X", "OUTPUTS_2", "OUTPUTS_3"],
                        vec![w, "OUTPUTS_2"],
                        vec![w, "GLU_X", "GELU", "OUT_F32", "ACCUMULATE"],
                        vec![w, "NORM_X", "LAYER_NORM", "BIAS", "OUTPUTS_2", "OUTPUTS_3"],
                        vec![w, "GLU_X", "NO_UP", "GELU", "BIAS", "OUT_F32", "ACCUMULATE"],
                        vec![w, "POSITIONS", "OUT_F32"],
                    ];
                    // Four chunks per step: matvec only.
                    if shader.name == "matvec" {
                        extra.extend([
                            vec![w, "GROUPS"],
                            vec![w, "GROUPS", "NORM_X", "OUTPUTS_2"],
                            vec![w, "GROUPS", "NORM_X", "LAYER_NORM", "BIAS"],
                        ]);
                        if matches!(w, "W_Q4_K" | "W_Q6_K") {
                            extra.push(vec![w, "GROUPS", "SPAN_8", "GLU_X"]);
                        }
                    }
                    extra
                })
                .collect()
        } else {
            vec![
                vec![],
                vec!["IN_PLACE"],
                vec!["NEOX"],
                vec!["QK_NORM"],
                vec!["QK_NORM", "NEOX"],
                vec!["GELU"],
                vec!["IN_F32"],
                vec!["IN_F32", "OUT_F32", "IN_PLACE"],
                vec!["IN_F32", "ADD_F32"],
                vec!["LAYER_NORM"],
                vec!["LAYER_NORM", "IN_F32", "IN_PLACE"],
                vec!["NO_UP", "GELU", "IN_PLACE"],
                vec!["ALIBI"],
            ]
        };
        for e in &extra {
            let variants = [
                &[][..],
                &["ACT_F16"],
                &["SUBGROUPS"],
                &["ACT_F16", "SUBGROUPS"],
                &["SUBGROUPS", "ONE_SUBGROUP"],
                &["ACT_F16", "SUBGROUPS", "ONE_SUBGROUP"],
            ];
            for variant in variants {
                let defines: Vec<&'static str> = e.iter().chain(variant).copied().collect();
                let wgsl = cache.source(shader, &defines).unwrap();
                validate(&format!("{} {defines:?}", shader.name), &wgsl);
                n += 1;
            }
        }
    }
    assert!(n > 100, "{n} variants");
}

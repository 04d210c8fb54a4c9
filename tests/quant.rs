//! CPU dequantization against gguf-py 0.19.0, bit for bit.
//!
//! The references are made by `tests/tools/gguf_py_reference.py` (run by `./build.sh models`):
//! per fixture tensor the sha256 of gguf-py's f32 output, and synthetic blocks of every type.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::BTreeSet;

use hearth::gguf::{GgmlType, Gguf};
use hearth::quant::{self, QuantError};
use sha2::{Digest, Sha256};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn f32_le_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Every tensor of one fixture, dequantized and hashed, against gguf-py's hashes.
fn check_model(name: &str) -> BTreeSet<GgmlType> {
    let path = common::model(name);
    let bytes = std::fs::read(&path).expect("read model");
    let reference_path = path.with_extension("dequant.json");
    let reference: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&reference_path).expect("reference json: run ./build.sh models"))
            .expect("reference json");
    let g = Gguf::parse(&bytes, bytes.len() as u64).expect("parse");
    assert_eq!(reference["tensors"].as_object().unwrap().len(), g.tensors().len());
    let mut types = BTreeSet::new();
    for t in g.tensors() {
        let r = &reference["tensors"][&t.name];
        assert_eq!(r["type"], t.ty.to_string(), "{name}: {}", t.name);
        let range = g.tensor_range(t);
        let data = &bytes[range.start as usize..range.end as usize];
        let out = quant::dequantize_to_vec(t.ty, data, t.n_elements() as usize)
            .unwrap_or_else(|e| panic!("{name}: {}: {e}", t.name));
        let digest = hex(&Sha256::digest(f32_le_bytes(&out)));
        assert_eq!(digest, r["sha256"].as_str().unwrap(), "{name}: tensor {} ({}) differs from gguf-py", t.name, t.ty);
        types.insert(t.ty);
    }
    types
}

#[test]
fn smollm2_tensors_equal_gguf_py() {
    let mut types = BTreeSet::new();
    for name in common::SMOLLM2 {
        types.extend(check_model(name));
    }
    use GgmlType::*;
    assert_eq!(types, BTreeSet::from([F32, F16, Q8_0, Q4_0, Q4_1]));
}

/// SmolLM2 requantized by llama.cpp's own quantizer (tests/quant): real Q2_K, Q3_K, Q4_K, Q5_K,
/// Q6_K, Q4_0, Q5_0, Q5_1, Q8_0, BF16, IQ1_M, IQ2_XS, IQ3_XXS, IQ3_S, IQ4_NL and IQ4_XS tensors as
/// the hub's files have them.
#[test]
fn llama_quantize_fixtures_equal_gguf_py() {
    let mut types = BTreeSet::new();
    for name in common::LLAMA_QUANTIZE {
        types.extend(check_model(name));
    }
    use GgmlType::*;
    let want = [
        F32, BF16, Q8_0, Q4_0, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ1_M, IQ2_XS, IQ3_XXS, IQ3_S, IQ4_NL, IQ4_XS,
    ];
    assert_eq!(types, BTreeSet::from(want));
}

#[test]
fn gemma_tensors_equal_gguf_py() {
    use GgmlType::*;
    assert_eq!(check_model(common::GEMMA), BTreeSet::from([F32, Q8_0, Q5_0, Q4_K, Q6_K]));
}

/// Synthetic blocks: gguf-py-quantized random data (with outliers and a zero block) for the
/// types gguf-py can quantize, random block bytes for the K-quants; every supported type.
#[test]
fn synthetic_blocks_equal_gguf_py() {
    let dir = common::models_dir().join("synthetic");
    for ty in quant::SUPPORTED.into_iter().filter(|t| *t != GgmlType::F32) {
        let blocks = std::fs::read(dir.join(format!("{ty}.blocks")))
            .unwrap_or_else(|e| panic!("{ty}: {e}: run ./build.sh models"));
        let want: Vec<f32> = std::fs::read(dir.join(format!("{ty}.f32")))
            .expect("reference output")
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        assert!(!want.is_empty());
        let got = quant::dequantize_to_vec(ty, &blocks, want.len()).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_eq!(g.to_bits(), w.to_bits(), "{ty}: element {i}: hearth {g} vs gguf-py {w}");
        }
    }
}

#[test]
fn hand_made_blocks() {
    // Q4_0: d = 0.5 (f16 0x3800); element j < 16 is the low nibble of qs[j].
    let mut b = vec![0x00, 0x38];
    b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
    let out = quant::dequantize_to_vec(GgmlType::Q4_0, &b, 32).unwrap();
    assert_eq!(out[0], -4.0); // (0 - 8) * 0.5
    assert_eq!(out[15], 3.5); // (15 - 8) * 0.5
    assert_eq!(out[16], 3.5); // high nibble of qs[0] = 15
    // BF16: 0x3F80 is 1.0, 0xC000 is -2.0.
    let out = quant::dequantize_to_vec(GgmlType::BF16, &[0x80, 0x3F, 0x00, 0xC0], 2).unwrap();
    assert_eq!(out, vec![1.0, -2.0]);
    // Q5_1: d = 1, m = -16, qh bit j set for odd j; element j = (low nibble | bit << 4) - 16.
    let mut b = vec![0x00, 0x3C, 0x00, 0xCC];
    b.extend(0xAAAA_AAAAu32.to_le_bytes());
    b.extend([0x21u8; 16]);
    let out = quant::dequantize_to_vec(GgmlType::Q5_1, &b, 32).unwrap();
    assert_eq!(&out[..2], &[1.0 - 16.0, 1.0 + 16.0 - 16.0]);
    assert_eq!(&out[16..18], &[2.0 - 16.0, 2.0 + 16.0 - 16.0]);
    // Q5_K: d = 1, dmin = 1, every scale 1 and min 0 -> x = q, with the 5th bit from qh.
    let mut b = vec![0x00, 0x3C, 0x00, 0x3C];
    b.extend([1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1]);
    b.extend([0b0000_0010u8; 32]); // 5th bit set in sub-block 1 only
    b.extend([0x73u8; 128]);
    let out = quant::dequantize_to_vec(GgmlType::Q5_K, &b, 256).unwrap();
    assert_eq!(out[0], 3.0);
    assert_eq!(out[32], 7.0 + 16.0);
    assert_eq!(out[64], 3.0);
}

#[test]
fn unsupported_and_mismatched_inputs_are_errors() {
    let e = quant::dequantize_to_vec(GgmlType::TQ1_0, &[0; 54], 256).unwrap_err();
    assert_eq!(e, QuantError::Unsupported(GgmlType::TQ1_0));
    assert!(e.to_string().contains("Q4_K"), "lists what is supported: {e}");
    let e = quant::dequantize_to_vec(GgmlType::Q4_0, &[0; 17], 32).unwrap_err();
    assert!(matches!(e, QuantError::SizeMismatch { .. }));
    let e = quant::dequantize_to_vec(GgmlType::Q8_0, &[0; 34], 33).unwrap_err();
    assert!(matches!(e, QuantError::SizeMismatch { .. }));
}

/// hearth's CPU quantizers produce gguf-py's bytes from gguf-py's inputs.
#[test]
fn quantizers_equal_gguf_py() {
    let dir = common::models_dir().join("synthetic");
    for ty in
        [GgmlType::F16, GgmlType::BF16, GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1]
    {
        let input: Vec<f32> = std::fs::read(dir.join(format!("{ty}.input.f32")))
            .unwrap_or_else(|e| panic!("{ty}: {e}: run ./build.sh models"))
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let want = std::fs::read(dir.join(format!("{ty}.blocks"))).unwrap();
        let got = quant::quantize(ty, &input).unwrap();
        assert_eq!(got.len(), want.len(), "{ty}");
        let ts = ty.type_size() as usize;
        for (i, (g, w)) in got.chunks(ts).zip(want.chunks(ts)).enumerate() {
            assert_eq!(g, w, "{ty}: block {i} differs from gguf-py");
        }
    }
}

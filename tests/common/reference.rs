//! The llama.cpp / fp32 references of ../shared/reference (MODELS.md), and those of the quant
//! fixtures in the same format (tests/quant/reference, their fp32 logits in models/fp32).
#![allow(dead_code)]

use std::path::PathBuf;

/// The reference folder (`HEARTH_REFERENCE` or ../shared/reference).
pub fn dir() -> PathBuf {
    std::env::var_os("HEARTH_REFERENCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/reference"))
}

/// One reference case.
pub struct Case {
    /// Prompt text.
    pub prompt: String,
    /// llama.cpp's prompt ids.
    pub prompt_ids: Vec<u32>,
    /// llama.cpp's greedy continuation.
    pub greedy_ids: Vec<u32>,
    /// Its text.
    pub text: String,
    /// fp32 margin between best and second logit, per step.
    pub fp32_margin: Vec<f32>,
    /// Steps up to which any correct engine reproduces llama.cpp's ids.
    pub fp32_agrees_until: usize,
    /// fp32 teacher-forced logits (steps, vocab), row-major.
    pub logits: Vec<f32>,
    /// Rows of `logits`.
    pub steps: usize,
}

/// The cases of `NAME.json` with their logits (../shared/reference).
pub fn cases(name: &str) -> Vec<Case> {
    cases_in(&dir(), &dir(), name)
}

/// The cases of a quant fixture's reference (tests/quant/reference/NAME.json), with the fp32
/// logits `./build.sh models` made for it.
pub fn quant_cases(name: &str) -> Vec<Case> {
    let json = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/quant/reference");
    cases_in(&json, &super::models_dir().join("fp32"), name)
}

/// The cases of `json_dir/NAME.json` with their logits from `logits_dir`.
pub fn cases_in(json_dir: &std::path::Path, logits_dir: &std::path::Path, name: &str) -> Vec<Case> {
    let path = json_dir.join(format!("{name}.json"));
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap();
    let ids =
        |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect::<Vec<_>>();
    json["cases"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let (logits, steps) = npy_f32(&logits_dir.join(format!("{name}.p{i}.fp32-teacher-forced.logits.npy")));
            Case {
                prompt: c["prompt"].as_str().unwrap().to_owned(),
                prompt_ids: ids(&c["prompt_ids"]),
                greedy_ids: ids(&c["greedy_ids"]),
                text: c["text"].as_str().unwrap().to_owned(),
                fp32_margin: c["fp32_margin"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
                fp32_agrees_until: c["fp32_agrees_until"].as_u64().unwrap() as usize,
                logits,
                steps,
            }
        })
        .collect()
}

/// A little-endian f32 2-D .npy file: (data, rows).
pub fn npy_f32(path: &std::path::Path) -> (Vec<f32>, usize) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    let header = std::str::from_utf8(&bytes[10..10 + header_len]).unwrap();
    assert!(header.contains("'descr': '<f4'") && header.contains("'fortran_order': False"), "{header}");
    let shape = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let rows: usize = shape.split(',').next().unwrap().trim().parse().unwrap();
    let data = bytes[10 + header_len..].chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    (data, rows)
}

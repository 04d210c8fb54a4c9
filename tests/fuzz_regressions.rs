//! The fuzz targets' regression inputs (inputs that once failed, and hand-picked hostile ones)
//! run on stable as ordinary tests through the same bodies libFuzzer runs
//! (`fuzz/src/lib.rs`): committed under `fuzz/regressions/TARGET/`, or, for the GGUF targets,
//! made here. Also writes the seed corpora for `./build.sh fuzz`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use hearth::gguf::{Array, Gguf, GgufBuilder, StrArray, Value};

type Target = fn(&[u8]);

/// The targets whose inputs are committed, by their directory under `fuzz/regressions` (the
/// GGUF targets' inputs are made by `gguf_regression_inputs_pass`).
const COMMITTED: [(&str, Target); 4] = [
    ("model_config", targets::model_config),
    ("memory_plan", targets::memory_plan),
    ("tokenizer", targets::tokenizer),
    ("chat_template", targets::chat_template),
];

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Each committed input runs through its target without a panic; a target with no inputs is
/// a failure (the directory moved, or the inputs were lost).
#[test]
fn committed_fuzz_inputs_pass() {
    for (name, target) in COMMITTED {
        let inputs = files(&fuzz_dir().join("regressions").join(name));
        assert!(!inputs.is_empty(), "fuzz/regressions/{name} has no inputs");
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} failed", path.display());
        }
    }
}

/// The GGUF targets' regression inputs, made here rather than committed (GGUF files, even
/// hand-made ones, stay out of git): hostile headers, a small valid file, a cut of each
/// fixture, and the file that once made `encode` emit a BOS past the vocabulary.
#[test]
fn gguf_regression_inputs_pass() {
    let mut inputs = vec![("tiny", tiny_gguf()), ("special id past the vocabulary", special_id_past_vocab())];
    inputs.extend(hostile_headers());
    for name in common::SMOLLM2.iter().chain([&common::GEMMA]) {
        let data = std::fs::read(common::model(name)).unwrap();
        let g = Gguf::parse(&data, data.len() as u64).unwrap();
        inputs.push((name, small_model(&g, &data, 16)));
        inputs.push((name, small_model(&g, &data, 64)));
    }
    for (what, data) in &inputs {
        for (target, body) in [("gguf_prefix", targets::gguf_prefix as Target), ("gguf_file", targets::gguf_file)] {
            // Odd and even lengths: the prefix target streams with and without a known size.
            for cut in [data.len(), data.len().saturating_sub(1)] {
                let run = std::panic::catch_unwind(|| body(&data[..cut]));
                assert!(run.is_ok(), "{target}: {what} ({cut} bytes) failed");
            }
        }
    }
}

/// A small valid GGUF: one Q8_0 tensor at a 64-byte alignment.
fn tiny_gguf() -> Vec<u8> {
    GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("general.alignment", Value::U32(64))
        .tensor("w", &[32, 2], hearth::gguf::GgmlType::Q8_0, vec![7; 68])
        .build()
}

/// A SentencePiece-style vocabulary of 64 tokens whose BOS id is 2050 (found by `gguf_file`).
fn special_id_past_vocab() -> Vec<u8> {
    let mut tokens = StrArray::default();
    (0..64).for_each(|i| tokens.push(format!("▁t{i}").as_bytes()));
    GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("tokenizer.ggml.model", Value::String("llama".into()))
        .kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)))
        .kv("tokenizer.ggml.scores", Value::Array(Array::F32(vec![0.0; 64])))
        .kv("tokenizer.ggml.token_type", Value::Array(Array::I32(vec![1; 64])))
        .kv("tokenizer.ggml.bos_token_id", Value::U32(2050))
        .kv("tokenizer.ggml.add_bos_token", Value::Bool(true))
        .build()
}

/// Headers by hand: a string value claiming 4 GB, an array of 2^60 strings, a tensor of
/// 2^40 × 2^40 elements.
fn hostile_headers() -> Vec<(&'static str, Vec<u8>)> {
    let head = |n_tensors: u64, n_keys: u64| {
        [&b"GGUF"[..], &3u32.to_le_bytes(), &n_tensors.to_le_bytes(), &n_keys.to_le_bytes()].concat()
    };
    let name = |s: &str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
    let four_gb = [head(0, 1), name("general.name"), 8u32.to_le_bytes().to_vec(), (4u64 << 30).to_le_bytes().to_vec()];
    let array = [
        head(0, 1),
        name("tokenizer.ggml.tokens"),
        [9u32, 8].map(u32::to_le_bytes).concat(),
        (1u64 << 60).to_le_bytes().to_vec(),
    ];
    let tensor = [
        head(1, 0),
        name("w"),
        2u32.to_le_bytes().to_vec(),
        [1u64 << 40, 1 << 40].map(u64::to_le_bytes).concat(),
        8u32.to_le_bytes().to_vec(),
        0u64.to_le_bytes().to_vec(),
    ];
    vec![
        ("a 4 GB string", four_gb.concat()),
        ("2^60 strings", array.concat()),
        ("a 2^80-element tensor", tensor.concat()),
    ]
}

/// Writes the seed corpora `./build.sh fuzz` starts from into `fuzz/corpus/TARGET/`, made
/// from the real fixtures (run by build.sh with `--ignored`; the corpora are not committed).
#[test]
#[ignore = "writes fuzz/corpus; run by ./build.sh fuzz"]
fn write_seed_corpora() {
    let corpus = fuzz_dir().join("corpus");
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let fixtures = [common::SMOLLM2[0], common::SMOLLM2[1], common::SMOLLM2[2], common::SMOLLM2[3], common::GEMMA];
    for name in fixtures {
        let path = common::model(name);
        let data = std::fs::read(&path).unwrap();
        let g = Gguf::parse(&data, data.len() as u64).unwrap();
        // Small inputs fuzz fast: the prefix parser gets 16 entries of each array, the
        // whole-file target enough vocabulary (64) for its tokenizer to have merges.
        put("gguf_prefix", &format!("{name}.bin"), &small_model(&g, &data, 16));
        put("gguf_file", &format!("{name}.bin"), &small_model(&g, &data, 64));
        if let Ok(Value::String(t)) = g.get("tokenizer.chat_template") {
            put("chat_template", name, t.as_bytes());
        }
    }
    // Configurations: each architecture as it is, and with the fixtures' hyper-parameters.
    let record = |key: u8, value: u64| [&[key, 0][..], &value.to_le_bytes()].concat();
    for arch in 0..9u8 {
        put("model_config", &format!("arch{arch}"), &[arch]);
        put("memory_plan", &format!("arch{arch}"), &[arch, 8, 1, 2, 3]);
        let smollm2 = [(0, 30), (1, 576), (2, 1536), (3, 9), (4, 3), (7, 49152), (8, 8192), (11, 64)];
        let gemma = [(0, 18), (1, 640), (2, 2048), (3, 4), (4, 1), (5, 256), (7, 262144), (14, 512)];
        for (label, params) in [("smollm2", smollm2), ("gemma", gemma)] {
            let mut bytes = vec![arch];
            for (k, v) in params {
                bytes.extend(record(k, v));
            }
            put("model_config", &format!("arch{arch}-{label}"), &bytes);
            bytes.extend([0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 8, 1]);
            put("memory_plan", &format!("arch{arch}-{label}"), &bytes);
        }
    }
    // Tokenizer: the reference prompts, each way, and their ids to decode.
    for (i, case) in common::reference::cases("smollm2-Q8_0")
        .iter()
        .chain(&common::reference::cases("gemma3-270m-Q4_K_M"))
        .enumerate()
    {
        for flags in [0u8, 1, 6, 7] {
            put("tokenizer", &format!("prompt{i}-{flags}"), &[&[flags][..], case.prompt.as_bytes()].concat());
        }
        let ids: Vec<u8> = case.prompt_ids.iter().flat_map(|&id| id.to_be_bytes()[1..].to_vec()).collect();
        put("tokenizer", &format!("ids{i}"), &[&[8u8][..], &ids].concat());
    }
    put("tokenizer", "unicode", "\u{0}\t\n 日本語 🦀 é\u{301} \u{fffd} <|im_end|> <start_of_turn>".as_bytes());
    let tiny = GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("general.alignment", Value::U32(64))
        .tensor("w", &[32, 2], hearth::gguf::GgmlType::Q8_0, vec![7; 68])
        .build();
    put("gguf_prefix", "tiny.bin", &tiny);
    put("gguf_file", "tiny.bin", &tiny);
    put("chat_template", "loops", b"{% for m in messages %}{{ m.role }}: {{ m.content | upper }}\n{% endfor %}");
}

/// A small GGUF with `g`'s metadata (arrays cut to `entries`) and, for every tensor type the
/// file uses, two rows of its first tensor of that type with their real bytes.
fn small_model(g: &Gguf, data: &[u8], entries: usize) -> Vec<u8> {
    let mut b = GgufBuilder::new();
    for (key, value) in g.metadata() {
        let value = match value {
            Value::Array(Array::String(s)) => {
                let mut cut = StrArray::default();
                s.iter().take(entries).for_each(|w| cut.push(w));
                Value::Array(Array::String(cut))
            }
            Value::Array(Array::F32(v)) => Value::Array(Array::F32(v.iter().take(entries).copied().collect())),
            Value::Array(Array::I32(v)) => Value::Array(Array::I32(v.iter().take(entries).copied().collect())),
            Value::String(s) if key == "tokenizer.chat_template" => Value::String(s.clone()),
            other => other.clone(),
        };
        b = b.kv(key, value);
    }
    let mut seen = Vec::new();
    for t in g.tensors() {
        if seen.contains(&t.ty) {
            continue;
        }
        seen.push(t.ty);
        let rows = t.n_rows().min(2);
        let bytes = t.ty.row_bytes(t.row_len()).unwrap() * rows;
        let start = g.tensor_range(t).start as usize;
        let mut dims = t.dims.clone();
        if dims.len() > 1 {
            dims[1..].fill(1);
            dims[1] = rows;
        }
        b = b.tensor(&t.name, &dims, t.ty, data[start..start + bytes as usize].to_vec());
    }
    b.build()
}

//! The fuzz targets' committed inputs (`fuzz/regressions/TARGET/*`: inputs that once failed,
//! and hand-picked hostile ones), run on stable as ordinary tests through the same bodies
//! libFuzzer runs (`fuzz/src/lib.rs`). Also writes the seed corpora for `./build.sh fuzz`.
#![cfg(not(target_arch = "wasm32"))]

mod common;

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::path::{Path, PathBuf};

use hearth::gguf::{Array, Gguf, GgufBuilder, StrArray, Value};

type Target = fn(&[u8]);

/// Every target, by its directory name under `fuzz/regressions` and `fuzz/corpus`.
const TARGETS: [(&str, Target); 6] = [
    ("gguf_prefix", targets::gguf_prefix),
    ("gguf_file", targets::gguf_file),
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
    for (name, target) in TARGETS {
        let inputs = files(&fuzz_dir().join("regressions").join(name));
        assert!(!inputs.is_empty(), "fuzz/regressions/{name} has no inputs");
        for path in inputs {
            let data = std::fs::read(&path).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(run.is_ok(), "{name}: {} failed", path.display());
        }
    }
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
    for arch in 0..5u8 {
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

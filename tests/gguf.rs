//! The GGUF reader on the real fixtures and on truncated and hostile files.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::gguf::{Array, GgmlType, Gguf, GgufBuilder, GgufError, MAX_TENSORS, StrArray, Value};

// The parser must not allocate more than the input's own size (plus a small fixed overhead),
// whatever the input says: the suite counts the heap.
#[global_allocator]
static HEAP: common::heap::Counting = common::heap::Counting;

/// Fixed overhead allowed on top of the input's size (map nodes, error strings).
const SLACK: usize = 64 << 10;

/// Parses and checks that the peak allocation stayed within the input's size plus `SLACK`.
fn parse_bounded(prefix: &[u8], file_size: u64) -> Result<Gguf, GgufError> {
    let (r, grew) = common::heap::peak(|| Gguf::parse(prefix, file_size));
    assert!(
        grew <= prefix.len() + SLACK,
        "parsing {} bytes allocated {grew} bytes (result {:?})",
        prefix.len(),
        r.as_ref().err()
    );
    r
}

/// The first `n` bytes of a fixture (enough for its header).
fn read_prefix(name: &str, n: usize) -> (Vec<u8>, u64) {
    use std::io::Read;
    let path = common::model(name);
    let size = std::fs::metadata(&path).expect("stat").len();
    let mut buf = Vec::new();
    std::fs::File::open(&path).expect("open").take(n as u64).read_to_end(&mut buf).expect("read");
    (buf, size)
}

fn header_of(name: &str) -> (Gguf, Vec<u8>, u64) {
    let (bytes, size) = read_prefix(name, 8 << 20);
    let g = Gguf::parse(&bytes, size).expect("parse fixture header");
    (g, bytes, size)
}

// ---------------------------------------------------------------------------------------------
// Real files
// ---------------------------------------------------------------------------------------------

#[test]
fn smollm2_header_matches_models_md() {
    for name in common::SMOLLM2 {
        let (g, _, _) = header_of(name);
        assert_eq!(g.version(), 3);
        assert_eq!(g.tensors().len(), 272, "{name}");
        assert_eq!(g.architecture().unwrap(), "llama");
        let u = |k| g.get_u32(k).unwrap();
        assert_eq!(u("llama.block_count"), 30);
        assert_eq!(u("llama.embedding_length"), 576);
        assert_eq!(u("llama.feed_forward_length"), 1536);
        assert_eq!(u("llama.attention.head_count"), 9);
        assert_eq!(u("llama.attention.head_count_kv"), 3);
        assert_eq!(u("llama.context_length"), 8192);
        assert_eq!(g.get_f32("llama.rope.freq_base").unwrap(), 100000.0);
        assert_eq!(g.get_f32("llama.attention.layer_norm_rms_epsilon").unwrap(), 1e-5);
        assert_eq!(g.get_str("tokenizer.ggml.model").unwrap(), "gpt2");
        assert_eq!(g.get_str("tokenizer.ggml.pre").unwrap(), "smollm");
        assert_eq!(g.get_str_array("tokenizer.ggml.tokens").unwrap().len(), 49152);
        assert_eq!(g.get_str_array("tokenizer.ggml.merges").unwrap().len(), 48900);
        assert!(!g.get_bool("tokenizer.ggml.add_bos_token").unwrap());
        assert!(g.tensor("output.weight").is_none(), "tied embeddings");
        let emb = g.tensor("token_embd.weight").unwrap();
        assert_eq!(emb.dims, vec![576, 49152]);
        let tokens = g.get_str_array("tokenizer.ggml.tokens").unwrap();
        assert_eq!(tokens.get(1), Some(&b"<|im_start|>"[..]));
    }
    let (g, _, _) = header_of(common::SMOLLM2[0]);
    let count = |t| g.tensors().iter().filter(|x| x.ty == t).count();
    assert_eq!((count(GgmlType::Q4_1), count(GgmlType::Q8_0), count(GgmlType::F32)), (210, 1, 61));
}

#[test]
fn gemma_header_matches_models_md() {
    let (g, _, _) = header_of(common::GEMMA);
    assert_eq!(g.tensors().len(), 236);
    assert_eq!(g.architecture().unwrap(), "gemma3");
    assert_eq!(g.get_u32("gemma3.block_count").unwrap(), 18);
    assert_eq!(g.get_u32("gemma3.attention.key_length").unwrap(), 256);
    assert_eq!(g.get_u32("gemma3.attention.sliding_window").unwrap(), 512);
    assert_eq!(g.get_str("tokenizer.ggml.model").unwrap(), "llama");
    let count = |t| g.tensors().iter().filter(|x| x.ty == t).count();
    let counts = [GgmlType::Q4_K, GgmlType::Q6_K, GgmlType::Q5_0, GgmlType::Q8_0, GgmlType::F32].map(count);
    assert_eq!(counts, [27, 9, 81, 10, 109]);
}

#[test]
fn typed_getters_name_the_key_and_type() {
    let (g, _, _) = header_of(common::SMOLLM2[0]);
    let e = g.get_str("llama.block_count").unwrap_err();
    assert_eq!(e.to_string(), "metadata key 'llama.block_count' should be a string, but it is u32");
    let e = g.get_u32("no.such.key").unwrap_err();
    assert_eq!(e, GgufError::MissingKey("no.such.key".into()));
    assert_eq!(g.optional("no.such.key", Gguf::get_u32).unwrap(), None);
    assert!(g.optional("general.architecture", Gguf::get_u32).is_err());
    assert!(g.get_u32("llama.rope.freq_base").is_err(), "a float is not an integer");
}

#[test]
fn streaming_prefixes_ask_for_more_until_the_header_is_complete() {
    let (g, bytes, size) = header_of(common::SMOLLM2[0]);
    let header_end = g.data_offset() as usize;
    let mut n = 0;
    while n < header_end {
        match Gguf::parse(&bytes[..n], size) {
            Err(GgufError::NeedMore { needed }) => {
                assert!(needed > 0 && n as u64 + needed <= g.data_offset(), "at {n}: needed {needed}");
            }
            other => panic!("prefix of {n} bytes: expected NeedMore, got {:?}", other.err()),
        }
        n += 65_521; // a prime step lands inside many different fields
    }
    let whole = Gguf::parse(&bytes[..header_end], size).expect("the header alone is enough");
    assert_eq!(whole.tensors(), g.tensors());
}

#[test]
fn reader_pulls_only_the_header() {
    let path = common::model(common::GEMMA);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    assert_eq!(g.tensors().len(), 236);
    // A file that ends before its header does is an I/O error, not a hang.
    let (bytes, _) = read_prefix(common::GEMMA, 4096);
    let e = Gguf::read(&mut &bytes[..], size).unwrap_err();
    assert!(matches!(e, GgufError::Io(_)), "{e}");
}

// ---------------------------------------------------------------------------------------------
// Truncation: every byte of the first 64 KiB, then 1,000 random points of the rest.
// ---------------------------------------------------------------------------------------------

/// A truncated file (the prefix *is* the whole file) is an error; the same prefix of a file
/// with more to come asks for more. Neither panics or over-allocates.
fn check_truncated(bytes: &[u8], n: usize, real_size: u64) {
    match parse_bounded(&bytes[..n], n as u64) {
        Ok(_) => panic!("a file truncated to {n} bytes parsed"),
        Err(GgufError::NeedMore { .. }) => panic!("a complete file of {n} bytes reported NeedMore"),
        Err(_) => {}
    }
    match parse_bounded(&bytes[..n], real_size) {
        Err(GgufError::NeedMore { .. }) => {}
        other => panic!("prefix {n}: expected NeedMore, got {:?}", other.err()),
    }
}

#[test]
fn truncation_at_every_byte_of_the_first_64k() {
    let (g, bytes, size) = header_of(common::SMOLLM2[0]);
    assert!(g.data_offset() > 1_500_000, "the SmolLM2 header holds ~1.8 MB of vocab");
    for n in 0..65_536 {
        check_truncated(&bytes, n, size);
    }
}

#[test]
fn truncation_at_1000_random_points_of_the_header() {
    let (g, bytes, size) = header_of(common::SMOLLM2[0]);
    let end = g.data_offset() as usize;
    let mut rng = common::Rng::new(1);
    for _ in 0..1000 {
        let n = 65_536 + (rng.next_u64() % (end as u64 - 65_536)) as usize;
        // Header bytes end at the last tensor info; the padding after it is not needed.
        if Gguf::parse(&bytes[..n], size).is_ok() {
            continue;
        }
        check_truncated(&bytes, n, size);
    }
}

// ---------------------------------------------------------------------------------------------
// Hostile files, each built by hand around one defect.
// ---------------------------------------------------------------------------------------------

fn small_valid() -> GgufBuilder {
    GgufBuilder::new()
        .kv("general.architecture", Value::String("llama".into()))
        .kv("llama.block_count", Value::U32(1))
        .tensor("a", &[32, 2], GgmlType::Q8_0, vec![0; 68])
        .tensor("b", &[4], GgmlType::F32, vec![0; 16])
}

fn expect_err(bytes: &[u8], check: impl Fn(&GgufError) -> bool) {
    let e = parse_bounded(bytes, bytes.len() as u64).expect_err("hostile file parsed");
    assert!(check(&e), "unexpected error: {e:?}");
}

/// Byte offset of the tensor infos' start in `small_valid()`-like files: after the KVs.
fn patch(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

fn find(bytes: &[u8], needle: &[u8]) -> usize {
    bytes.windows(needle.len()).position(|w| w == needle).expect("needle")
}

#[test]
fn small_valid_file_parses_with_every_value_type() {
    let nested = Array::Array(vec![Array::U8(vec![1, 2]), Array::String(StrArray::from_iter(["x", ""]))]);
    let b = small_valid()
        .kv("u8", Value::U8(1))
        .kv("i8", Value::I8(-1))
        .kv("u16", Value::U16(2))
        .kv("i16", Value::I16(-2))
        .kv("i32", Value::I32(-3))
        .kv("f32", Value::F32(0.5))
        .kv("bool", Value::Bool(true))
        .kv("u64", Value::U64(1 << 40))
        .kv("i64", Value::I64(-(1 << 40)))
        .kv("f64", Value::F64(0.25))
        .kv("nested", Value::Array(nested.clone()))
        .kv("f32s", Value::Array(Array::F32(vec![1.0, 2.0])))
        .build();
    for version in [2u32, 3] {
        let mut b = b.clone();
        patch(&mut b, 4, &version.to_le_bytes());
        let g = Gguf::parse(&b, b.len() as u64).unwrap();
        assert_eq!(g.version(), version);
        assert_eq!(g.get("nested").unwrap(), &Value::Array(nested.clone()));
        assert_eq!(g.get_u64("u64").unwrap(), 1 << 40);
        assert_eq!(g.get_f32("f64").unwrap(), 0.25);
        assert!(g.get_u32("i8").is_err(), "-1 does not fit in u32");
        let a = g.tensor("a").unwrap();
        assert_eq!((a.n_bytes, a.n_rows(), a.row_len()), (68, 2, 32));
        assert_eq!(g.tensor_range(g.tensor("b").unwrap()).start, g.data_offset() + 96);
    }
}

#[test]
fn bad_magic_and_versions() {
    let good = small_valid().build();
    let mut b = good.clone();
    b[0] = b'X';
    expect_err(&b, |e| matches!(e, GgufError::BadMagic { .. }));
    for v in [0u32, 1, 4, 0xFFFF_FFFF] {
        let mut b = good.clone();
        patch(&mut b, 4, &v.to_le_bytes());
        expect_err(&b, |e| *e == GgufError::UnsupportedVersion(v));
    }
    let mut b = good.clone();
    patch(&mut b, 4, &3u32.to_be_bytes());
    expect_err(&b, |e| *e == GgufError::BigEndian);
}

#[test]
fn absurd_counts() {
    let good = small_valid().build();
    let mut b = good.clone();
    patch(&mut b, 8, &u64::MAX.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::TooMany { what: "the tensor count", .. }));
    let mut b = good.clone();
    patch(&mut b, 8, &(MAX_TENSORS - 1).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
    let mut b = good.clone();
    patch(&mut b, 16, &(1u64 << 40).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::TooMany { what: "the metadata key count", .. }));
    let mut b = good;
    patch(&mut b, 16, &100_000u64.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
}

#[test]
fn lengths_beyond_the_file() {
    // The first key's length.
    let good = small_valid().build();
    let mut b = good.clone();
    patch(&mut b, 24, &(u64::MAX - 3).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
    // A string value's length.
    let b0 = GgufBuilder::new().kv("s", Value::String("hello".into())).build();
    let at = find(&b0, b"hello") - 8;
    for len in [1_000u64, 1 << 33, u64::MAX] {
        let mut b = b0.clone();
        patch(&mut b, at, &len.to_le_bytes());
        expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
    }
    // Array lengths of every element size, and a string inside an array.
    for arr in [
        Array::U8(vec![7; 3]),
        Array::U32(vec![7; 3]),
        Array::F64(vec![7.0; 3]),
        Array::String(StrArray::from_iter(["abc"])),
        Array::Array(vec![Array::U8(vec![])]),
    ] {
        let b0 = GgufBuilder::new().kv("arr", Value::Array(arr.clone())).build();
        let at = find(&b0, b"arr") + 3 + 4 + 4; // key, value type, element type
        for len in [1u64 << 20, 1 << 62, u64::MAX] {
            let mut b = b0.clone();
            patch(&mut b, at, &len.to_le_bytes());
            expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
        }
    }
    let b0 = GgufBuilder::new().kv("arr", Value::Array(Array::String(StrArray::from_iter(["abc"])))).build();
    let mut b = b0.clone();
    let at = find(&b0, b"abc") - 8;
    patch(&mut b, at, &(1u64 << 40).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::BeyondFile { .. }));
}

#[test]
fn unknown_and_invalid_values() {
    let b0 = GgufBuilder::new().kv("k", Value::U32(5)).build();
    let at = find(&b0, b"k") + 1;
    let mut b = b0.clone();
    patch(&mut b, at, &13u32.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::UnknownValueType { type_id: 13, .. }));
    let b0 = GgufBuilder::new().kv("k", Value::Array(Array::U8(vec![1]))).build();
    let mut b = b0.clone();
    patch(&mut b, at + 4, &99u32.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::UnknownValueType { type_id: 99, .. }));
    // Invalid UTF-8 in a key.
    let mut b = GgufBuilder::new().kv("ke", Value::U8(1)).build();
    let at = find(&b, b"ke");
    b[at] = 0xFF;
    expect_err(&b, |e| matches!(e, GgufError::InvalidUtf8 { .. }));
    // Arrays nested deeper than the cap.
    let mut deep = Array::U8(vec![]);
    for _ in 0..10 {
        deep = Array::Array(vec![deep]);
    }
    let b = GgufBuilder::new().kv("deep", Value::Array(deep)).build();
    expect_err(&b, |e| matches!(e, GgufError::NestingTooDeep { .. }));
    let b = GgufBuilder::new().kv("k", Value::U8(1)).kv("k", Value::U8(2)).build();
    expect_err(&b, |e| matches!(e, GgufError::DuplicateKey(_)));
    for bad in [Value::U32(0), Value::U32(48), Value::String("32".into())] {
        let b = small_valid().kv("general.alignment", bad).build();
        expect_err(&b, |e| matches!(e, GgufError::BadAlignment(_)));
    }
}

/// Offset of tensor `name`'s info fields (dims count) in a built file.
fn tensor_info_at(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    find(bytes, &needle) + needle.len()
}

#[test]
fn bad_tensor_infos() {
    let good = small_valid().build();
    let a = tensor_info_at(&good, "a"); // n_dims u32, dims 2×u64, type u32, offset u64
    let (dims, ty, offset) = (a + 4, a + 4 + 16, a + 4 + 16 + 4);

    let mut b = good.clone();
    patch(&mut b, ty, &5u32.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::UnknownTensorType { type_id: 5, .. }));
    let mut b = good.clone();
    patch(&mut b, ty, &1000u32.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::UnknownTensorType { type_id: 1000, .. }));

    let mut b = good.clone();
    patch(&mut b, a, &5u32.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::TooManyDims { n_dims: 5, .. }));

    let mut b = good.clone();
    patch(&mut b, dims + 8, &(1u64 << 62).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::SizeOverflow { .. }));
    let mut b = good.clone();
    patch(&mut b, dims + 8, &(u64::MAX / 32).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::SizeOverflow { .. }));
    let mut b = good.clone();
    patch(&mut b, dims + 8, &(1u64 << 40).to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::OutOfFile { .. }));

    let mut b = good.clone();
    patch(&mut b, dims, &33u64.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::PartialBlock { ne0: 33, .. }));

    let mut b = good.clone();
    patch(&mut b, offset, &4u64.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::Misaligned { offset: 4, .. }));

    // "b" moved into "a" (bytes 0..68): they overlap.
    let mut b = good.clone();
    let b_offset = tensor_info_at(&good, "b") + 4 + 8 + 4;
    patch(&mut b, b_offset, &32u64.to_le_bytes());
    expect_err(&b, |e| matches!(e, GgufError::Overlap { .. }));

    for off in [1u64 << 20, u64::MAX - 31] {
        let mut b = good.clone();
        patch(&mut b, offset, &off.to_le_bytes());
        expect_err(&b, |e| matches!(e, GgufError::OutOfFile { .. }));
    }

    let dup = GgufBuilder::new()
        .tensor("t", &[4], GgmlType::F32, vec![0; 16])
        .tensor("t", &[4], GgmlType::F32, vec![0; 16])
        .build();
    expect_err(&dup, |e| matches!(e, GgufError::DuplicateTensor(_)));

    // The data section is cut: the last tensor runs past the end.
    let short = &good[..good.len() - 20]; // "b" ends 16 bytes before the final padding
    expect_err(short, |e| matches!(e, GgufError::OutOfFile { .. }));
}

// ---------------------------------------------------------------------------------------------
// The CLI on good and bad files.
// ---------------------------------------------------------------------------------------------

fn hearth(args: &[&std::ffi::OsStr]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_hearth")).args(args).output().expect("run hearth")
}

#[test]
fn inspect_prints_tables_and_json() {
    let path = common::model(common::SMOLLM2[0]);
    let out = hearth(&["inspect".as_ref(), path.as_os_str()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("architecture:  llama"), "{text}");
    assert!(text.contains("llama.block_count"));
    assert!(text.contains("model gpt2, pre smollm"));
    assert!(text.contains("total     272 tensors"));
    // This machine's adapter and path, whatever it is.
    let gpu = pollster::block_on(hearth::gpu::GpuContext::new()).expect("GPU adapter");
    let path = if gpu.has_f16() { "f16" } else { "f32" };
    assert!(text.contains(&format!("GPU memory ({path} path, context 2048): weights")), "{text}");
    assert!(text.contains(&format!("runs on {}", gpu.report().name)), "{text}");
    let out = hearth(&["inspect".as_ref(), "--json".as_ref(), common::model(common::GEMMA).as_os_str()]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["summary"]["architecture"], "gemma3");
    assert_eq!(v["summary"]["tensors"].as_array().unwrap().len(), 236);
    assert_eq!(v["summary"]["hyperparameters"]["gemma3.attention.sliding_window"], 512);
    // The memory plan: weights in their GPU layout plus the KV cache at the default context.
    assert_eq!(v["fits"], true, "{v}");
    let (weights, kv) = (v["memory"]["weights"].as_u64().unwrap(), v["memory"]["kv_cache"].as_u64().unwrap());
    assert!((235 << 20..240 << 20).contains(&weights), "{weights}");
    assert!(kv > 0 && v["memory"]["total"].as_u64().unwrap() > weights + kv, "{v}");
}

#[test]
fn inspect_on_a_broken_file_says_one_line_and_fails() {
    let dir = std::env::temp_dir().join(format!("hearth-inspect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (mut bytes, _) = read_prefix(common::SMOLLM2[0], 100_000);
    let cut = dir.join("cut.gguf");
    std::fs::write(&cut, &bytes).unwrap();
    bytes[0] = b'X';
    let bad = dir.join("bad.gguf");
    std::fs::write(&bad, &bytes).unwrap();
    for (path, says) in
        [(cut, "but the file has only"), (bad, "not a GGUF file"), (dir.join("absent.gguf"), "No such file")]
    {
        let out = hearth(&["inspect".as_ref(), path.as_os_str()]);
        assert!(!out.status.success());
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.starts_with("hearth: error: ") && err.contains(says), "{err}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// gguf.cpp's caps: tensor names under 64 bytes, bounded keys, and no string or header past
/// 64 MiB, even in a file large enough to hold one (the file size is no bound on a 100 GB
/// model's header).
#[test]
fn names_keys_strings_and_the_header_are_capped() {
    let name = "n".repeat(64);
    let b = GgufBuilder::new().tensor(&name, &[4], GgmlType::F32, vec![0; 16]).build();
    expect_err(&b, |e| matches!(e, GgufError::TooLong { what: "a tensor name", len: 64, max: 63, .. }));
    let ok = GgufBuilder::new().tensor(&name[..63], &[4], GgmlType::F32, vec![0; 16]).build();
    assert!(parse_bounded(&ok, ok.len() as u64).is_ok());

    let key = "k".repeat(2000);
    let b = GgufBuilder::new().kv(&key, Value::U32(1)).build();
    expect_err(&b, |e| matches!(e, GgufError::TooLong { what: "a metadata key", len: 2000, .. }));

    // A string claiming 4 GB inside a file of 100 GB: refused at its length, nothing read.
    let b0 = GgufBuilder::new().kv("s", Value::String("hello".into())).build();
    let at = find(&b0, b"hello") - 8;
    let mut b = b0.clone();
    patch(&mut b, at, &(4u64 << 30).to_le_bytes());
    let e = parse_bounded(&b, 100 << 30).unwrap_err();
    assert!(matches!(e, GgufError::TooLong { what: "a string value", .. }), "{e:?}");
    // A string in an array (no cap of its own) that would end past 64 MiB of header.
    let b0 = GgufBuilder::new().kv("arr", Value::Array(Array::String(StrArray::from_iter(["abc"])))).build();
    let mut b = b0.clone();
    let at = find(&b0, b"abc") - 8;
    patch(&mut b, at, &(65u64 << 20).to_le_bytes());
    let e = parse_bounded(&b, 100 << 30).unwrap_err();
    assert!(matches!(e, GgufError::TooMany { what: "the header's size in bytes", .. }), "{e:?}");
}

//! Hostile models through the whole load path (`Session::load`, as the CLI and the browser
//! call it): each is refused with its typed error and code before any GPU buffer is created,
//! without a panic, and within a bound on the heap it may use, measured by a counting
//! allocator (a hostile length must never become an allocation).
//!
//! The files are SmolLM2's real header with one thing changed, written by the GGUF writer;
//! tensor data is never read (the source serves zeros after the header).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::io::Read;

use hearth::gguf::{GgmlType, Gguf, GgufBuilder, StrArray, Value};
use hearth::gpu::{GpuContext, LimitCaps};
use hearth::session::{LoadOptions, Session};
use hearth::source::ReadSource;

// Hostile lengths must never become allocations: the suite counts the heap.
#[global_allocator]
static HEAP: common::heap::Counting = common::heap::Counting;

const MIB: usize = 1 << 20;

/// One hostile file: what it changes, the load options, and what must come back.
struct Case {
    what: &'static str,
    file: (Vec<u8>, u64),
    options: LoadOptions,
    code: &'static str,
    message: &'static str,
    heap: usize,
}

/// SmolLM2's metadata with `overrides` (a `None` value removes the key) and its tensor infos,
/// with `tensor` changing each (name, dims, type) first.
fn smollm2(
    overrides: &[(&str, Option<Value>)],
    tensor: impl Fn(&str, Vec<u64>, GgmlType) -> Option<TensorInfo>,
) -> (Vec<u8>, u64) {
    let g = real_header();
    let mut b = GgufBuilder::new();
    for (k, v) in g.metadata() {
        match overrides.iter().find(|(key, _)| key == k) {
            Some((_, Some(v))) => b = b.kv(k, v.clone()),
            Some((_, None)) => {}
            None => b = b.kv(k, v.clone()),
        }
    }
    for (k, v) in overrides {
        if let (Some(v), None) = (v, g.metadata().get(*k)) {
            b = b.kv(k, v.clone());
        }
    }
    for t in g.tensors() {
        if let Some((name, dims, ty)) = tensor(&t.name, t.dims.clone(), t.ty) {
            b = b.declare(&name, &dims, ty);
        }
    }
    b.build_header()
}

/// SmolLM2's header with one more tensor declared after its own.
fn smollm2_and(extra: TensorInfo) -> (Vec<u8>, u64) {
    let g = real_header();
    let mut b = GgufBuilder::new();
    for (k, v) in g.metadata() {
        b = b.kv(k, v.clone());
    }
    for t in g.tensors() {
        b = b.declare(&t.name, &t.dims, t.ty);
    }
    b.declare(&extra.0, &extra.1, extra.2).build_header()
}

fn real_header() -> Gguf {
    let path = common::model("SmolLM2-135M-Instruct.Q8_0.gguf");
    let mut file = std::fs::File::open(&path).unwrap();
    let size = file.metadata().unwrap().len();
    Gguf::read(&mut file, size).unwrap()
}

/// A tensor's name, dimensions and type, as the file declares them.
type TensorInfo = (String, Vec<u64>, GgmlType);

fn same(name: &str, dims: Vec<u64>, ty: GgmlType) -> Option<TensorInfo> {
    Some((name.to_owned(), dims, ty))
}

/// Every tensor as it is, but `tensor` with `rows` rows.
fn with_rows(tensor: &'static str, rows: u64) -> impl Fn(&str, Vec<u64>, GgmlType) -> Option<TensorInfo> {
    move |name, mut dims, ty| {
        if name == tensor {
            dims[1] = rows;
        }
        same(name, dims, ty)
    }
}

fn options(context_length: u32, limits: LimitCaps) -> LoadOptions {
    LoadOptions { context_length, limits, ..LoadOptions::default() }
}

/// A header by hand: one string value whose length claims 4 GB.
fn four_gb_string() -> (Vec<u8>, u64) {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // tensors
    f.extend(1u64.to_le_bytes()); // keys
    f.extend(12u64.to_le_bytes());
    f.extend(b"general.name");
    f.extend(8u32.to_le_bytes()); // string
    f.extend((4u64 << 30).to_le_bytes());
    let size = f.len() as u64 + (4 << 30);
    (f, size)
}

/// A header whose token array claims 50 million strings in a 1 GB file: it would pass the
/// 64 MiB header cap long before the array ends.
fn endless_header() -> (Vec<u8>, u64) {
    let mut f = b"GGUF".to_vec();
    f.extend(3u32.to_le_bytes());
    f.extend(0u64.to_le_bytes()); // tensors
    f.extend(2u64.to_le_bytes()); // keys
    for (key, value) in [("general.architecture", &b"llama"[..]), ("tokenizer.ggml.tokens", &[][..])] {
        f.extend((key.len() as u64).to_le_bytes());
        f.extend(key.as_bytes());
        if value.is_empty() {
            f.extend(9u32.to_le_bytes()); // an array
            f.extend(8u32.to_le_bytes()); // of strings
            f.extend(50_000_000u64.to_le_bytes());
        } else {
            f.extend(8u32.to_le_bytes());
            f.extend((value.len() as u64).to_le_bytes());
            f.extend(value);
        }
    }
    (f, 1 << 30)
}

fn cases() -> Vec<Case> {
    let u32v = |v: u32| Some(Value::U32(v));
    let none = LimitCaps::default();
    let long_name = "blk.0.attn_q.weight_".to_owned() + &"x".repeat(60);
    let long_key = "general.".to_owned() + &"k".repeat(1992);
    let mut small_vocab = StrArray::default();
    (0..100).for_each(|i| small_vocab.push(format!("t{i}").as_bytes()));
    vec![
        Case {
            what: "block_count of 4e9",
            file: smollm2(&[("llama.block_count", u32v(4_000_000_000))], same),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'llama.block_count' is 4000000000: must be 1 to 1024",
            heap: 8 * MIB,
        },
        Case {
            what: "heads × head dim past the width cap",
            file: smollm2(
                &[("llama.attention.head_count", u32v(999)), ("llama.attention.key_length", u32v(256))],
                same,
            ),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'heads × head dim' is 255744",
            heap: 8 * MIB,
        },
        Case {
            what: "head_dim past the attention kernels' bound",
            file: smollm2(&[("llama.attention.key_length", u32v(1024))], same),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'llama.attention.key_length' is 1024: must be 2 to 512",
            heap: 8 * MIB,
        },
        Case {
            what: "a sliding window of 2^31 (gemma3)",
            file: smollm2(
                &[
                    ("general.architecture", Some(Value::String("gemma3".into()))),
                    ("gemma3.block_count", u32v(30)),
                    ("gemma3.embedding_length", u32v(576)),
                    ("gemma3.feed_forward_length", u32v(1536)),
                    ("gemma3.attention.head_count", u32v(9)),
                    ("gemma3.attention.head_count_kv", u32v(3)),
                    ("gemma3.attention.sliding_window", u32v(1 << 31)),
                ],
                same,
            ),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'gemma3.attention.sliding_window' is 2147483648",
            heap: 8 * MIB,
        },
        Case {
            what: "an EOS id past the vocabulary",
            file: smollm2(&[("tokenizer.ggml.eos_token_id", u32v(49152))], same),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'tokenizer.ggml.eos_token_id' is 49152: past the vocabulary of 49152 tokens",
            heap: 8 * MIB,
        },
        Case {
            what: "a tokenizer with ids past the token table",
            file: smollm2(&[("llama.vocab_size", u32v(1000))], with_rows("token_embd.weight", 1000)),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "the tokenizer has 49152 tokens but the model's token table only 1000",
            heap: 32 * MIB,
        },
        Case {
            what: "a tensor name of 80 bytes",
            file: smollm2(&[], |n, dims, ty| {
                Some((if n == "blk.0.attn_q.weight" { long_name.clone() } else { n.to_owned() }, dims, ty))
            }),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "a tensor name at byte 1769975 is 80 bytes long, more than the 63",
            heap: 8 * MIB,
        },
        Case {
            what: "a metadata key of 2000 bytes",
            file: smollm2(&[(&long_key, Some(Value::U32(1)))], same),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "a metadata key at byte",
            heap: 8 * MIB,
        },
        Case {
            what: "rope dimensions past the head dimension",
            file: smollm2(&[("llama.rope.dimension_count", u32v(128))], same),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "'llama.rope.dimension_count' is 128",
            heap: 8 * MIB,
        },
        Case {
            what: "a string of 4 GB",
            file: four_gb_string(),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "a string value at byte 48 is 4294967296 bytes long",
            heap: 2 * MIB,
        },
        Case {
            what: "a header past 64 MiB",
            file: endless_header(),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "the header's size in bytes is 67108866, more than the 67108864 hearth accepts",
            heap: 80 * MIB,
        },
        Case {
            what: "an unsupported architecture",
            file: smollm2(&[("general.architecture", Some(Value::String("mamba".into())))], same),
            options: LoadOptions::default(),
            code: "unsupported-model",
            message: "architecture 'mamba' is not supported",
            heap: 8 * MIB,
        },
        Case {
            what: "a missing tensor",
            file: smollm2(&[], |n, d, t| (n != "blk.7.ffn_up.weight").then(|| (n.to_owned(), d, t))),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "the file has no tensor 'blk.7.ffn_up.weight'",
            heap: 32 * MIB,
        },
        Case {
            what: "a tensor of the wrong shape",
            file: smollm2(&[], with_rows("blk.3.attn_k.weight", 64)),
            options: LoadOptions::default(),
            code: "bad-model",
            message: "tensor 'blk.3.attn_k.weight' has dimensions [576, 64], but the hyper-parameters make it [576, 192]",
            heap: 32 * MIB,
        },
        Case {
            what: "a tensor the architecture does not use",
            file: smollm2_and(("blk.0.attn_rot_embd".into(), vec![32], GgmlType::F32)),
            options: LoadOptions::default(),
            code: "unsupported-model",
            message: "the file has a tensor 'blk.0.attn_rot_embd' that hearth's llama does not use",
            heap: 32 * MIB,
        },
        Case {
            what: "a pre-tokenizer llama.cpp does not know",
            file: smollm2(&[("tokenizer.ggml.pre", Some(Value::String("no-such-pre".into())))], same),
            options: LoadOptions::default(),
            code: "unsupported-model",
            message: "pre-tokenizer 'no-such-pre' is not one llama.cpp knows",
            heap: 32 * MIB,
        },
        Case {
            what: "YaRN RoPE scaling",
            file: smollm2(
                &[
                    ("llama.rope.scaling.type", Some(Value::String("yarn".into()))),
                    ("llama.rope.scaling.factor", Some(Value::F32(4.0))),
                ],
                same,
            ),
            options: LoadOptions::default(),
            code: "unsupported-model",
            message: "this llama model uses RoPE scaling 'yarn', which hearth does not run yet",
            heap: 8 * MIB,
        },
        Case {
            what: "a weight type without kernels",
            file: smollm2(&[], |n, dims, ty| {
                same(n, dims, if n == "blk.0.ffn_gate.weight" { GgmlType::Q8_1 } else { ty })
            }),
            options: LoadOptions::default(),
            code: "unsupported-model",
            message: "tensor 'blk.0.ffn_gate.weight' is of type Q8_1, which hearth cannot run yet",
            heap: 32 * MIB,
        },
        Case {
            what: "a context whose KV cache exceeds a binding",
            file: smollm2(&[], same),
            options: options(1_000_000, none),
            code: "adapter-limits",
            message: "the KV cache of one layer needs",
            heap: 32 * MIB,
        },
        Case {
            what: "a model over the memory budget",
            file: smollm2(&[], same),
            options: options(2048, LimitCaps { memory_budget: Some(100 << 20), ..none }),
            code: "adapter-limits",
            message: "the model at this context needs",
            heap: 32 * MIB,
        },
    ]
}

/// Written while GPU memory is counted (the count is the process's), read by every other load
/// of this file's tests: those wait meanwhile, and run side by side otherwise.
static GPU_COUNT: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Every hostile case: its code and message, no GPU buffer, and bounded heap.
#[test]
fn hostile_models_are_refused_before_any_gpu_allocation() {
    let _counting = GPU_COUNT.write().unwrap_or_else(|e| e.into_inner());
    let cases = cases();
    for case in cases {
        let (header, size) = case.file;
        let data = std::io::Cursor::new(header).chain(std::io::repeat(0).take(size));
        let source = ReadSource::new(data, Some(size));
        let gpu_before = GpuContext::process_allocated_bytes();
        let (run, heap) = common::heap::peak(|| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                pollster::block_on(Session::load(source, &case.options, &mut |_, _, _| {}))
            }))
        });
        let what = case.what;
        let Ok(result) = run else { panic!("{what}: panicked") };
        let Err(e) = result else { panic!("{what}: loaded") };
        println!("{what}: [{}] {e} (heap peak {:.1} MiB)", e.code(), heap as f64 / MIB as f64);
        assert_eq!(e.code(), case.code, "{what}: {e}");
        assert!(e.to_string().contains(case.message), "{what}: {e}");
        assert_eq!(GpuContext::process_allocated_bytes(), gpu_before, "{what}: GPU buffers were created");
        assert!(heap <= case.heap, "{what}: {heap} bytes of heap, over {}", case.heap);
    }
}

/// `hearth run` with a context the GPU cannot hold: one line naming the buffer, the bytes it
/// needs and the limit, a non-zero exit, no panic.
#[test]
fn cli_refuses_a_context_the_gpu_cannot_hold_in_one_line() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["run", "-m"])
        .arg(common::model("SmolLM2-135M-Instruct.Q8_0.gguf"))
        .args(["--ctx", "16000000", "--f32", "-p", "hi", "-n", "4"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("hearth:")).collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    // f32 keys: 16,000,000 positions × 3 KV heads × 64 dims × 4 bytes, past any GPU binding.
    for part in ["the KV cache of one layer needs", "(12288000000 bytes)", "over this GPU's max", "[adapter-limits]"] {
        assert!(lines[0].contains(part), "{part}: {}", lines[0]);
    }
    assert!(out.stdout.is_empty(), "generated text: {}", String::from_utf8_lossy(&out.stdout));
}

/// A chat template from a hostile file that loops without end stops on its fuel, within a
/// bounded heap (the render's output would otherwise grow without limit).
#[test]
fn an_endless_template_stops_on_its_fuel_within_a_heap_bound() {
    use hearth::chat::{ChatTemplate, Message, TemplateSource};
    let endless = "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}";
    let t = ChatTemplate::new(endless.into(), String::new(), String::new(), TemplateSource::File).unwrap();
    let (r, heap) = common::heap::peak(|| t.render(&[Message::new("user", "hi")], true));
    let e = r.unwrap_err();
    println!("endless template: {e} (heap peak {:.1} MiB)", heap as f64 / MIB as f64);
    assert!(e.to_string().contains("fuel"), "{e}");
    assert!(heap <= 16 * MIB, "{heap} bytes of heap");
}

/// `inspect` runs every check a load makes from the header: for every hostile file, and every
/// fixture (real models, the architecture fixtures, llama.cpp's vocabulary-only files of
/// architectures hearth does and does not run), its verdict is the load's outcome, and when
/// it says no, its reason is the load's error.
#[test]
fn inspect_verdict_equals_the_load_outcome() {
    let hostile = cases().into_iter().map(|c| (c.what.to_owned(), c.file, c.options));
    let dirs = [common::models_dir(), common::models_dir().join("arch"), common::models_dir().join("vocab")];
    let mut fixtures: Vec<std::path::PathBuf> = dirs
        .iter()
        .flat_map(|d| std::fs::read_dir(d).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 30, "{} fixture files", fixtures.len());
    let files = fixtures
        .into_iter()
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), File::OnDisk(p), LoadOptions::default()));
    // Each file is inspected and loaded on one of two threads (a load is single-threaded; one
    // thread left a 2-core machine's other core idle for a minute).
    let all: Vec<_> = hostile.map(|(what, file, options)| (what, File::Hostile(file), options)).chain(files).collect();
    let (first, second) = all.split_at(all.len() / 2);
    let (loaded, refused) = std::thread::scope(|scope| {
        let halves: Vec<_> =
            [first, second].into_iter().map(|half| scope.spawn(move || check_verdicts(half))).collect();
        halves.into_iter().map(|h| h.join().unwrap()).fold((0, 0), |(l, r), (a, b)| (l + a, r + b))
    });
    println!("{loaded} loaded, {refused} refused, inspect agreeing on each");
    // The five real models, SmolLM2 with a thinking template, the llama.cpp requantized and
    // every architecture fixture load; the hostile files and the vocabulary-only files do not.
    let arch = std::fs::read_dir(common::models_dir().join("arch"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "gguf"))
        .count();
    assert_eq!(loaded, 5 + 1 + common::LLAMA_QUANTIZE.len() + arch, "{loaded} loaded");
    assert!(refused >= 35, "{refused} refused");
}

/// A file of the verdict test: a hostile header (its bytes and the size it claims), or a
/// fixture read when its turn comes.
enum File {
    Hostile((Vec<u8>, u64)),
    OnDisk(std::path::PathBuf),
}

/// Inspects and loads each of `files`, checking that the verdict is the load's outcome; the
/// numbers loaded and refused.
fn check_verdicts(files: &[(String, File, LoadOptions)]) -> (usize, usize) {
    use hearth::session::inspect;
    let (mut loaded, mut refused) = (0, 0);
    for (what, file, options) in files {
        let (bytes, size) = match file {
            File::Hostile((bytes, size)) => (bytes.clone(), *size),
            File::OnDisk(path) => {
                let bytes = std::fs::read(path).unwrap();
                let size = bytes.len() as u64;
                (bytes, size)
            }
        };
        let source = || {
            let n = size.saturating_sub(bytes.len() as u64);
            ReadSource::new(std::io::Cursor::new(bytes.clone()).chain(std::io::repeat(0).take(n)), Some(size))
        };
        let verdict = pollster::block_on(inspect(source(), options));
        // Until the session is dropped, at the end of this turn.
        let _loading = GPU_COUNT.read().unwrap_or_else(|e| e.into_inner());
        let load = pollster::block_on(Session::load(source(), options, &mut |_, _, _| {}));
        match (&verdict, &load) {
            (Ok(v), Ok(_)) if v.fits => loaded += 1,
            (Ok(v), Err(e)) if !v.fits => {
                let reason = v.reason.clone().unwrap_or_default();
                assert!(reason.contains(&e.to_string()), "{what}: inspect says '{reason}', the load '{e}'");
                refused += 1;
            }
            // A header that cannot be read: both fail with the same error.
            (Err(i), Err(e)) => {
                assert_eq!(i.to_string(), e.to_string(), "{what}");
                refused += 1;
            }
            (v, l) => panic!(
                "{what}: inspect {:?}, load {:?}",
                v.as_ref().map(|v| (v.fits, v.reason.clone())),
                l.as_ref().map(|_| "loaded")
            ),
        }
        println!("{what}: {}", if load.is_ok() { "loads" } else { "refused" });
    }
    (loaded, refused)
}

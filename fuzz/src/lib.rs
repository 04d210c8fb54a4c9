//! The bodies of hearth's fuzz targets. libFuzzer runs them from `fuzz_targets/` (nightly,
//! `./build.sh fuzz`); `tests/fuzz_regressions.rs` includes this file and runs the inputs
//! committed under `fuzz/regressions/TARGET/` on stable, in `./build.sh test`.
//!
//! Each target feeds bytes a stranger controls to one entry point of the engine. A panic, an
//! abort, an allocation past libFuzzer's limit or a slow input is a finding; so is a broken
//! property asserted here (a prefix that parses differently from the whole file, an id
//! outside the vocabulary, a plan whose parts do not add up).

use std::path::PathBuf;
use std::sync::OnceLock;

use hearth::chat::{ChatTemplate, Message, TemplateSource};
use hearth::gguf::{Array, GgmlType, Gguf, GgufBuilder, GgufError, StrArray, Summary, Value};
use hearth::model::{DeviceBudget, MemoryPlan, ModelConfig, PlanTarget, caps, tensor_shapes};
use hearth::quant;
use hearth::source::{Reader, Source, SourceError};
use hearth::tokenizer::{StreamDecoder, Tokenizer};

/// A GGUF header read from a prefix of a file: a prefix parses to the same header as the whole
/// file or asks for more, never fails where the whole succeeds; the streaming reader, fed a
/// few bytes at a time, agrees with the one-shot parse.
pub fn gguf_prefix(data: &[u8]) {
    let size = data.len() as u64;
    let whole = Gguf::parse(data, size);
    // One cut per input, placed by the input's own bytes: across executions every prefix
    // length is tried, at a fraction of the cost of many cuts per input.
    let cut = data.iter().rev().take(8).fold(0usize, |a, &b| a.wrapping_mul(31).wrapping_add(usize::from(b)));
    for cut in [cut % (data.len() + 1)] {
        match Gguf::parse(&data[..cut], size) {
            Ok(g) => {
                let w = whole.as_ref().expect("a prefix parsed where the whole file does not");
                assert_eq!((g.data_offset(), g.tensors().len()), (w.data_offset(), w.tensors().len()));
            }
            Err(GgufError::NeedMore { needed }) => {
                assert!(needed > 0, "asked for 0 more bytes at {cut}");
                assert!(cut as u64 + needed <= size, "asked for {needed} bytes past {cut} of a {size}-byte file");
            }
            Err(e) => assert!(whole.is_err(), "a {cut}-byte prefix failed ({e}) where the whole file parses"),
        }
    }
    // From the input's end and length, not its start: a valid file starts with "GGUF", which
    // would fix both choices for every input that gets past the magic.
    let step = data.last().map_or(1, |b| usize::from(b % 7) + 1);
    let known = data.len().is_multiple_of(2);
    let streamed = pollster::block_on(Reader::new(Pieces { data, at: 0, step, known }).read_header());
    // Of a source that does not tell its size, tensor extents cannot be checked against it
    // (the load finds a short file when the data ends), so only a known size must agree.
    match (&whole, &streamed) {
        (Ok(w), Ok(s)) => assert_eq!(w.data_offset(), s.data_offset()),
        (Ok(_), Err(e)) if known => panic!("the streaming reader failed ({e}) where the whole file parses"),
        (Err(e), Ok(_)) if known => panic!("the streaming reader parsed what the one-shot parse refused ({e})"),
        _ => {}
    }
    if let Ok(g) = whole {
        let _ = Summary::new(&g);
    }
}

/// A whole file read through `std::io::Read`, as the CLI reads it, then everything built from
/// its header and the tensors' bytes: summary, configuration, memory plan, tokenizer, chat
/// template, and the dequantization of every small tensor of a supported type.
pub fn gguf_file(data: &[u8]) {
    let size = data.len() as u64;
    let read = Gguf::read(&mut std::io::Cursor::new(data), size);
    let parsed = Gguf::parse(data, size);
    assert_eq!(read.is_ok(), parsed.is_ok(), "read: {:?}, parse: {:?}", read.as_ref().err(), parsed.as_ref().err());
    let Ok(g) = read else { return };
    after_header(&g);
    for t in g.tensors().iter().take(64) {
        let range = g.tensor_range(t);
        assert!(range.start <= range.end && range.end <= size, "tensor '{}' at {range:?} of {size} bytes", t.name);
        let n = t.n_elements();
        if quant::is_supported(t.ty) && n <= 1 << 16 {
            let bytes = &data[range.start as usize..range.end as usize];
            let _ = quant::dequantize_to_vec(t.ty, bytes, n as usize);
        }
    }
}

/// Work every front end does with a parsed header.
fn after_header(g: &Gguf) {
    let _ = Summary::new(g);
    if let Ok(cfg) = ModelConfig::from_gguf(g)
        && let Ok(plan) = MemoryPlan::new(g, &cfg, 2048, 128, &PlanTarget::default_gpu(4))
    {
        plan_adds_up(&plan, &cfg, 4);
    }
    if let Ok(t) = Tokenizer::from_gguf(g)
        && let Ok(ids) = t.encode("Hello, world! 123 <|im_start|>user\n", true, true)
    {
        assert!(ids.iter().all(|&id| (id as usize) < t.n_vocab()));
        let _ = t.decode(&ids);
    }
    if let Ok(t) = ChatTemplate::from_gguf(g) {
        let _ = t.render(&conversation(), true);
    }
}

/// Hyper-parameters from hostile metadata: every configuration accepted is within the caps
/// and its tensor list can be built.
pub fn model_config(data: &[u8]) {
    let Some(g) = hostile_header(data, false) else { return };
    if let Ok(cfg) = ModelConfig::from_gguf(&g) {
        cfg.validate().expect("from_gguf returned a configuration validate refuses");
        assert!(cfg.n_layer <= caps::LAYERS && cfg.n_vocab <= caps::VOCAB && cfg.head_dim <= caps::HEAD_DIM);
        let shapes = tensor_shapes(&cfg);
        assert!(shapes.len() >= 2 + cfg.n_layer as usize * 9);
    }
}

/// The memory plan of a model with hostile hyper-parameters and tensor types, for a hostile
/// context, chunk and device: it adds up, and its verdict is consistent with its numbers.
pub fn memory_plan(data: &[u8]) {
    let Some(g) = hostile_header(data, true) else { return };
    let Ok(cfg) = ModelConfig::from_gguf(&g) else { return };
    let tail = data.len().saturating_sub(14);
    let word = |i: usize| data.get(tail + i..tail + i + 4).map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let (n_ctx, chunk) = (word(0), word(4) % 4096);
    let act = if data.last().is_some_and(|b| b % 2 == 0) { 2 } else { 4 };
    // Pages from 4 KiB up, so that hostile shapes page too.
    let target = PlanTarget {
        act,
        cpu_shapes: data.first().is_some_and(|b| b % 2 == 1),
        weight_page_bytes: u64::from(word(10).max(1)) << 12,
    };
    let Ok(plan) = MemoryPlan::new(&g, &cfg, n_ctx, chunk, &target) else { return };
    plan_adds_up(&plan, &cfg, act);
    let binding = u64::from(word(8).max(1)) << 4;
    let device = DeviceBudget { max_binding: binding, max_buffer: binding * 2, memory: Some(u64::from(word(2)) << 12) };
    match plan.check(&device) {
        Ok(()) => {
            assert!(plan.buffers.iter().all(|b| b.bytes <= binding) && plan.largest_row < binding);
            assert!(plan.total <= device.memory.unwrap_or(u64::MAX));
        }
        Err(e) => assert!(e.need > e.max, "{e}"),
    }
}

/// The plan against figures made here from the configuration alone: the KV caches (every
/// layer the context, a sliding-window layer a ring of window + chunk - 1 slots), no single
/// buffer larger than the whole, and the context and chunk the load would use.
fn plan_adds_up(plan: &MemoryPlan, cfg: &ModelConfig, act: u64) {
    let kvd = u64::from(cfg.n_kv_head) * u64::from(cfg.head_dim);
    let kv: u64 = (0..cfg.n_layer)
        .map(|l| {
            let slots = if cfg.is_local_layer(l) {
                (cfg.sliding_window + plan.max_chunk - 1).min(plan.context_length)
            } else {
                plan.context_length
            };
            2 * u64::from(slots) * kvd * act
        })
        .sum();
    assert_eq!(plan.kv_cache, kv, "KV caches");
    assert!(plan.buffers.iter().all(|b| b.bytes <= plan.total), "a buffer larger than the whole plan");
    assert!(plan.largest_row <= plan.weights, "a row larger than all the weights");
    assert!(plan.context_length >= 1 && plan.context_length <= cfg.max_context());
    assert!(plan.max_chunk >= 1 && plan.max_chunk <= plan.context_length);
}

/// Encoding and decoding arbitrary text and ids with the fixtures' two tokenizers (byte-level
/// BPE and SentencePiece-style): ids stay in the vocabulary, byte-level BPE round-trips.
pub fn tokenizer(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else { return };
    let tokenizers = fixture_tokenizers();
    let t = &tokenizers[usize::from(flags & 1)];
    let (add_special, parse_special) = (flags & 2 != 0, flags & 4 != 0);
    if flags & 8 == 0 {
        let text = String::from_utf8_lossy(rest);
        let Ok(ids) = t.encode(&text, add_special, parse_special) else { return };
        assert!(ids.iter().all(|&id| (id as usize) < t.n_vocab()), "an id past the vocabulary");
        let decoded = t.decode(&ids);
        if flags & 1 == 0 && !add_special && !parse_special {
            // A byte whose byte-level token the vocabulary lacks is dropped (SmolLM2 has none
            // for 0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, as llama.cpp drops them too); every
            // other byte comes back.
            let kept: Vec<u8> =
                text.bytes().filter(|&b| t.token_id(&byte_level_char(b).to_string()).is_some()).collect();
            assert_eq!(decoded, String::from_utf8_lossy(&kept), "byte-level BPE did not round-trip");
        }
    } else {
        let ids: Vec<u32> = rest.chunks(3).map(|c| c.iter().fold(0u32, |a, &b| a << 8 | u32::from(b))).collect();
        let _ = t.decode(&ids);
        let mut stream = StreamDecoder::new();
        let mut text = String::new();
        for &id in &ids {
            text += &stream.push(t.token_bytes(id));
        }
        text += &stream.finish();
        assert_eq!(text, t.decode(&ids), "streamed decoding differs from decoding at once");
    }
}

/// GPT-2's byte-level alphabet: the character that stands for byte `b` in a vocabulary.
fn byte_level_char(b: u8) -> char {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    if printable(b) {
        return char::from(b);
    }
    let rank = (0..b).filter(|&x| !printable(x)).count() as u32;
    char::from_u32(256 + rank).unwrap_or('\u{fffd}')
}

/// A chat template from a hostile file, rendered on a short conversation: an error or text,
/// in bounded time (fuel) and memory.
pub fn chat_template(data: &[u8]) {
    let source = String::from_utf8_lossy(data).into_owned();
    if let Ok(t) = ChatTemplate::new(source, "<s>".into(), "</s>".into(), TemplateSource::File) {
        let _ = t.render(&conversation(), true);
    }
}

fn conversation() -> Vec<Message> {
    vec![
        Message::new("system", "You are a helpful assistant."),
        Message::new("user", "What is the capital of France?"),
        Message::new("assistant", "Paris."),
        Message::new("user", "And of <b>Italy</b>?"),
    ]
}

/// A source that hands out `step` bytes per read, of a size it may not tell.
struct Pieces<'a> {
    data: &'a [u8],
    at: usize,
    step: usize,
    known: bool,
}

impl Source for Pieces<'_> {
    fn size(&self) -> Option<u64> {
        self.known.then_some(self.data.len() as u64)
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let n = buf.len().min(self.step).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// Architectures to start from (the fifth is not supported).
const ARCHS: [&str; 9] = ["llama", "qwen2", "qwen3", "gemma3", "mpt", "phi3", "gpt2", "falcon", "bloom"];

/// Keys a configuration reads, without the architecture prefix (`tokenizer.` keys are global).
const KEYS: [&str; 23] = [
    "block_count",
    "embedding_length",
    "feed_forward_length",
    "attention.head_count",
    "attention.head_count_kv",
    "attention.key_length",
    "attention.value_length",
    "vocab_size",
    "context_length",
    "attention.layer_norm_rms_epsilon",
    "rope.freq_base",
    "rope.dimension_count",
    "rope.scaling.type",
    "rope.scaling.factor",
    "attention.sliding_window",
    "tokenizer.ggml.bos_token_id",
    "tokenizer.ggml.eos_token_id",
    "tokenizer.ggml.tokens",
    "general.architecture",
    "general.alignment",
    "attention.layer_norm_epsilon",
    "rope.scaling.attn_factor",
    "rope.scaling.original_context_length",
];

/// A header made from `data`: byte 0 picks the architecture of a small valid model, then
/// records of 10 bytes (key, value type, 8 value bytes) override its metadata. With
/// `tensors`, every tensor the configuration asks for is declared (data absent) with types
/// from the bytes.
fn hostile_header(data: &[u8], tensors: bool) -> Option<Gguf> {
    let arch = ARCHS[usize::from(*data.first()?) % ARCHS.len()];
    let mut kv: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String(arch.into())),
        (format!("{arch}.block_count"), Value::U32(2)),
        (format!("{arch}.embedding_length"), Value::U32(64)),
        (format!("{arch}.feed_forward_length"), Value::U32(128)),
        (format!("{arch}.attention.head_count"), Value::U32(4)),
        (format!("{arch}.attention.head_count_kv"), Value::U32(2)),
        (format!("{arch}.vocab_size"), Value::U32(256)),
        (format!("{arch}.context_length"), Value::U32(512)),
    ];
    let records = data.get(1..)?.chunks_exact(10);
    for r in records.clone().take(32) {
        let name = KEYS[usize::from(r[0]) % KEYS.len()];
        let key = if name.contains('.') && (name.starts_with("tokenizer") || name.starts_with("general")) {
            name.to_owned()
        } else {
            format!("{arch}.{name}")
        };
        let raw = u64::from_le_bytes([r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9]]);
        let value = match r[1] % 9 {
            0 => Value::U32(raw as u32),
            1 => Value::I32(raw as i32),
            2 => Value::U64(raw),
            3 => Value::F32(f32::from_bits(raw as u32)),
            4 => Value::Bool(raw & 1 == 1),
            5 => Value::String(if raw % 2 == 0 { "linear".into() } else { raw.to_string() }),
            6 => Value::U8(raw as u8),
            7 => Value::F64(f64::from_bits(raw)),
            _ => {
                let mut words = StrArray::default();
                for i in 0..(raw % 300) {
                    words.push(format!("t{i}").as_bytes());
                }
                Value::Array(Array::String(words))
            }
        };
        match kv.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => kv.push((key, value)),
        }
    }
    let mut b = GgufBuilder::new();
    for (k, v) in kv {
        b = b.kv(&k, v);
    }
    if tensors {
        let g = parse(&b.build())?;
        let cfg = ModelConfig::from_gguf(&g).ok()?;
        let types: Vec<GgmlType> = data.iter().filter_map(|&x| GgmlType::from_id(u32::from(x % 40))).collect();
        for (i, (name, dims)) in tensor_shapes(&cfg).into_iter().enumerate() {
            let ty = if dims.len() == 1 { GgmlType::F32 } else { types.get(i % types.len().max(1)).copied()? };
            b = b.declare(&name, &dims, ty);
        }
        let (header, size) = b.build_header();
        return Gguf::parse(&header, size).ok();
    }
    parse(&b.build())
}

fn parse(bytes: &[u8]) -> Option<Gguf> {
    Gguf::parse(bytes, bytes.len() as u64).ok()
}

/// The fixtures' tokenizers: SmolLM2's byte-level BPE and Gemma 3's SentencePiece-style one,
/// read once per process from `HEARTH_MODELS` or the project's `models/`.
pub fn fixture_tokenizers() -> &'static [Tokenizer; 2] {
    static TOKENIZERS: OnceLock<[Tokenizer; 2]> = OnceLock::new();
    TOKENIZERS.get_or_init(|| {
        let load = |name: &str| {
            let path = models_dir().join(name);
            let mut file = std::fs::File::open(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (run ./build.sh models)", path.display()));
            let size = file.metadata().map(|m| m.len()).unwrap_or(0);
            let g = Gguf::read(&mut file, size).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            Tokenizer::from_gguf(&g).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        [load("SmolLM2-135M-Instruct.Q8_0.gguf"), load("gemma-3-270m-Q4_K_M.gguf")]
    })
}

/// The fixture folder: `HEARTH_MODELS`, or `models/` of the project this file belongs to.
pub fn models_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HEARTH_MODELS") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [here.join("models"), here.join("../models")].into_iter().find(|p| p.is_dir()).unwrap_or(here.join("models"))
}

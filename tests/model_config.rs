//! Model configuration from the real fixtures' metadata.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::gguf::{Gguf, GgufBuilder, Value};
use hearth::kernels::{GluKind, RopeLayout};
use hearth::model::{ConfigError, ModelConfig, RopeFactors};

fn config(name: &str) -> ModelConfig {
    let path = common::model(name);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    ModelConfig::from_gguf(&g).unwrap()
}

#[test]
fn smollm2_is_a_llama() {
    let c = config(common::SMOLLM2[0]);
    assert_eq!((c.n_layer, c.d_model, c.d_ff, c.n_head, c.n_kv_head, c.head_dim), (30, 576, 1536, 9, 3, 64));
    assert_eq!((c.n_vocab, c.n_ctx_train, c.rope_dims), (49152, 8192, 64));
    assert_eq!(c.rope_base, 100000.0);
    assert_eq!(c.norm_eps, 1e-5);
    assert_eq!((c.family.rope_layout, c.family.act), (RopeLayout::Normal, GluKind::Silu));
    let f = c.family;
    assert!(c.tied_embeddings && !f.qk_norm && !f.post_norms && c.layout.qkv_bias.is_none() && !f.scale_embeddings);
    assert!(!c.layout.fused_qkv && c.layout.rope_factors == RopeFactors::None);
    assert!(!c.is_local_layer(0));
}

#[test]
fn gemma3_flags_and_layer_pattern() {
    let c = config(common::GEMMA);
    assert_eq!((c.n_layer, c.d_model, c.d_ff, c.n_head, c.n_kv_head, c.head_dim), (18, 640, 2048, 4, 1, 256));
    assert_eq!((c.n_vocab, c.sliding_window), (262144, 512));
    assert_eq!((c.rope_base, c.rope_base_local), (1e6, 10000.0));
    assert_eq!((c.family.rope_layout, c.family.act), (RopeLayout::Neox, GluKind::Gelu));
    let f = c.family;
    assert!(c.tied_embeddings && f.qk_norm && f.post_norms && f.scale_embeddings && c.layout.qkv_bias.is_none());
    let local: Vec<bool> = (0..12).map(|l| c.is_local_layer(l)).collect();
    assert_eq!(local, [true, true, true, true, true, false, true, true, true, true, true, false]);
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let b = GgufBuilder::new().kv("general.architecture", Value::String("mamba".into())).build();
    let g = Gguf::parse(&b, b.len() as u64).unwrap();
    let e = ModelConfig::from_gguf(&g).unwrap_err();
    assert!(matches!(e, ConfigError::Unsupported(_)));
    assert_eq!(
        e.to_string(),
        "architecture 'mamba' is not supported (supported: llama, qwen2, qwen3, gemma3, phi3, gpt2, falcon, bloom, lfm2, qwen35, gemma4)"
    );
    let b = GgufBuilder::new().kv("general.architecture", Value::String("llama".into())).build();
    let g = Gguf::parse(&b, b.len() as u64).unwrap();
    let e = ModelConfig::from_gguf(&g).unwrap_err();
    assert!(e.to_string().contains("llama.embedding_length"), "{e}");
}

/// A small llama header with `overrides` replacing (or adding) metadata values.
fn hostile(overrides: &[(&str, Value)]) -> Result<ModelConfig, ConfigError> {
    let mut kv: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("llama.block_count", Value::U32(2)),
        ("llama.embedding_length", Value::U32(64)),
        ("llama.feed_forward_length", Value::U32(128)),
        ("llama.attention.head_count", Value::U32(4)),
        ("llama.attention.head_count_kv", Value::U32(2)),
        ("llama.vocab_size", Value::U32(100)),
        ("llama.context_length", Value::U32(512)),
    ];
    for (k, v) in overrides {
        match kv.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => kv.push((k, v.clone())),
        }
    }
    config_of(kv)
}

/// The configuration of a header holding these keys and no tensors.
fn config_of<'a>(kv: impl IntoIterator<Item = (&'a str, Value)>) -> Result<ModelConfig, ConfigError> {
    let mut b = GgufBuilder::new();
    for (k, v) in kv {
        b = b.kv(k, v);
    }
    let bytes = b.build();
    let g = Gguf::parse(&bytes, bytes.len() as u64).unwrap();
    ModelConfig::from_gguf(&g)
}

/// Hyper-parameters no real model has are refused with the key's name before anything is
/// sized from them (a block_count of 4e9 once reached Vec::with_capacity).
#[test]
fn hostile_hyper_parameters_name_their_key() {
    assert!(hostile(&[]).is_ok());
    let cases: &[(&str, Value, &str)] = &[
        ("llama.block_count", Value::U32(4_000_000_000), "'llama.block_count' is 4000000000: must be 1 to 1024"),
        ("llama.block_count", Value::U32(0), "'llama.block_count' is 0"),
        ("llama.embedding_length", Value::U32(1 << 20), "'llama.embedding_length' is 1048576: must be 8 to 131072"),
        ("llama.feed_forward_length", Value::U32(100), "'llama.feed_forward_length' is 100: must be a multiple of 8"),
        ("llama.attention.key_length", Value::U32(1024), "'llama.attention.key_length' is 1024: must be 2 to 512"),
        ("llama.rope.dimension_count", Value::U32(40), "'llama.rope.dimension_count' is 40: must be 2 to 16"),
        ("llama.vocab_size", Value::U32(1 << 30), "'llama.vocab_size' is 1073741824"),
        ("llama.context_length", Value::U32(0), "'llama.context_length' is 0"),
        ("llama.rope.freq_base", Value::F32(f32::NAN), "'llama.rope.freq_base' is NaN: must be a positive number"),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(-1.0), "layer_norm_rms_epsilon' is -1"),
        (
            "tokenizer.ggml.eos_token_id",
            Value::U32(100),
            "'tokenizer.ggml.eos_token_id' is 100: past the vocabulary of 100",
        ),
        ("tokenizer.ggml.bos_token_id", Value::U32(u32::MAX), "'tokenizer.ggml.bos_token_id' is 4294967295"),
    ];
    let wide = [("llama.attention.head_count", Value::U32(1000)), ("llama.attention.key_length", Value::U32(256))];
    let e = hostile(&wide).unwrap_err();
    assert!(e.to_string().contains("'heads × head dim' is 256000: must be at most 131072"), "{e}");
    for (key, value, message) in cases {
        let e = hostile(&[(key, value.clone())]).unwrap_err();
        assert!(matches!(e, ConfigError::OutOfRange { .. }), "{key}: {e:?}");
        assert!(e.to_string().contains(message), "{key}: {e}");
    }
}

/// The memory plan's KV caches, against figures made here: Gemma 3's sliding-window layers
/// keep a ring of window + chunk - 1 slots, its global layers the whole context.
#[test]
fn memory_plan_keeps_rings_for_sliding_window_layers() {
    use hearth::model::{MemoryPlan, PlanTarget};
    let path = common::model(common::GEMMA);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let c = ModelConfig::from_gguf(&g).unwrap();
    let (n_ctx, chunk, act) = (4096u64, 64u64, 2u64);
    let plan = MemoryPlan::new(&g, &c, n_ctx as u32, chunk as u32, &PlanTarget::default_gpu(act)).unwrap();
    let kvd = u64::from(c.n_kv_head * c.head_dim);
    // 18 layers: every sixth global (3), the others local (15) with a window of 512.
    let want = 3 * 2 * n_ctx * kvd * act + 15 * 2 * (512 + chunk - 1) * kvd * act;
    assert_eq!(plan.kv_cache, want);
}

/// LFM2's layer kinds from its per-layer KV head counts (0: a conv layer), and their state in
/// the plan: the attention layers' KV caches and the conv layers' rings of taps - 1 + chunk
/// positions, against figures made here.
#[test]
fn lfm2_layers_and_their_state() {
    use hearth::model::{MemoryPlan, PlanTarget};
    let path = common::model("arch/lfm2-q8_0.gguf");
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let c = ModelConfig::from_gguf(&g).unwrap();
    use hearth::model::LayerKind::{Attention, ShortConv};
    assert_eq!(c.layer_kinds, [ShortConv, Attention, ShortConv, Attention, ShortConv]);
    assert_eq!((c.n_kv_head, c.conv_taps, c.d_model), (4, 3, 256));
    assert!(c.family.qk_norm && c.family.output_norm == "token_embd_norm");
    let (n_ctx, chunk, act) = (1024u64, 64u64, 2u64);
    let plan = MemoryPlan::new(&g, &c, n_ctx as u32, chunk as u32, &PlanTarget::default_gpu(act)).unwrap();
    let kvd = u64::from(c.n_kv_head * c.head_dim);
    assert_eq!(plan.kv_cache, 2 * 2 * n_ctx * kvd * act);
    assert_eq!(plan.recurrent_state, 3 * (3 - 1 + chunk) * 256 * 4);
}

/// Qwen3.5's layer kinds (every `full_attention_interval`-th layer attends, the others are
/// gated delta nets) and their state in the plan: the attention layer's KV cache, and per delta
/// net a conv ring of taps - 1 + chunk positions over q, k, v and two snapshots of its states,
/// against figures made here from the fixture's sizes.
#[test]
fn qwen35_layers_and_their_state() {
    use hearth::model::LayerKind::{Attention, DeltaNet};
    use hearth::model::{DeltaNetDims, MemoryPlan, PlanTarget};
    let path = common::model("arch/qwen35-tied-f32.gguf");
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let c = ModelConfig::from_gguf(&g).unwrap();
    assert_eq!(c.layer_kinds, [DeltaNet, DeltaNet, DeltaNet, Attention]);
    assert_eq!(c.delta_net, Some(DeltaNetDims { n_k_heads: 2, n_v_heads: 4, head_dim: 32 }));
    assert_eq!((c.conv_taps, c.head_dim, c.rope_dims, c.family.ffn_norm), (4, 64, 16, "post_attention_norm"));
    let (n_ctx, chunk, act) = (1024u64, 64u64, 2u64);
    let plan = MemoryPlan::new(&g, &c, n_ctx as u32, chunk as u32, &PlanTarget::default_gpu(act)).unwrap();
    let kvd = u64::from(c.n_kv_head * c.head_dim);
    let (channels, states) = ((2 * 2 + 4) * 32, 2 * 4 * 32 * 32 * 4);
    assert_eq!(plan.kv_cache, 2 * n_ctx * kvd * act);
    assert_eq!(plan.recurrent_state, 3 * ((4 - 1 + chunk) * channels * 4 + states));
}

/// Per-layer KV head counts: only a family with conv layers takes a 0, and hearth runs one
/// count for all attention layers; a count list of the wrong length is refused by name.
#[test]
fn per_layer_kv_heads_are_checked() {
    let per_layer = |v: Vec<u32>| ("llama.attention.head_count_kv", Value::Array(hearth::gguf::Array::U32(v)));
    assert_eq!(hostile(&[per_layer(vec![2, 2])]).unwrap().n_kv_head, 2);
    let e = hostile(&[per_layer(vec![2, 0])]).unwrap_err();
    assert!(e.to_string().contains("a layer with 0 KV heads in a llama model"), "{e}");
    let e = hostile(&[per_layer(vec![2, 4])]).unwrap_err();
    assert!(e.to_string().contains("a different number of KV heads per layer"), "{e}");
    let e = hostile(&[per_layer(vec![2, 2, 2])]).unwrap_err();
    assert!(e.to_string().contains("llama.attention.head_count_kv"), "{e}");
}

/// Gemma 4's layers: sliding-window and global layers of their own head and rotated sizes,
/// the last two reading the KV caches of the last local and global layer that keep one, FFNs
/// of their own widths, per-layer embeddings, unscaled scores and soft-capped logits; in the
/// plan, KV caches for the two layers that keep them (the local one a ring of window + chunk
/// - 1 slots), against figures made here from the fixture's sizes.
#[test]
fn gemma4_layers_and_their_shared_caches() {
    use hearth::model::{AttnDims, MemoryPlan, PlanTarget};
    let path = common::model("arch/gemma4-e2b-tied-f32.gguf");
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let c = ModelConfig::from_gguf(&g).unwrap();
    assert_eq!(c.local_layers, [true, false, true, false]);
    assert_eq!(c.attn_dims(1), AttnDims { n_kv_head: 1, head_dim: 64, rope_dims: 64 });
    assert_eq!(c.attn_dims(2), AttnDims { n_kv_head: 1, head_dim: 32, rope_dims: 32 });
    assert_eq!((c.rope_base, c.rope_base_local, c.sliding_window), (1e6, 1e4, 16));
    assert_eq!((c.ff_widths.as_slice(), c.d_ff), (&[128, 128, 256, 256][..], 256));
    assert_eq!((c.n_kv_layers, c.kv_layer(0), c.kv_layer(1), c.kv_layer(2), c.kv_layer(3)), (2, 0, 1, 0, 1));
    assert_eq!((c.per_layer_dim, c.final_softcap, c.attn_scale), (8, 15.0, 1.0));
    assert!(c.layout.layer_output_scale && c.tied_embeddings);
    let (n_ctx, chunk, act) = (1024u64, 64u64, 2u64);
    let plan = MemoryPlan::new(&g, &c, n_ctx as u32, chunk as u32, &PlanTarget::default_gpu(act)).unwrap();
    assert_eq!(plan.kv_cache, 2 * ((16 + chunk - 1) * 32 + n_ctx * 64) * act);
    assert_eq!(plan.recurrent_state, 0);
}

/// A Gemma 4 header whose shared layers would read caches of the wrong kind, or with a
/// sliding-window flag list of the wrong length, is refused before anything is sized.
#[test]
fn gemma4_shared_caches_must_be_of_their_kind() {
    use hearth::gguf::Array;
    let gemma4 = |pattern: Vec<bool>, shared: u32| {
        config_of([
            ("general.architecture", Value::String("gemma4".into())),
            ("gemma4.block_count", Value::U32(4)),
            ("gemma4.embedding_length", Value::U32(64)),
            ("gemma4.feed_forward_length", Value::U32(128)),
            ("gemma4.attention.head_count", Value::U32(2)),
            ("gemma4.attention.head_count_kv", Value::U32(1)),
            ("gemma4.attention.key_length", Value::U32(64)),
            ("gemma4.attention.key_length_swa", Value::U32(32)),
            ("gemma4.rope.dimension_count_swa", Value::U32(32)),
            ("gemma4.attention.sliding_window", Value::U32(16)),
            ("gemma4.attention.sliding_window_pattern", Value::Array(Array::Bool(pattern))),
            ("gemma4.attention.shared_kv_layers", Value::U32(shared)),
            ("gemma4.vocab_size", Value::U32(100)),
        ])
    };
    let c = gemma4(vec![true, false, true, false], 2).unwrap();
    assert_eq!((c.kv_layer(2), c.kv_layer(3)), (0, 1));
    let e = gemma4(vec![true, true, false, false], 2).unwrap_err();
    assert!(e.to_string().contains("2 layers sharing the KV caches of layers 0 (local) and 1 (global)"), "{e}");
    let e = gemma4(vec![true, false, true, false], 3).unwrap_err();
    assert!(e.to_string().contains("3 layers sharing"), "{e}");
    let e = gemma4(vec![true, false, true, false], 4).unwrap_err();
    assert!(e.to_string().contains("'gemma4.attention.shared_kv_layers' is 4: must be below 4"), "{e}");
    let e = gemma4(vec![true, false, true], 0).unwrap_err();
    assert!(e.to_string().contains("'gemma4.attention.sliding_window_pattern' has 3 entries for 4 layers"), "{e}");
}

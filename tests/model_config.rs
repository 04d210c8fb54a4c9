//! Model configuration from the real fixtures' metadata.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::gguf::{Gguf, GgufBuilder, Value};
use hearth::kernels::{GluKind, RopeLayout};
use hearth::model::{ConfigError, ModelConfig};

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
    assert_eq!((c.rope_layout, c.glu), (RopeLayout::Normal, GluKind::Silu));
    assert!(c.tied_embeddings && !c.qk_norm && !c.post_norms && !c.qkv_bias && !c.scale_embeddings);
    assert!(!c.is_local_layer(0));
}

#[test]
fn gemma3_flags_and_layer_pattern() {
    let c = config(common::GEMMA);
    assert_eq!((c.n_layer, c.d_model, c.d_ff, c.n_head, c.n_kv_head, c.head_dim), (18, 640, 2048, 4, 1, 256));
    assert_eq!((c.n_vocab, c.sliding_window), (262144, 512));
    assert_eq!((c.rope_base, c.rope_base_local), (1e6, 10000.0));
    assert_eq!((c.rope_layout, c.glu), (RopeLayout::Neox, GluKind::Gelu));
    assert!(c.tied_embeddings && c.qk_norm && c.post_norms && c.scale_embeddings && !c.qkv_bias);
    let local: Vec<bool> = (0..12).map(|l| c.is_local_layer(l)).collect();
    assert_eq!(local, [true, true, true, true, true, false, true, true, true, true, true, false]);
}

#[test]
fn unsupported_architecture_lists_the_supported_ones() {
    let b = GgufBuilder::new().kv("general.architecture", Value::String("mamba".into())).build();
    let g = Gguf::parse(&b, b.len() as u64).unwrap();
    let e = ModelConfig::from_gguf(&g).unwrap_err();
    assert!(matches!(e, ConfigError::Unsupported(_)));
    assert_eq!(e.to_string(), "architecture 'mamba' is not supported (supported: llama, qwen2, qwen3, gemma3)");
    let b = GgufBuilder::new().kv("general.architecture", Value::String("llama".into())).build();
    let g = Gguf::parse(&b, b.len() as u64).unwrap();
    let e = ModelConfig::from_gguf(&g).unwrap_err();
    assert!(e.to_string().contains("llama.embedding_length"), "{e}");
}

//! Tokenizers built from GGUF metadata against llama.cpp's ids.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::gguf::Gguf;
use hearth::tokenizer::{StreamDecoder, Tokenizer};

fn tokenizer(file: &str) -> Tokenizer {
    let path = common::model(file);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    Tokenizer::from_gguf(&g).unwrap()
}

#[test]
fn smollm2_prompts_give_llama_cpp_ids() {
    let t = tokenizer(common::SMOLLM2[0]);
    for c in common::reference::cases("smollm2-F16") {
        let ids = t.encode(&c.prompt, false, true).unwrap();
        assert_eq!(ids, c.prompt_ids, "prompt {:?}", c.prompt);
        // Round trip (control tokens decode to nothing, so compare the plain case only).
        if !c.prompt.contains("<|") {
            assert_eq!(t.decode(&ids), c.prompt);
        }
    }
    assert!(t.end_of_generation.contains(&2), "<|im_end|> ends a turn");
    assert!(!t.add_bos);
}

#[test]
fn gemma_prompt_gives_llama_cpp_ids() {
    let t = tokenizer(common::GEMMA);
    for c in common::reference::cases("gemma3-270m-Q4_K_M") {
        let ids = t.encode(&c.prompt, true, false).unwrap();
        assert_eq!(ids, c.prompt_ids, "prompt {:?}", c.prompt);
        assert_eq!(t.decode(&ids[1..]), c.prompt);
    }
}

#[test]
fn streaming_decode_never_splits_a_character() {
    let t = tokenizer(common::SMOLLM2[0]);
    let text = "Grüße, 世界! €5 — naïve café 🙂";
    let ids = t.encode(text, false, false).unwrap();
    let mut d = StreamDecoder::new();
    let mut out = String::new();
    for id in ids {
        let piece = d.push(t.token_bytes(id));
        assert!(!piece.contains('\u{FFFD}'), "a broken character was emitted");
        out.push_str(&piece);
    }
    out.push_str(&d.finish());
    assert_eq!(out, text);
}

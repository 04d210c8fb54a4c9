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

/// llama.cpp's vocab test files: inputs separated by `__ggml_vocab_test__` lines, expected
/// ids one line per input.
fn vocab_cases(name: &str) -> (Tokenizer, Vec<(String, Vec<u32>)>) {
    let dir = common::models_dir().join("vocab");
    let t = tokenizer(&format!("vocab/ggml-vocab-{name}.gguf"));
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp"))).unwrap();
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out"))).unwrap();
    let inputs: Vec<&str> = inp.split("\n__ggml_vocab_test__\n").collect();
    let outputs: Vec<Vec<u32>> =
        out.lines().map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect()).collect();
    let n = outputs.len();
    assert!(n > 10 && inputs.len() >= n, "{name}: {} inputs, {n} outputs", inputs.len());
    (t, inputs.into_iter().take(n).map(str::to_owned).zip(outputs).collect())
}

fn check_vocab(name: &str) {
    let (t, cases) = vocab_cases(name);
    let mut failures = Vec::new();
    for (text, want) in &cases {
        let got = t.encode(text, false, false).unwrap();
        if &got != want {
            failures.push(format!("{text:?}: got {got:?}, want {want:?}"));
        }
        // Round trip (SentencePiece vocabularies prepend one space).
        let back = t.decode(&got);
        if back != *text && back != format!(" {text}") {
            failures.push(format!("{text:?}: decodes back to {back:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{name}: {} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// Every BPE and SentencePiece vocabulary llama.cpp ships with test pairs.
macro_rules! vocab_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check_vocab($name);
            }
        )*
    };
}

vocab_tests! {
    vocab_command_r => "command-r",
    vocab_deepseek_coder => "deepseek-coder",
    vocab_deepseek_llm => "deepseek-llm",
    vocab_falcon => "falcon",
    vocab_gemma_4 => "gemma-4",
    vocab_gpt_2 => "gpt-2",
    vocab_llama_bpe => "llama-bpe",
    vocab_llama_spm => "llama-spm",
    vocab_mpt => "mpt",
    vocab_phi_3 => "phi-3",
    vocab_qwen2 => "qwen2",
    vocab_qwen35 => "qwen35",
    vocab_refact => "refact",
    vocab_starcoder => "starcoder",
}

/// WordPiece (BERT's) stays out, refused by name.
#[test]
fn wordpiece_is_refused_by_name() {
    let path = common::model("vocab/ggml-vocab-bert-bge.gguf");
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let e = Tokenizer::from_gguf(&g).err().expect("a WordPiece vocabulary is refused");
    assert_eq!(e.to_string(), "tokenizer model 'bert' is not supported (supported: gpt2, gemma4, llama)");
}

/// Every pre-tokenizer of the table compiles, and every name llama.cpp knows is in it once.
#[test]
fn every_pre_tokenizer_compiles() {
    use hearth::tokenizer::pretokenize::{PRE_TOKENIZERS, lookup};
    use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
    let mut names = std::collections::HashSet::new();
    for pre in PRE_TOKENIZERS {
        for name in pre.names {
            assert!(names.insert(*name), "'{name}' is in the table twice");
            assert_eq!(lookup(name).is_ok(), pre.refused.is_none(), "{name}");
        }
        for re in pre.regexes {
            Split::new(SplitPattern::Regex((*re).to_owned()), tokenizers::SplitDelimiterBehavior::Isolated, false)
                .unwrap_or_else(|e| panic!("{:?}: {re}: {e}", pre.names));
        }
    }
    assert!(names.len() >= 90, "{} names", names.len());
    assert!(lookup("deepseek-r1-qwen").is_ok() && lookup("no-such-pre").is_err());
}

/// A tokenizer.json (here: SmolLM2's GGUF tokenizer written out as one) gives the same ids.
#[test]
fn tokenizer_json_gives_the_same_ids() {
    let t = tokenizer(common::SMOLLM2[0]);
    let json = t.to_json().unwrap();
    let path = common::model(common::SMOLLM2[0]);
    let size = std::fs::metadata(&path).unwrap().len();
    let g = Gguf::read(&mut std::fs::File::open(&path).unwrap(), size).unwrap();
    let j = Tokenizer::from_json(json.as_bytes(), Some(&g)).unwrap();
    assert_eq!(j.n_vocab(), t.n_vocab());
    for c in common::reference::cases("smollm2-F16") {
        assert_eq!(j.encode(&c.prompt, false, true).unwrap(), c.prompt_ids);
    }
    assert_eq!(j.decode(&[6403, 1980, 253, 655]), "Once upon a time");
    assert!(j.end_of_generation.contains(&2));
    assert!(Tokenizer::from_json(b"{not json", None).is_err());
}

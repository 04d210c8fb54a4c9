//! Chat templates: the models' own (rendered with minijinja) and hearth's built-in ones.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::chat::{ChatTemplate, Message, TemplateSource};
use hearth::tokenizer::Tokenizer;

const SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";
const USER: &str = "What is the capital of France?";

#[test]
fn smollm2_template_gives_reference_case_1_ids() {
    let g = common::header(common::SMOLLM2[0]);
    let t = ChatTemplate::from_gguf(&g).unwrap();
    assert_eq!(t.source, TemplateSource::File);
    let text = t.render(&[Message::new("system", SYSTEM), Message::new("user", USER)], true).unwrap();
    let ids = Tokenizer::from_gguf(&g).unwrap().encode(&text, !t.renders_bos(&text), true).unwrap();
    assert_eq!(ids, common::reference::cases("smollm2-F16")[1].prompt_ids);
}

#[test]
fn qwen2_and_phi3_templates_from_their_files() {
    let t = ChatTemplate::from_gguf(&common::header("vocab/ggml-vocab-qwen2.gguf")).unwrap();
    let text = t.render(&[Message::new("user", "Hi")], true).unwrap();
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    );
    let t = ChatTemplate::from_gguf(&common::header("vocab/ggml-vocab-phi-3.gguf")).unwrap();
    let text = t.render(&[Message::new("user", "Hi"), Message::new("assistant", "Hello")], false).unwrap();
    assert_eq!(text, "<s><|user|>\nHi<|end|>\n<|assistant|>\nHello<|end|>\n");
}

#[test]
fn gemma_has_no_template_and_gets_the_built_in_one() {
    let g = common::header(common::GEMMA);
    let t = ChatTemplate::from_gguf(&g).unwrap();
    assert_eq!(t.source, TemplateSource::BuiltIn("gemma"));
    let messages =
        [Message::new("system", "Be brief."), Message::new("user", " Hi "), Message::new("assistant", "Hello!")];
    let text = t.render(&messages, true).unwrap();
    assert_eq!(
        text,
        "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello!<end_of_turn>\n<start_of_turn>model\n"
    );
    assert!(t.renders_bos(&text));
    let ids = Tokenizer::from_gguf(&g).unwrap().encode(&text, false, true).unwrap();
    assert_eq!(ids[0], 2, "<bos> once");
    assert_ne!(ids[1], 2);
}

#[test]
fn built_in_llama3_and_chatml() {
    let llama3 = ChatTemplate::new(
        hearth::chat::LLAMA3.into(),
        "<|begin_of_text|>".into(),
        "<|eot_id|>".into(),
        TemplateSource::BuiltIn("llama3"),
    )
    .unwrap();
    assert_eq!(
        llama3.render(&[Message::new("user", "Hi")], true).unwrap(),
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
    let chatml =
        ChatTemplate::new(hearth::chat::CHATML.into(), String::new(), String::new(), TemplateSource::BuiltIn("chatml"))
            .unwrap();
    assert_eq!(chatml.render(&[Message::new("user", "Hi")], false).unwrap(), "<|im_start|>user\nHi<|im_end|>\n");
}

#[test]
fn template_errors_are_readable() {
    let t = ChatTemplate::new(
        "{{ raise_exception('roles must alternate') }}".into(),
        String::new(),
        String::new(),
        TemplateSource::File,
    )
    .unwrap();
    let e = t.render(&[], true).unwrap_err();
    assert!(e.to_string().contains("roles must alternate"), "{e}");
    assert!(ChatTemplate::new("{% for %}".into(), String::new(), String::new(), TemplateSource::File).is_err());
}

/// `hearth run --chat` with case 1's system and user messages prompts with case 1's ids.
#[test]
fn cli_run_chat_uses_the_reference_prompt_ids() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hearth"))
        .args(["run", "-m"])
        .arg(common::model("SmolLM2-135M-Instruct.Q4_0.gguf"))
        .args(["--chat", "--system", SYSTEM, "-p", USER, "-n", "2", "--temperature", "0", "--json", "--ctx", "128"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let ids: Vec<u32> =
        last["prompt_token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(ids, common::reference::cases("smollm2-Q4_0")[1].prompt_ids);
    assert_eq!(last["object"], "chat.completion");
    assert_eq!(last["usage"]["completion_tokens"], 2);
    assert!(last["usage"]["extra"]["time_to_first_token_s"].as_f64().unwrap() > 0.0);
}

/// A template from a hostile file cannot run for as long as it likes: each render has fuel,
/// and a long real conversation stays far inside it.
#[test]
fn templates_run_on_bounded_fuel() {
    let endless = "{% for i in range(100000) %}{% for j in range(100000) %}{{ j }}{% endfor %}{% endfor %}";
    let t = ChatTemplate::new(endless.into(), String::new(), String::new(), TemplateSource::File).unwrap();
    let start = std::time::Instant::now();
    let e = t.render(&[Message::new("user", "hi")], true).unwrap_err();
    assert!(e.to_string().contains("fuel"), "{e}");
    assert!(start.elapsed().as_secs() < 10, "stopped after {:?}", start.elapsed());

    let t = ChatTemplate::from_gguf(&common::header(common::SMOLLM2[0])).unwrap();
    let long: Vec<Message> = (0..400)
        .map(|i| Message::new(if i % 2 == 0 { "user" } else { "assistant" }, "a message of a long conversation"))
        .collect();
    assert!(t.render(&long, true).is_ok());
}

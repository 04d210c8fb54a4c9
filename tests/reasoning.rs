//! Reasoning apart from the answer: the splitter on streamed text (tags cut anywhere), and the
//! request layer on SmolLM2 with templates that think as the R1 distills' (the prompt opens
//! `<think>`) and Qwen3's (`enable_thinking` through `chat_template_kwargs`) do.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use hearth::chat::reasoning::{ReasoningSplitter, Split};
use hearth::engine::Cancel;
use hearth::session::{ChatChunk, LoadOptions, Request, Session};
use hearth::source::ReadSource;
use serde_json::{Value, json};

/// The whole text through a splitter in the given pieces.
fn split(opened: bool, pieces: &[&str]) -> (Split, bool, Vec<Split>) {
    let mut s = ReasoningSplitter::new(opened);
    let mut all = Split::default();
    let mut steps = Vec::new();
    for piece in pieces.iter().copied() {
        let step = s.push(piece);
        all.reasoning.push_str(&step.reasoning);
        all.content.push_str(&step.content);
        steps.push(step);
    }
    let tail = s.finish();
    all.reasoning.push_str(&tail.reasoning);
    all.content.push_str(&tail.content);
    (all, s.saw_reasoning(), steps)
}

#[test]
fn the_splitter_holds_back_cut_tags_and_trims_around_them() {
    // Opened by the prompt; the closing tag cut in two.
    let (all, seen, steps) = split(true, &["Let me", " think.\n", "\n</th", "ink>\n\nThe answer", " is 4."]);
    assert_eq!(all, Split { reasoning: "Let me think.".into(), content: "The answer is 4.".into() });
    assert!(seen);
    assert!(steps.iter().all(|s| !s.reasoning.contains('<')), "{steps:?}");
    // Opened by the reply, after blanks, the opening tag cut in two.
    let (all, seen, _) = split(false, &["\n<thi", "nk>\nhmm</think>", "Yes"]);
    assert_eq!(all, Split { reasoning: "hmm".into(), content: "Yes".into() });
    assert!(seen);
    // A reply that does not open with the tag is all content, tags and all.
    let (all, seen, _) = split(false, &["Hello", " <think> world"]);
    assert_eq!(all, Split { reasoning: String::new(), content: "Hello <think> world".into() });
    assert!(!seen);
    // Cut before the reasoning closed: all of it is reasoning.
    let (all, _, _) = split(true, &["abc", " de "]);
    assert_eq!(all, Split { reasoning: "abc de".into(), content: String::new() });
    // Any two pieces give what one piece gives.
    let text = "<think>\nA b </ c\n</think>\n\nC <d> é";
    let (whole, _, _) = split(false, &[text]);
    assert_eq!(whole, Split { reasoning: "A b </ c".into(), content: "C <d> é".into() });
    for (at, _) in text.char_indices().skip(1) {
        assert_eq!(split(false, &[&text[..at], &text[at..]]).0, whole, "cut at {at}");
    }
}

/// ChatML whose generation prompt opens the reasoning, as the DeepSeek-R1 distills' does.
const R1_STYLE: &str = "{% for m in messages %}{% set content = m['content'] %}{% if m['role'] == 'assistant' and '</think>' in content %}{% set content = content.split('</think>')[-1] | trim %}{% endif %}{{ '<|im_start|>' + m['role'] + '\\n' + content + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n<think>\\n' }}{% endif %}";

/// ChatML that closes an empty reasoning when `enable_thinking` is false, as Qwen3's does.
const QWEN3_STYLE: &str = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% if enable_thinking is defined and enable_thinking is false %}{{ '<think>\\n\\n</think>\\n\\n' }}{% endif %}{% endif %}";

fn load(template: &str) -> Session {
    let source = ReadSource::open(&common::model("SmolLM2-135M-Instruct.Q4_0.gguf")).unwrap();
    let opts = LoadOptions { context_length: 256, chat_template: Some(template.into()), ..LoadOptions::default() };
    pollster::block_on(Session::load(source, &opts, &mut |_, _, _| {})).unwrap()
}

/// The response as JSON and its stream's reasoning and content, concatenated.
fn chat(s: &mut Session, json: Value) -> (Value, String, String) {
    let req = Request::from_json(&json.to_string()).unwrap();
    let mut chunks: Vec<ChatChunk> = Vec::new();
    let out = pollster::block_on(s.chat(&req, &Cancel::new(), &mut |c| chunks.push(c.clone()))).unwrap();
    let v = serde_json::to_value(&out).unwrap();
    let (mut reasoning, mut content) = (String::new(), String::new());
    for c in chunks.iter().flat_map(|c| &c.choices) {
        reasoning.push_str(c.delta.reasoning_content.as_deref().unwrap_or_default());
        content.push_str(c.delta.content.as_deref().unwrap_or_default());
    }
    (v, reasoning, content)
}

fn user(text: &str) -> Value {
    json!([{"role": "user", "content": text}])
}

#[test]
fn a_prompt_that_opens_reasoning_gives_reasoning_content() {
    let mut s = load(R1_STYLE);
    let base = json!({"messages": user("What is 2+2?"), "temperature": 0, "max_tokens": 8, "stream": true});
    let mut as_written = base.clone();
    as_written["reasoning_format"] = json!("none");
    let (raw, _, _) = chat(&mut s, as_written);
    let raw_text = raw["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    assert!(raw["choices"][0]["message"].get("reasoning_content").is_none(), "{raw}");
    // The same tokens, split: the reply never closed its reasoning, so all of it is reasoning.
    let (v, streamed_reasoning, streamed_content) = chat(&mut s, base.clone());
    let message = &v["choices"][0]["message"];
    assert_eq!(message["reasoning_content"], raw_text.trim(), "{v}");
    assert_eq!(message["content"], "", "{v}");
    assert_eq!(streamed_reasoning, raw_text.trim());
    assert_eq!(streamed_content, "");
    assert_eq!(v["usage"]["completion_tokens"], 8);
    // A history's reasoning goes back through the template, which drops it as R1's does.
    let history = json!([{"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "<think>\nsome thought\n</think>\n\nHello!", "reasoning_content": "x"},
        {"role": "user", "content": "What is 2+2?"}]);
    let ids = s.chat_prompt_ids(&Request::from_json(&json!({"messages": history}).to_string()).unwrap()).unwrap();
    let text = s.tokenizer().decode(&ids);
    assert!(text.contains("assistant\nHello!\n") && !text.contains("some thought"), "{text}");
}

#[test]
fn a_reply_that_opens_reasoning_is_split_and_thinking_can_be_turned_off() {
    let mut s = load(QWEN3_STYLE);
    // A grammar makes SmolLM2 write what a thinking model writes.
    let lark = r#"start: "<think>\n" /[a-z ]{3,24}/ "\n</think>\n\n" /[A-Z][a-z ]{2,24}/ "."
"#;
    let (v, streamed_reasoning, streamed_content) = chat(
        &mut s,
        json!({"messages": user("What is 2+2?"), "temperature": 0, "max_tokens": 48, "stream": true,
            "response_format": {"type": "grammar", "grammar": lark}}),
    );
    let message = &v["choices"][0]["message"];
    let (reasoning, content) = (message["reasoning_content"].as_str().unwrap(), message["content"].as_str().unwrap());
    assert!(!reasoning.is_empty() && reasoning.chars().all(|c| c.is_ascii_lowercase() || c == ' '), "{v}");
    assert!(content.starts_with(|c: char| c.is_ascii_uppercase()) && content.ends_with('.'), "{v}");
    assert_eq!((streamed_reasoning.as_str(), streamed_content.as_str()), (reasoning, content));
    // enable_thinking false: the template closes an empty reasoning in the prompt.
    let ask = |kwargs: Value| {
        let r = json!({"messages": user("What is 2+2?"), "chat_template_kwargs": kwargs});
        s.chat_prompt_ids(&Request::from_json(&r.to_string()).unwrap())
    };
    let on = ask(json!({})).unwrap();
    let off = ask(json!({"enable_thinking": false})).unwrap();
    let text = s.tokenizer().decode(&off);
    assert!(off.len() > on.len() && text.ends_with("assistant\n<think>\n\n</think>\n\n"), "{text}");
    let e = ask(json!({"messages": []})).unwrap_err();
    assert!(e.to_string().contains("cannot set `messages`"), "{e}");
}

//! Tool calling: prompts with tools rendered as llama.cpp renders them (references made by
//! `./build.sh tool-references` from llama-server's `/apply-template`), the grammars and the
//! parser of each format, and calls made by a real model (SmolLM2, generic format).
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::sync::Arc;

use hearth::chat::tools::ParsedReply;
use hearth::chat::{ChatTemplate, Message, Tool, ToolCall, ToolChoice, ToolFormat, ToolSetup};
use hearth::grammar::{Grammar, Grammars};
use hearth::session::Request;
use hearth::tokenizer::Tokenizer;
use serde_json::Value;

fn json(path: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

const TEMPLATES: [&str; 5] = ["qwen2.5", "llama3.1", "llama3.2", "mistral-nemo", "hermes3"];

/// Each reference's conversations, with and without tools, through the request layer and the
/// template: the prompt llama.cpp rendered, byte for byte (llama.cpp drops the BOS text it
/// adds as a token; hearth keeps the text and adds no token, the same ids).
#[test]
fn prompts_with_tools_render_as_llama_cpp_renders_them() {
    let cases = json("tests/tool_calls/cases.json");
    for name in TEMPLATES {
        let r = json(&format!("tests/tool_calls/reference/{name}.json"));
        let g = common::header(&format!("arch/{}", r["fixture"].as_str().unwrap()));
        let template = ChatTemplate::from_gguf_or(&g, Some(r["template"].as_str().unwrap().to_owned())).unwrap();
        let add_bos = Tokenizer::from_gguf(&g).unwrap().add_bos;
        let now = r["unix_time"].as_u64().unwrap();
        for render in r["renders"].as_array().unwrap() {
            let conversation = render["conversation"].as_str().unwrap();
            let mut body = serde_json::json!({"messages": cases["conversations"][conversation]});
            if render["tools"].as_bool().unwrap() {
                body["tools"] = cases["tools"].clone();
            }
            let req = Request::from_json(&body.to_string()).unwrap();
            let (tools, _, _) = req.tools().unwrap();
            let got = template.render_with(&req.chat_messages().unwrap(), &tools, true, now).unwrap();
            let got = match template.renders_bos(&got) {
                true if add_bos => got[template.bos_text().len()..].to_owned(),
                _ => got,
            };
            let want = render["prompt"].as_str().unwrap();
            assert_eq!(got, want, "{name}, {conversation}, tools: {}", render["tools"]);
        }
    }
}

/// A reference's template with its fixture's tokenizer.
fn template_of(name: &str) -> (ChatTemplate, Arc<Tokenizer>) {
    let r = json(&format!("tests/tool_calls/reference/{name}.json"));
    let g = common::header(&format!("arch/{}", r["fixture"].as_str().unwrap()));
    let template = ChatTemplate::from_gguf_or(&g, Some(r["template"].as_str().unwrap().to_owned())).unwrap();
    (template, Arc::new(Tokenizer::from_gguf(&g).unwrap()))
}

fn tools() -> Vec<Tool> {
    let body = serde_json::json!({"messages": [{"role": "user", "content": "x"}], "tools": json("tests/tool_calls/cases.json")["tools"]});
    Request::from_json(&body.to_string()).unwrap().tools().unwrap().0
}

/// Whether `reply` is a sentence of the setup's grammar, written as the engine writes under
/// it: the tokens the grammar forces where it forces some, else the longest allowed token that
/// spells the reply's next bytes; the end must be allowed after the last.
fn accepts(setup: &ToolSetup, tokenizer: &Arc<Tokenizer>, reply: &str) -> bool {
    let grammars = Grammars::new(tokenizer.clone(), tokenizer.n_vocab() as u32).unwrap();
    let mut c = grammars.constrain(&Grammar::Lark(setup.grammar().unwrap())).unwrap();
    let mut rest = reply.as_bytes();
    while !rest.is_empty() {
        let forced = c.forced();
        if !forced.is_empty() {
            let bytes: Vec<u8> = forced.iter().flat_map(|&t| tokenizer.token_bytes(t)).copied().collect();
            if !rest.starts_with(&bytes) {
                return false;
            }
            rest = &rest[bytes.len()..];
            continue;
        }
        let Ok(mask) = c.mask() else { return false };
        let next = (0..tokenizer.n_vocab() as u32)
            .filter(|&t| mask[t as usize / 32] >> (t % 32) & 1 == 1)
            .filter(|&t| !tokenizer.token_bytes(t).is_empty() && rest.starts_with(tokenizer.token_bytes(t)))
            .max_by_key(|&t| tokenizer.token_bytes(t).len());
        let Some(t) = next else { return false };
        if c.consume(t).is_err() {
            return false;
        }
        rest = &rest[tokenizer.token_bytes(t).len()..];
    }
    c.is_accepting()
}

/// What the parser makes of `reply` fed whole, and fed a character at a time (as a stream).
fn parse(setup: &ToolSetup, reply: &str) -> ParsedReply {
    let mut whole = ParsedReply::default();
    let mut p = setup.parser(7);
    whole.apply(&p.push(reply));
    whole.apply(&p.finish());
    let mut streamed = ParsedReply::default();
    let mut p = setup.parser(7);
    for c in reply.chars() {
        streamed.apply(&p.push(&c.to_string()));
    }
    streamed.apply(&p.finish());
    assert_eq!(whole, streamed, "{reply}");
    whole
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall { id: None, name: name.into(), arguments: arguments.into() }
}

/// A reply the grammar takes, with its content and calls.
type Valid<'a> = (String, &'a str, Vec<ToolCall>);

/// Each format's replies: text, one call, several; the grammar takes the valid ones (calls
/// whose arguments follow the schema, in the model's envelope) and refuses the others; the
/// parser gives back the content and the calls, the same whole or a character at a time.
#[test]
fn each_format_grammar_and_parser() {
    let weather = r#"{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}"#;
    let booking = r#"{"name": "book_table", "arguments": {"restaurant": "Chez {Nous}", "guests": 2, "time": "19:30"}}"#;
    let bad_args =
        r#"{"name": "book_table", "arguments": {"restaurant": "Chez Nous", "guests": "two", "time": "19:30"}}"#;
    let unknown = r#"{"name": "send_mail", "arguments": {}}"#;
    let args =
        [r#"{"city": "Paris", "unit": "celsius"}"#, r#"{"restaurant": "Chez {Nous}", "guests": 2, "time": "19:30"}"#];
    let (llama_weather, llama_bad) =
        (weather.replace("arguments", "parameters"), bad_args.replace("arguments", "parameters"));
    // (template, format, valid replies with their content and calls, invalid replies)
    let cases: Vec<(&str, ToolFormat, Vec<Valid>, Vec<String>)> = vec![
        (
            "qwen2.5",
            ToolFormat::Hermes,
            vec![
                (format!("<tool_call>\n{weather}\n</tool_call>"), "", vec![call("get_weather", args[0])]),
                (
                    format!("Let me see.\n<tool_call>\n{weather}\n</tool_call>\n<tool_call>\n{booking}\n</tool_call>"),
                    "Let me see.\n",
                    vec![call("get_weather", args[0]), call("book_table", args[1])],
                ),
                ("It is sunny, no <tool_ call needed.".into(), "It is sunny, no <tool_ call needed.", vec![]),
            ],
            vec![
                format!("<tool_call>\n{bad_args}\n</tool_call>"),
                format!("<tool_call>\n{unknown}\n</tool_call>"),
                format!("<tool_call>\n{weather}\n</tool_call> and more text"),
            ],
        ),
        (
            "llama3.1",
            ToolFormat::Llama3,
            vec![
                (llama_weather.clone(), "", vec![call("get_weather", args[0])]),
                ("Paris is sunny.".into(), "Paris is sunny.", vec![]),
            ],
            vec![llama_bad, format!("{llama_weather}{llama_weather}"), weather.into()],
        ),
        (
            "mistral-nemo",
            ToolFormat::Mistral,
            vec![
                (
                    format!("[TOOL_CALLS][{weather}, {booking}]"),
                    "",
                    vec![call("get_weather", args[0]), call("book_table", args[1])],
                ),
                ("Sure: [1, 2]".into(), "Sure: [1, 2]", vec![]),
            ],
            vec![format!("[TOOL_CALLS][{bad_args}]"), format!("[TOOL_CALLS]{weather}")],
        ),
    ];
    for (name, format, valid, invalid) in cases {
        let (template, tokenizer) = template_of(name);
        let setup = ToolSetup::new(&template, tools(), ToolChoice::Auto, true, &|_| None).unwrap();
        assert_eq!(setup.format, format, "{name}");
        for (reply, content, calls) in &valid {
            assert!(accepts(&setup, &tokenizer, reply), "{name} refuses {reply}");
            let parsed = parse(&setup, reply);
            assert_eq!(parsed.content, *content, "{name}: {reply}");
            let got: Vec<ToolCall> = parsed.calls.iter().map(|c| ToolCall { id: None, ..c.clone() }).collect();
            assert_eq!(got, *calls, "{name}: {reply}");
            assert!(parsed.calls.iter().all(|c| c.id.as_ref().is_some_and(|id| id.len() == 9)));
        }
        for reply in &invalid {
            assert!(!accepts(&setup, &tokenizer, reply), "{name} takes {reply}");
        }
        // "required": text is refused; a named function: only it.
        let required = ToolSetup::new(&template, tools(), ToolChoice::Required, true, &|_| None).unwrap();
        assert!(!accepts(&required, &tokenizer, &valid.last().unwrap().0), "{name}: required takes text");
        assert!(accepts(&required, &tokenizer, &valid[0].0), "{name}: required refuses a call");
        let named =
            ToolSetup::new(&template, tools(), ToolChoice::Function("book_table".into()), true, &|_| None).unwrap();
        assert!(!accepts(&named, &tokenizer, &valid[0].0), "{name}: book_table only");
    }
    // The generic format (SmolLM2's template has no tools): JSON either way.
    let g = common::header(common::SMOLLM2[1]);
    let (template, tokenizer) = (ChatTemplate::from_gguf(&g).unwrap(), Arc::new(Tokenizer::from_gguf(&g).unwrap()));
    let setup = ToolSetup::new(&template, tools(), ToolChoice::Auto, true, &|_| None).unwrap();
    assert_eq!(setup.format, ToolFormat::Generic);
    let reply = format!(r#"{{"tool_calls": [{weather}, {booking}]}}"#);
    assert!(accepts(&setup, &tokenizer, &reply));
    assert_eq!(parse(&setup, &reply).calls.len(), 2);
    let answer = r#"{"response": "It is \"sunny\"\nété 😀"}"#;
    assert!(accepts(&setup, &tokenizer, answer));
    assert_eq!(parse(&setup, answer), ParsedReply { content: "It is \"sunny\"\nété 😀".into(), calls: vec![] });
    let escaped = r#"{"response": "\u00e9t\u00e9 \ud83d\ude00\t\\"}"#;
    assert_eq!(parse(&setup, escaped).content, "été 😀\t\\");
    assert!(!accepts(&setup, &tokenizer, "It is sunny."));
    let required = ToolSetup::new(&template, tools(), ToolChoice::Required, true, &|_| None).unwrap();
    assert!(!accepts(&required, &tokenizer, answer));
    // The generic prompt names the tools in the system message; history calls become JSON.
    let messages = setup.messages(&[Message::new("user", "Hi")]);
    assert_eq!(messages[0].role, "system");
    assert!(messages[0].content.contains("\"name\": \"book_table\""));
}

/// Bad tool requests are refused with a reason; `tool_choice: "none"` sets up no grammar.
#[test]
fn tool_requests_are_checked() {
    let (template, _) = template_of("qwen2.5");
    let e = ToolSetup::new(&template, tools(), ToolChoice::Function("nope".into()), true, &|_| None).unwrap_err();
    assert!(e.contains("'nope'"), "{e}");
    let e = ToolSetup::new(&template, vec![], ToolChoice::Required, true, &|_| None).unwrap_err();
    assert!(e.contains("empty"), "{e}");
    let none = ToolSetup::new(&template, tools(), ToolChoice::None, true, &|_| None).unwrap();
    assert!(none.grammar().is_none());
    let bad = |body: serde_json::Value| Request::from_json(&body.to_string()).and_then(|r| r.tools().map(|_| ()));
    assert!(bad(serde_json::json!({"tools": [{"type": "retrieval", "function": {"name": "x"}}]})).is_err());
    assert!(bad(serde_json::json!({"tools": [], "tool_choice": "sometimes"})).is_err());
    let req = Request::from_json(r#"{"messages": [{"role": "user", "tool_calls": []}]}"#).unwrap();
    assert!(req.chat_messages().is_err(), "a user message with tool calls");
}

mod smollm2 {
    use std::path::Path;

    use hearth::engine::Cancel;
    use hearth::session::{ChatChunk, ChatCompletion, FinishReason, LoadOptions, Request, Session};
    use serde_json::{Value, json};

    use super::{common, json};

    fn load() -> Session {
        let source = hearth::source::ReadSource::open(&common::model("SmolLM2-135M-Instruct.Q8_0.gguf")).unwrap();
        let opts = LoadOptions { context_length: 1024, ..LoadOptions::default() };
        pollster::block_on(Session::load(source, &opts, &mut |_, _, _| {})).unwrap()
    }

    fn chat(s: &mut Session, body: &Value) -> (ChatCompletion, Vec<ChatChunk>) {
        let req = Request::from_json(&body.to_string()).unwrap();
        let mut chunks = Vec::new();
        let whole = pollster::block_on(s.chat(&req, &Cancel::new(), &mut |c| chunks.push(c.clone()))).unwrap();
        (whole, chunks)
    }

    /// The calls a stream's chunks spell: ids, names and argument pieces put together.
    fn calls_of(chunks: &[ChatChunk]) -> Vec<Value> {
        let mut calls: Vec<Value> = Vec::new();
        for piece in chunks.iter().flat_map(|c| &c.choices).filter_map(|c| c.delta.tool_calls.as_ref()).flatten() {
            if let Some(id) = &piece.id {
                assert_eq!(piece.index, calls.len(), "calls start in order");
                calls.push(json!({"id": id, "type": "function", "function": {
                    "name": piece.function.name.clone().unwrap(), "arguments": ""}}));
            }
            let call = &mut calls[piece.index]["function"]["arguments"];
            *call = json!(format!("{}{}", call.as_str().unwrap(), piece.function.arguments));
        }
        calls
    }

    /// Python's `jsonschema` checks each call against its tool (tests/tool_calls/validate.py).
    fn validate(calls: &[Value]) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::env::temp_dir().join(format!("hearth-tool-calls-{}.json", std::process::id()));
        std::fs::write(&out, serde_json::to_string(calls).unwrap()).unwrap();
        let python = root.join(".venv/bin/python");
        let status = std::process::Command::new(&python)
            .arg(root.join("tests/tool_calls/validate.py"))
            .arg(root.join("tests/tool_calls/cases.json"))
            .arg(&out)
            .status()
            .unwrap_or_else(|e| panic!("{}: {e} (./build.sh setup makes the venv)", python.display()));
        assert!(status.success(), "a call does not validate: {calls:?}");
    }

    /// `tool_choice: "required"` on SmolLM2 (a template without tools: the generic format):
    /// greedy and at temperature 1.0, streamed and whole, the reply is calls
    /// that name the request's tools with arguments valid against their schemas; the stream's
    /// pieces add up to the whole reply's calls; `finish_reason` is `tool_calls`.
    #[test]
    fn required_calls_are_valid_streamed_and_whole() {
        let cases = json("tests/tool_calls/cases.json");
        let mut s = load();
        let mut all = Vec::new();
        let samplings = [json!({"temperature": 0}), json!({"seed": 1, "temperature": 1.0})];
        // A small model may call a tool again and again: the booking is asked for one call.
        let questions = [("What is the weather in Paris?", true), ("Book a table for 4 at Luigi's at 20:00.", false)];
        for ((question, parallel), sampling) in questions.iter().flat_map(|q| samplings.iter().map(move |s| (q, s))) {
            let mut body = json!({
                "messages": [{"role": "user", "content": question}], "parallel_tool_calls": parallel,
                "tools": cases["tools"], "tool_choice": "required", "max_tokens": 160, "stream": true,
            });
            body.as_object_mut().unwrap().extend(sampling.as_object().unwrap().clone());
            // Streamed: the chunks and the whole reply `chat` returns.
            let (whole, chunks) = chat(&mut s, &body);
            let choice = &whole.choices[0];
            assert_eq!(choice.finish_reason, FinishReason::ToolCalls, "{question} {sampling}: {choice:?}");
            let calls = serde_json::to_value(choice.message.tool_calls.as_ref().unwrap()).unwrap();
            let calls = calls.as_array().unwrap().clone();
            assert!(!calls.is_empty());
            assert!(*parallel || calls.len() == 1, "{calls:?}");
            assert_eq!(choice.message.content, None, "calls only: {choice:?}");
            let pieces = calls_of(&chunks);
            assert_eq!(pieces, calls, "{question} {sampling}: the pieces spell the whole reply's calls");
            let last = chunks.iter().rev().find_map(|c| c.choices.first()?.finish_reason);
            assert_eq!(last, Some(FinishReason::ToolCalls));
            // Not streamed: the same calls (with their own ids).
            if sampling["temperature"] == 0 {
                body["stream"] = json!(false);
                let (again, none) = chat(&mut s, &body);
                assert!(none.is_empty());
                let strip = |v: &[Value]| v.iter().map(|c| c["function"].clone()).collect::<Vec<_>>();
                let again = serde_json::to_value(again.choices[0].message.tool_calls.as_ref().unwrap()).unwrap();
                assert_eq!(strip(again.as_array().unwrap()), strip(&calls));
            }
            eprintln!("{question} {sampling}: {}", serde_json::to_string(&calls).unwrap());
            all.extend(calls);
        }
        validate(&all);
    }

    /// A named function is the one called; the conversation with the call and its result goes
    /// on: with `tool_choice: "auto"` the reply is a valid call or text, with `"none"` text (a
    /// 135M model tends to call again when it may).
    #[test]
    fn a_named_call_and_its_result_continue_the_conversation() {
        let cases = json("tests/tool_calls/cases.json");
        let mut s = load();
        let question = json!({"role": "user", "content": "What is the weather in Paris?"});
        let body = json!({
            "messages": [question], "tools": cases["tools"], "temperature": 0, "max_tokens": 160,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        });
        let (whole, _) = chat(&mut s, &body);
        let message = &whole.choices[0].message;
        let calls = message.tool_calls.clone().unwrap();
        assert!(calls.iter().all(|c| c.function.name == "get_weather"), "{calls:?}");
        validate(&[serde_json::to_value(&calls[0]).unwrap()]);
        let call = &calls[0];
        let history = json!([
            question,
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": call.id, "content": "{\"temperature\": 18, \"sky\": \"cloudy\"}"},
        ]);
        let body = json!({"messages": history, "tools": cases["tools"], "temperature": 0, "max_tokens": 160});
        let (auto, _) = chat(&mut s, &body);
        let choice = &auto.choices[0];
        eprintln!("auto: {choice:?}");
        match &choice.message.tool_calls {
            Some(calls) => validate(&[serde_json::to_value(&calls[0]).unwrap()]),
            None => assert!(choice.message.content.as_ref().is_some_and(|t| !t.trim().is_empty()), "{choice:?}"),
        }
        let mut body = body;
        body["tool_choice"] = json!("none");
        let (answer, _) = chat(&mut s, &body);
        let choice = &answer.choices[0];
        eprintln!("none: {choice:?}");
        assert_ne!(choice.finish_reason, FinishReason::ToolCalls, "{choice:?}");
        assert!(choice.message.tool_calls.is_none());
        assert!(choice.message.content.as_ref().is_some_and(|t| !t.trim().is_empty()), "{choice:?}");
    }
}

//! Structured output natively: SmolLM2-135M Q8_0 answers every schema of the suite
//! (tests/structured/schemas.json) greedily and at temperature 1.0 with a seed of its own, under
//! `response_format: json_schema`; every reply must end with `stop` and validate against its
//! schema by an independent validator (Python's `jsonschema`, tests/structured/validate.py), or
//! the schema must be one the suite marks as refused, refused with `unsupported-schema` before
//! anything is generated. Also: `json_object`, Lark grammars, streaming and refusals.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::Path;

use hearth::engine::Cancel;
use hearth::session::{ChatCompletion, Error, FinishReason, LoadOptions, Request, Session};
use serde_json::{Value, json};

const Q8_0: &str = "SmolLM2-135M-Instruct.Q8_0.gguf";
/// Enough for every reply of the suite (the longest take about 60 tokens); one that needs more
/// ends with `length` and fails.
const MAX_TOKENS: u32 = 120;

fn load() -> Session {
    let source = hearth::source::ReadSource::open(&common::model(Q8_0)).unwrap();
    let opts = LoadOptions { context_length: 512, ..LoadOptions::default() };
    pollster::block_on(Session::load(source, &opts, &mut |_, _, _| {})).unwrap()
}

fn chat(s: &mut Session, body: Value) -> Result<ChatCompletion, Error> {
    let req = Request::from_json(&body.to_string()).unwrap();
    pollster::block_on(s.chat(&req, &Cancel::new(), &mut |_| {}))
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The sampling settings of case `case`'s runs: greedy, then temperature 1.0 (the other filters
/// at their defaults) with seeds no other case uses, one by default, `HEARTH_STRUCTURED_SEEDS`
/// to sample more (each sampled run costs ~1.5 s of debug build on lavapipe; 1 keeps the
/// suite's share of CI at ~100 s, and each of the 33 cases is still sampled differently).
fn runs(case: usize) -> Vec<(String, Value)> {
    let seeds: usize = std::env::var("HEARTH_STRUCTURED_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    let mut runs = vec![("greedy".to_owned(), json!({"temperature": 0}))];
    for seed in case * seeds + 1..=(case + 1) * seeds {
        runs.push((format!("t1-seed{seed}"), json!({"temperature": 1.0, "seed": seed})));
    }
    runs
}

// The suite in two halves (even and odd cases), run side by side: each of the ~60 replies waits
// for the GPU token by token, and two sessions keep a 2-core machine's lavapipe busier.
#[test]
fn every_schema_of_the_suite_is_answered_with_valid_json_or_refused_even() {
    answer_the_suite(0);
}

#[test]
fn every_schema_of_the_suite_is_answered_with_valid_json_or_refused_odd() {
    answer_the_suite(1);
}

/// Answers the cases `part`, `part + 2`, … of the suite and validates the replies.
fn answer_the_suite(part: usize) {
    let suite: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/structured/schemas.json")).unwrap()).unwrap();
    let cases = suite["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "{} schemas", cases.len());
    let mut s = load();
    let mut results = Vec::new();
    let (mut tokens, mut mask_ms, mut decode_s) = (0usize, 0.0, 0.0);
    for (index, case) in cases.iter().enumerate().skip(part).step_by(2) {
        let name = case["name"].as_str().unwrap();
        for (run, sampling) in runs(index) {
            let mut body = json!({
                "messages": [{"role": "user", "content": format!("{} Answer in JSON.", case["prompt"].as_str().unwrap())}],
                "max_tokens": MAX_TOKENS,
                "response_format": {"type": "json_schema", "json_schema": {"name": name, "schema": case["schema"], "strict": true}},
            });
            body.as_object_mut().unwrap().extend(sampling.as_object().unwrap().clone());
            match chat(&mut s, body) {
                Ok(c) => {
                    let choice = &c.choices[0];
                    let extra = &c.usage.extra;
                    tokens += c.usage.completion_tokens;
                    mask_ms += extra.grammar_mask_ms_per_token.unwrap() * c.usage.completion_tokens as f64;
                    decode_s += extra.e2e_latency_s - extra.time_to_first_token_s;
                    println!(
                        "{name} {run}: {:?} {} tokens ({} forced): {}",
                        choice.finish_reason,
                        c.usage.completion_tokens,
                        extra.grammar_forced_tokens.unwrap(),
                        choice.message.text()
                    );
                    results.push(json!({"name": name, "run": run, "finish": choice.finish_reason,
                        "text": choice.message.text()}));
                }
                Err(e) => {
                    println!("{name} {run}: [{}] {e}", e.code());
                    results
                        .push(json!({"name": name, "run": run, "refused": e.code().as_str(), "reason": e.to_string()}));
                    // A refusal comes before generation, whatever the sampling: once is enough.
                    break;
                }
            }
        }
    }
    println!(
        "{tokens} tokens generated; grammar masks {:.3} ms per token; {:.1} tokens/s after the first",
        mask_ms / tokens as f64,
        tokens as f64 / decode_s
    );
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("structured-results-{part}.json"));
    std::fs::write(&out, serde_json::to_string_pretty(&results).unwrap()).unwrap();
    let python = root().join(".venv/bin/python");
    let status = std::process::Command::new(&python)
        .arg(root().join("tests/structured/validate.py"))
        .arg(root().join("tests/structured/schemas.json"))
        .arg(&out)
        .arg(format!("{part}/2"))
        .status()
        .unwrap_or_else(|e| panic!("{}: {e} (./build.sh setup makes the venv)", python.display()));
    assert!(status.success(), "replies that do not validate (see above; {})", out.display());
}

/// `json_object` gives an object; a Lark grammar's language is kept to; a stream's text is the
/// whole reply's; a schema that cannot be satisfied or parsed is refused with its reason.
#[test]
fn json_object_lark_grammars_streams_and_refusals() {
    let mut s = load();
    let ask = |content: &str| json!([{"role": "user", "content": content}]);
    let c = chat(
        &mut s,
        json!({"messages": ask("Give the name and age of a cat in JSON."), "temperature": 0, "max_tokens": MAX_TOKENS,
            "response_format": {"type": "json_object"}}),
    )
    .unwrap();
    let text = c.choices[0].message.text();
    assert_eq!(c.choices[0].finish_reason, FinishReason::Stop, "{text}");
    assert!(serde_json::from_str::<Value>(text).unwrap().is_object(), "{text}");

    // A Lark grammar: a yes/no answer, then a reason of lower-case words.
    let lark = r#"start: ("yes" | "no") ", because " /[a-z ]{1,40}/ "."
"#;
    for seed in [1, 2] {
        let c = chat(
            &mut s,
            json!({"messages": ask("Is the sea salty?"), "temperature": 1.0, "seed": seed, "max_tokens": MAX_TOKENS,
                "response_format": {"type": "grammar", "grammar": lark}}),
        )
        .unwrap();
        let text = c.choices[0].message.text();
        println!("lark seed {seed}: {text}");
        assert_eq!(c.choices[0].finish_reason, FinishReason::Stop, "{text}");
        let rest = text.strip_prefix("yes, because ").or_else(|| text.strip_prefix("no, because ")).unwrap();
        let words = rest.strip_suffix('.').unwrap();
        assert!((1..=40).contains(&words.len()) && words.chars().all(|c| c.is_ascii_lowercase() || c == ' '), "{text}");
    }

    // A grammar that forces the whole reply (a literal): nothing is drawn, the reply is it,
    // and the conversation goes on.
    let literal = r#"<b>hi</b> "there""#;
    for stream in [false, true] {
        let c = chat(
            &mut s,
            json!({"messages": ask("Say hi."), "max_tokens": MAX_TOKENS, "stream": stream,
                "response_format": {"type": "grammar", "grammar": format!("start: {}", json!(literal))}}),
        )
        .unwrap();
        assert_eq!((c.choices[0].message.text(), c.choices[0].finish_reason), (literal, FinishReason::Stop));
    }

    // Streamed: the chunks' text is the reply.
    let schema = json!({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]});
    let body = json!({"messages": ask("What is 6 times 7?"), "temperature": 0, "max_tokens": MAX_TOKENS, "stream": true,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}});
    let req = Request::from_json(&body.to_string()).unwrap();
    let mut streamed = String::new();
    let whole = pollster::block_on(s.chat(&req, &Cancel::new(), &mut |c| {
        streamed.extend(c.choices.iter().filter_map(|c| c.delta.content.clone()));
    }))
    .unwrap();
    assert_eq!(streamed, whole.choices[0].message.text());
    assert!(serde_json::from_str::<Value>(&streamed).unwrap()["answer"].is_i64(), "{streamed}");

    // With logprobs every token is drawn (none fast-forwarded, which would have none), each
    // with its entry; the reply is the same JSON.
    let body = json!({"messages": ask("What is 6 times 7?"), "temperature": 0, "max_tokens": MAX_TOKENS,
        "logprobs": true, "top_logprobs": 2,
        "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}});
    let with = chat(&mut s, body).unwrap();
    assert_eq!(with.choices[0].message.text(), streamed);
    assert_eq!(with.usage.extra.grammar_forced_tokens, Some(0));
    let content = &with.choices[0].logprobs.as_ref().unwrap().content;
    assert_eq!(content.len(), with.usage.completion_tokens);
    assert!(content.iter().all(|e| e.top_logprobs.len() == 2 && e.logprob <= 0.0));

    // Refused up front, with the reason: an unsatisfiable schema, a bad grammar, a bad pattern.
    for (format, why) in [
        (
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer", "minimum": 5, "maximum": 1}}}),
            "minimum",
        ),
        (json!({"type": "grammar", "grammar": "start: undefined_rule"}), "undefined_rule"),
        (
            json!({"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "string", "pattern": "(["}}}),
            "regex",
        ),
    ] {
        let e = chat(&mut s, json!({"messages": ask("Hi"), "response_format": format})).unwrap_err();
        println!("refused: [{}] {e}", e.code());
        assert_eq!(e.code(), "unsupported-schema", "{e}");
        assert!(e.to_string().to_lowercase().contains(why), "{e}");
    }
}

/// The cost of constraining, measured (not run by `./build.sh test`; `cargo test --release
/// --test structured -- --ignored --nocapture`): each schema of the suite answered greedily under
/// its schema, then the same prompt answered freely for as many tokens, in the same run; the
/// decode speeds of both and the CPU time of the masks.
#[test]
#[ignore]
fn constrained_and_free_decoding_speed() {
    let suite: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/structured/schemas.json")).unwrap()).unwrap();
    let mut s = load();
    let (mut n, mut all, mut constrained_s, mut free_s, mut mask_ms, mut forced) =
        (0usize, 0usize, 0.0, 0.0, 0.0, 0usize);
    for case in suite["cases"].as_array().unwrap().iter().filter(|c| c["refused"].is_null()) {
        let messages =
            json!([{"role": "user", "content": format!("{} Answer in JSON.", case["prompt"].as_str().unwrap())}]);
        let format = json!({"type": "json_schema", "json_schema": {"name": "x", "schema": case["schema"]}});
        let c = chat(
            &mut s,
            json!({"messages": messages, "temperature": 0, "max_tokens": MAX_TOKENS, "response_format": format}),
        )
        .unwrap();
        let tokens = c.usage.completion_tokens;
        let f = chat(&mut s, json!({"messages": messages, "temperature": 0, "max_tokens": tokens, "ignore_eos": true}))
            .unwrap();
        // After the first token: the prompt is cached for both (the constrained run's first
        // forced tokens are prefilled with its prompt, so its first token comes later).
        let (ce, fe) = (&c.usage.extra, &f.usage.extra);
        n += tokens - 1;
        all += tokens;
        constrained_s += ce.e2e_latency_s - ce.time_to_first_token_s;
        free_s += fe.e2e_latency_s - fe.time_to_first_token_s;
        mask_ms += ce.grammar_mask_ms_per_token.unwrap() * tokens as f64;
        forced += ce.grammar_forced_tokens.unwrap();
    }
    println!(
        "{n} tokens after the first: constrained {:.2} tokens/s ({forced} forced), free {:.2} tokens/s; masks {:.3} ms per token",
        n as f64 / constrained_s,
        n as f64 / free_s,
        mask_ms / all as f64
    );
}

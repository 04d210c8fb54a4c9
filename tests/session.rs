//! The request layer natively: a model streamed from any source, OpenAI-shaped requests and
//! their errors, streaming, stop strings, cancelling, seeds, and the context's end.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::reference;
use hearth::engine::{Cancel, Sampling};
use hearth::kernels::SamplerParams;
use hearth::session::{ChatChunk, Completion, Error, FinishReason, LoadOptions, Request, Session, inspect};
use hearth::source::{ReadSource, Source, SourceError};

const Q4_0: &str = "SmolLM2-135M-Instruct.Q4_0.gguf";
const SYSTEM: &str = "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

/// A source that hands out a file in pieces of random sizes (as a network does), of a size
/// it may not know, optionally ending early.
struct Trickle {
    data: Vec<u8>,
    pos: usize,
    end: usize,
    size: Option<u64>,
    rng: common::Rng,
}

impl Trickle {
    fn new(data: Vec<u8>, end: usize, size_known: bool) -> Self {
        let size = size_known.then_some(data.len() as u64);
        Trickle { data, pos: 0, end, size, rng: common::Rng::new(5) }
    }
}

impl Source for Trickle {
    fn size(&self) -> Option<u64> {
        self.size
    }

    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, SourceError> {
        let piece = 1 + (self.rng.next_u64() % 100_000) as usize;
        let n = piece.min(buf.len()).min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn options(ctx: u32) -> LoadOptions {
    LoadOptions { context_length: ctx, ..LoadOptions::default() }
}

fn load(file: &str, ctx: u32) -> Session {
    let source = ReadSource::open(&common::model(file)).unwrap();
    pollster::block_on(Session::load(source, &options(ctx), &mut |_, _, _| {})).unwrap()
}

fn request(json: serde_json::Value) -> Request {
    Request::from_json(&json.to_string()).unwrap()
}

fn complete(s: &mut Session, req: &Request) -> (Completion, Vec<Completion>) {
    let mut chunks = Vec::new();
    let out = pollster::block_on(s.complete(req, &Cancel::new(), &mut |c| chunks.push(c.clone()))).unwrap();
    (out, chunks)
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Loading from a source that trickles in pieces of random sizes, with no known size, gives
/// the reference's greedy ids; a source cut short gives `network` when it announced its size
/// and `bad-model` when it did not.
#[test]
fn a_trickled_stream_loads_and_cut_streams_fail_with_codes() {
    let data = std::fs::read(common::model(Q4_0)).unwrap();
    let c0 = &reference::cases("smollm2-Q4_0")[0];
    let len = data.len();
    let mut s =
        pollster::block_on(Session::load(Trickle::new(data.clone(), len, false), &options(256), &mut |_, _, _| {}))
            .unwrap();
    let req =
        request(serde_json::json!({"prompt": c0.prompt, "temperature": 0, "max_tokens": 6, "return_token_ids": true}));
    let (out, _) = complete(&mut s, &req);
    assert_eq!(out.choices[0].token_ids.as_deref(), Some(&c0.greedy_ids[..6]));
    drop(s);

    for (size_known, code) in [(true, "network"), (false, "bad-model")] {
        let cut = Trickle::new(data.clone(), 20_000_000, size_known);
        let e = pollster::block_on(Session::load(cut, &options(256), &mut |_, _, _| {})).err().unwrap();
        assert_eq!(e.code(), code, "{e}");
        eprintln!("cut at 20 MB, size known {size_known}: [{}] {e}", e.code());
    }
}

/// Chat with reference case 1's messages: the prompt ids and the greedy reply are the
/// reference's; the streamed chunks add up to the whole response.
#[test]
fn chat_gives_the_reference_ids_and_chunks_add_up() {
    let mut s = load(Q4_0, 256);
    let c1 = &reference::cases("smollm2-Q4_0")[1];
    let messages = serde_json::json!([{"role": "system", "content": SYSTEM},
        {"role": "user", "content": [{"type": "text", "text": "What is the capital "}, {"type": "text", "text": "of France?"}]}]);
    let json = serde_json::json!({"messages": messages, "temperature": 0, "max_tokens": 8, "stream": true,
        "return_token_ids": true, "stream_options": {"include_usage": true}});
    let mut chunks: Vec<ChatChunk> = Vec::new();
    let out = pollster::block_on(s.chat(&request(json), &Cancel::new(), &mut |c| chunks.push(c.clone()))).unwrap();
    let out = serde_json::to_value(out).unwrap();
    assert_eq!(ids(&out["prompt_token_ids"]), c1.prompt_ids);
    assert_eq!(ids(&out["choices"][0]["token_ids"]), c1.greedy_ids[..8]);
    assert_eq!(out["choices"][0]["finish_reason"], "length");
    assert_eq!(out["choices"][0]["message"]["role"], "assistant");

    let chunks: Vec<serde_json::Value> = chunks.iter().map(|c| serde_json::to_value(c).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let text: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(text, out["choices"][0]["message"]["content"].as_str().unwrap());
    let streamed: Vec<u32> = chunks
        .iter()
        .filter(|c| c["choices"][0]["token_ids"].is_array())
        .flat_map(|c| ids(&c["choices"][0]["token_ids"]))
        .collect();
    assert_eq!(streamed, c1.greedy_ids[..8]);
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"].as_array().unwrap().len(), 0);
    assert_eq!(last["usage"]["completion_tokens"], 8);
    assert_eq!(last["usage"]["prompt_tokens"], c1.prompt_ids.len());
    // One random id and the engine's fingerprint in every chunk and the response.
    let id = out["id"].as_str().unwrap();
    assert!(
        id.starts_with("chatcmpl-") && id.len() == 33 && id[9..].chars().all(|c| c.is_ascii_alphanumeric()),
        "{id}"
    );
    let fingerprint = out["system_fingerprint"].as_str().unwrap();
    assert!(fingerprint.starts_with("fp_") && fingerprint.len() == 19, "{fingerprint}");
    assert!(chunks.iter().all(|c| c["id"] == id && c["system_fingerprint"] == fingerprint));
}

/// "Continue": a reply cut by `max_tokens`, sent back as the final assistant message with
/// `continue_final_message`, goes on exactly where greedy decoding would have: its prompt is
/// the chat's prompt and the reply's ids, its tokens the next greedy ones, its text only the
/// addition. Misplaced uses are refused.
#[test]
fn continue_final_message_goes_on_with_a_cut_reply() {
    let mut s = load(Q4_0, 256);
    let c1 = &reference::cases("smollm2-Q4_0")[1];
    let question = serde_json::json!([{"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the capital of France?"}]);
    let chat = |s: &mut Session, json: serde_json::Value| {
        let out = pollster::block_on(s.chat(&request(json), &Cancel::new(), &mut |_| {})).unwrap();
        serde_json::to_value(out).unwrap()
    };
    let cut = chat(
        &mut s,
        serde_json::json!({"messages": question, "temperature": 0, "max_tokens": 8,
        "return_token_ids": true}),
    );
    assert_eq!(ids(&cut["choices"][0]["token_ids"]), c1.greedy_ids[..8]);
    assert_eq!(cut["choices"][0]["finish_reason"], "length");
    let start = cut["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    let mut messages = question.as_array().unwrap().clone();
    messages.push(serde_json::json!({"role": "assistant", "content": start}));
    let more = chat(
        &mut s,
        serde_json::json!({"messages": messages, "temperature": 0, "max_tokens": 8,
        "return_token_ids": true, "continue_final_message": true}),
    );
    let prompt: Vec<u32> = c1.prompt_ids.iter().chain(&c1.greedy_ids[..8]).copied().collect();
    assert_eq!(ids(&more["prompt_token_ids"]), prompt, "the prompt is the chat's and the cut reply's ids");
    assert_eq!(ids(&more["choices"][0]["token_ids"]), c1.greedy_ids[8..16]);
    let added = more["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(c1.text.starts_with(&format!("{start}{added}")), "{start:?} + {added:?} vs {:?}", c1.text);

    for (messages, why) in [
        (serde_json::json!([{"role": "user", "content": "Hi"}]), "the last message is not one"),
        (serde_json::json!([{"role": "assistant", "content": "Hi"}]), "needs a message before"),
        (
            serde_json::json!([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": null,
                "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]),
            "the last message is not one",
        ),
    ] {
        let req = request(serde_json::json!({"messages": messages, "continue_final_message": true}));
        let err = pollster::block_on(s.chat(&req, &Cancel::new(), &mut |_| {})).unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
}

/// A stop string ends the reply before it, and no part of it is ever streamed, even when it
/// arrives split over tokens.
#[test]
fn stop_strings_never_leak_into_the_stream() {
    let mut s = load(Q4_0, 256);
    let c0 = &reference::cases("smollm2-Q4_0")[0];
    // The reference continuation: ", I was so focused on my career that I neglected my family…"
    assert!(c0.text.contains("career"), "{}", c0.text);
    let req = request(serde_json::json!({"prompt": c0.prompt, "temperature": 0, "max_tokens": 24, "stream": true,
        "stop": ["xyz", "car"]}));
    let (out, chunks) = complete(&mut s, &req);
    let want = &c0.text[..c0.text.find("car").unwrap()];
    assert_eq!(out.choices[0].text, want);
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Stop));
    let streamed: String = chunks.iter().flat_map(|c| c.choices.iter().map(|c| c.text.clone())).collect();
    assert_eq!(streamed, want, "the stream holds back what may start a stop string");
}

/// Cancelling stops within one token with finish_reason "abort", and the next request runs.
#[test]
fn cancel_stops_within_one_token_and_the_session_goes_on() {
    let mut s = load(Q4_0, 256);
    let cancel = Cancel::new();
    let req = request(serde_json::json!({"prompt": "Once upon a time", "max_tokens": 40, "ignore_eos": true,
        "stream": true, "return_token_ids": true, "seed": 3}));
    let mut seen = 0;
    let out = pollster::block_on(s.complete(&req, &cancel, &mut |c| {
        seen += c.choices.iter().map(|c| c.token_ids.as_ref().map_or(0, Vec::len)).sum::<usize>();
        if seen >= 2 {
            cancel.cancel();
        }
    }))
    .unwrap();
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Abort));
    let n = out.usage.as_ref().unwrap().completion_tokens;
    assert!((2..=3).contains(&n), "{n} tokens after cancelling at 2");
    cancel.reset();
    let again = request(serde_json::json!({"prompt": "Once upon a time", "temperature": 0, "max_tokens": 2}));
    let (out, _) = complete(&mut s, &again);
    assert_eq!(out.usage.unwrap().completion_tokens, 2);
}

/// The same seed gives the same tokens; the reply ends with "length" when the context fills.
#[test]
fn seeds_repeat_and_a_full_context_ends_with_length() {
    let mut s = load(Q4_0, 24);
    let seeded = request(serde_json::json!({"prompt": "The sea", "temperature": 1.0, "seed": 11, "max_tokens": 6,
        "return_token_ids": true}));
    let (a, _) = complete(&mut s, &seeded);
    let (b, _) = complete(&mut s, &seeded);
    assert_eq!(a.choices[0].token_ids, b.choices[0].token_ids);
    assert_eq!(a.choices[0].token_ids.as_ref().unwrap().len(), 6);
    // Ids are drawn, never repeated; the fingerprint is the engine's and says so in info().
    assert!(a.id.starts_with("cmpl-") && a.id != b.id, "{} {}", a.id, b.id);
    assert_eq!(a.system_fingerprint, b.system_fingerprint);
    let info = s.info();
    assert_eq!(info.system_fingerprint, a.system_fingerprint);
    assert_eq!(info.last_usage.as_ref(), b.usage.as_ref());
    assert_eq!(info.stats.decoded, 10, "two requests of 6 tokens: the first of each comes from prefill");

    let long = request(serde_json::json!({"prompt": "Once upon a time", "temperature": 0, "ignore_eos": true}));
    let (out, _) = complete(&mut s, &long);
    let usage = out.usage.unwrap();
    assert_eq!(out.choices[0].finish_reason, Some(FinishReason::Length));
    assert_eq!(usage.prompt_tokens + usage.completion_tokens, 24, "{usage:?}");

    let too_long = request(serde_json::json!({"prompt": "word ".repeat(40), "max_tokens": 2}));
    let e = pollster::block_on(s.complete(&too_long, &Cancel::new(), &mut |_| {})).unwrap_err();
    assert_eq!(e.code(), "context-length-exceeded");
    assert!(matches!(e, hearth::session::Error::ContextLength { prompt_tokens: 41, context_length: 24 }), "{e:?}");
    assert!(e.to_string().contains("longer context"), "{e}");
}

/// `n` choices: each from the prompt's cache, streamed by index and adding up to the whole;
/// with a seed the first is the single choice of the same request and all repeat; greedy ones
/// are equal.
#[test]
fn several_choices_share_the_prompt_and_repeat_with_a_seed() {
    let mut s = load(Q4_0, 256);
    let messages = serde_json::json!([{"role": "user", "content": "Write a word."}]);
    let sampled = |n: u32, stream: bool| {
        request(serde_json::json!({"messages": messages, "temperature": 1.0, "seed": 9, "max_tokens": 5, "n": n,
            "ignore_eos": true, "stream": stream, "stream_options": {"include_usage": true}}))
    };
    let chat = |s: &mut Session, req: &Request| {
        let mut chunks = Vec::new();
        let out = pollster::block_on(s.chat(req, &Cancel::new(), &mut |c| chunks.push(c.clone()))).unwrap();
        (out, chunks)
    };
    let text = |c: &hearth::session::ChatCompletion, i: usize| c.choices[i].message.text().to_owned();
    let (one, _) = chat(&mut s, &sampled(1, false));
    let (three, chunks) = chat(&mut s, &sampled(3, true));
    assert_eq!(three.choices.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(text(&three, 0), text(&one, 0), "the first choice is the single one");
    assert!(text(&three, 1) != text(&three, 0) || text(&three, 2) != text(&three, 0), "choices differ");
    for i in 0..3u32 {
        let streamed: String = chunks
            .iter()
            .flat_map(|c| c.choices.iter().filter(|c| c.index == i).filter_map(|c| c.delta.content.clone()))
            .collect();
        assert_eq!(streamed, text(&three, i as usize), "choice {i} streamed");
    }
    let usage = &three.usage;
    assert_eq!(usage.completion_tokens, 15);
    assert_eq!(chunks.last().unwrap().usage.as_ref(), Some(usage));
    let (again, _) = chat(&mut s, &sampled(3, false));
    for i in 0..3 {
        assert_eq!(text(&again, i), text(&three, i), "choice {i} repeats with the seed");
    }
    let greedy = request(serde_json::json!({"messages": messages, "temperature": 0, "max_tokens": 5, "n": 2}));
    let (g, _) = chat(&mut s, &greedy);
    assert_eq!(text(&g, 0), text(&g, 1));
    for n in [0, 17] {
        let e = pollster::block_on(s.chat(&sampled(n, false), &Cancel::new(), &mut |_| {})).unwrap_err();
        assert_eq!(e.code(), "bad-request", "n = {n}");
    }
}

/// Tokens in flight: with each decode step submitted before the previous one's token is read,
/// sampling with penalties and a seed draws the same tokens as one step at a time (the
/// penalties' window is kept on the GPU by the sampler), with one submit per token plus the
/// one step run ahead at the end, and the CPU never waits on an idle GPU.
#[test]
fn steps_run_ahead_draw_the_same_tokens_without_stalls() {
    let mut s = load(Q4_0, 64);
    let req = request(serde_json::json!({"prompt": "The sea", "temperature": 0.9, "seed": 5, "max_tokens": 12,
        "repetition_penalty": 1.5, "frequency_penalty": 0.5, "presence_penalty": 0.3, "ignore_eos": true,
        "return_token_ids": true}));
    let mut runs = Vec::new();
    for run_ahead in [true, false] {
        s.engine.run_ahead = run_ahead;
        let before = s.engine.stats;
        let (out, _) = complete(&mut s, &req);
        let after = s.engine.stats;
        let decoded = after.decoded - before.decoded;
        assert_eq!(decoded, 11, "the first token comes from the prefill");
        let (submits, stalls) =
            (after.decode_submits - before.decode_submits, after.decode_stalls - before.decode_stalls);
        if run_ahead {
            assert_eq!((submits, stalls), (decoded + 1, 0), "run ahead: submits, CPU waits on an idle GPU");
        } else {
            assert_eq!((submits, stalls), (decoded, decoded), "one at a time: submits, CPU waits on an idle GPU");
        }
        runs.push(out.choices[0].token_ids.clone().unwrap());
    }
    assert_eq!(runs[0], runs[1], "tokens drawn running ahead vs one step at a time");
}

/// Prefill chunks reuse their dispatch lists: the full chunk's is built at load, a remainder's
/// once, and the same prompt again builds nothing and gives the same first token.
#[test]
fn prefill_builds_each_chunk_length_once() {
    let source = ReadSource::open(&common::model(Q4_0)).unwrap();
    let opts = LoadOptions { context_length: 64, prefill_chunk: 8, ..LoadOptions::default() };
    let mut s = pollster::block_on(Session::load(source, &opts, &mut |_, _, _| {})).unwrap();
    s.engine
        .set_sampler(&Sampling {
            params: SamplerParams { temperature: 0.0, ..Default::default() },
            ..Sampling::default()
        })
        .unwrap();
    let ids: Vec<u32> = (0..20).map(|i| 100 + 7 * i).collect();
    let mut firsts = Vec::new();
    for round in 0..2 {
        let before = s.engine.stats.prefill_builds;
        s.engine.reset();
        let (first, prefilled) = pollster::block_on(s.engine.prefill(&ids, &Cancel::new())).unwrap();
        assert_eq!(prefilled, 20);
        let built = s.engine.stats.prefill_builds - before;
        assert_eq!(built, if round == 0 { 1 } else { 0 }, "round {round}: lists built for chunks of 8, 8 and 4");
        firsts.push(first);
    }
    assert_eq!(firsts[0], firsts[1]);
}

/// Kernel parameters live in one uniform buffer of fixed size (the plan counts it): when the
/// settings of many requests fill it, what was built after the load is recycled and rebuilt,
/// the same prompt gives the same ids, and the memory held is still the plan's.
#[test]
fn full_kernel_parameters_are_recycled_and_outputs_stay() {
    let mut s = load(Q4_0, 256);
    let greedy = request(serde_json::json!({"prompt": "Once upon a time", "temperature": 0, "max_tokens": 8}));
    let (before, _) = complete(&mut s, &greedy);
    let total = s.info().gpu_memory.total;
    // Each seed is a sampler of its own parameters.
    let mut seed = 0;
    while s.engine.stats.uniform_recycles == 0 {
        seed += 1;
        assert!(seed < 100_000, "the arena never filled");
        s.engine
            .set_sampler(&Sampling { params: SamplerParams { seed, ..Default::default() }, ..Sampling::default() })
            .unwrap();
    }
    println!("recycled after {seed} samplers");
    // The prompt again from an empty cache: its prefill list, built before, is built anew.
    s.engine.reset();
    let (after, _) = complete(&mut s, &greedy);
    assert_eq!(after.choices[0].text, before.choices[0].text);
    assert_eq!(s.info().gpu_memory.total, total);
    assert_eq!(s.engine.stats.uniform_recycles, 1);
}

/// Requests that cannot be served as asked give `bad-request` with the field's name, before
/// any computation.
#[test]
fn bad_requests_name_what_is_wrong() {
    let mut s = load(Q4_0, 64);
    let chat = |s: &mut Session, json: serde_json::Value| -> Error {
        let r = Request::from_json(&json.to_string());
        match r {
            Err(e) => e,
            Ok(r) => pollster::block_on(s.chat(&r, &Cancel::new(), &mut |_| {})).unwrap_err(),
        }
    };
    let hi = serde_json::json!([{"role": "user", "content": "Hi"}]);
    for (json, needle) in [
        (serde_json::json!({"messages": hi, "temperature": -1}), "temperature"),
        (serde_json::json!({"messages": hi, "top_p": 0}), "top_p"),
        (serde_json::json!({"messages": hi, "n": 20}), "`n` is 20"),
        (serde_json::json!({"messages": hi, "stop": [""]}), "stop"),
        (serde_json::json!({"messages": hi, "max_token": 5}), "unknown field `max_token`"),
        (serde_json::json!({"messages": []}), "empty"),
        (serde_json::json!({"prompt": "Hi"}), "takes `messages`, not `prompt`"),
        (serde_json::json!({"messages": [{"role": "function", "content": "x", "name": "f"}]}), "use `tools`"),
        (serde_json::json!({"messages": [{"role": "robot", "content": "x"}]}), "role 'robot'"),
        (serde_json::json!({"messages": [{"role": "user"}]}), "needs `content`"),
        (
            serde_json::json!({"messages": hi, "tools": [{"type": "code", "function": {"name": "f"}}]}),
            "tool type 'code'",
        ),
        (
            serde_json::json!({"messages": hi, "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": {"type": "function", "function": {"name": "g"}}}),
            "'g', which is not among `tools`",
        ),
        (
            serde_json::json!({"messages": hi, "tools": [{"type": "function", "function": {"name": "f"}}],
                "tool_choice": "required", "response_format": {"type": "json_object"}}),
            "cannot both",
        ),
        (serde_json::json!({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}), "image_url"),
        (
            // OpenAI's image part as its clients write it: refused by name, not as an unknown field.
            serde_json::json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "low"}}]}]}),
            "content part 'image_url' is not supported: the model reads text only",
        ),
        (
            serde_json::json!({"messages": [{"role": "user", "content": [{"type": "text", "text": "x", "image": 1}]}]}),
            "a list of parts such as",
        ),
        (serde_json::json!({"messages": hi, "top_logprobs": 3}), "needs `logprobs: true`"),
        (serde_json::json!({"messages": hi, "logprobs": 3}), "true or false"),
        (serde_json::json!({"messages": hi, "logprobs": true, "top_logprobs": 21}), "at most 20"),
        (serde_json::json!({"messages": hi, "logprobs": "yes"}), "logprobs"),
        (serde_json::json!({"messages": hi, "store": true}), "`store: true`"),
        (serde_json::json!({"messages": hi, "service_tier": "flex"}), "`service_tier` 'flex'"),
        (serde_json::json!({"messages": hi, "modalities": ["text", "audio"]}), "`modalities`"),
        (serde_json::json!({"messages": hi, "logit_bias": {"42": 5}}), "`logit_bias`: per-token"),
        (serde_json::json!({"messages": hi, "functions": []}), "use `tools`"),
        (serde_json::json!({"messages": hi, "web_search_options": {}}), "offline"),
    ] {
        let e = chat(&mut s, json.clone());
        assert_eq!(e.code(), "bad-request", "{json}: {e}");
        assert!(e.to_string().contains(needle), "{json}: {e}");
    }
    assert_eq!(s.info().cached_tokens, 0, "nothing ran");
    // max_tokens 0 generates nothing (and runs nothing); the no-op values OpenAI's clients send
    // are accepted.
    let r = request(serde_json::json!({"messages": hi, "max_tokens": 0, "store": false, "metadata": {"a": "b"},
        "service_tier": "auto", "modalities": ["text"], "user": "u", "n": 1, "logprobs": false,
        "tool_choice": "none", "parallel_tool_calls": true, "response_format": {"type": "text"}}));
    let out = pollster::block_on(s.chat(&r, &Cancel::new(), &mut |_| {})).unwrap();
    let v = serde_json::to_value(&out).unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "", "{v}");
    assert_eq!(v["choices"][0]["finish_reason"], "length", "{v}");
    assert_eq!(v["usage"]["completion_tokens"], 0, "{v}");
    assert_eq!(s.info().cached_tokens, 0, "nothing ran");
}

/// A history kept from OpenAI's replies goes back in as it came: `refusal: null` and
/// `annotations` are accepted, and a refusal (the field, or a part) is the assistant's text.
#[test]
fn openai_reply_shapes_in_a_history_are_read() {
    let r = Request::from_json(
        r#"{"messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!", "refusal": null, "annotations": []},
            {"role": "user", "content": "Do it"},
            {"role": "assistant", "content": null, "refusal": "I can't."},
            {"role": "user", "content": "Please"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}]}"#,
    )
    .unwrap();
    let texts: Vec<String> = r.chat_messages().unwrap().into_iter().map(|m| m.content).collect();
    assert_eq!(texts, ["Hi", "Hello!", "Do it", "I can't.", "Please", "No."]);
    // A refusal part is an assistant's only.
    let r = Request::from_json(r#"{"messages": [{"role": "user", "content": [{"type": "refusal", "refusal": "x"}]}]}"#)
        .unwrap();
    assert!(r.chat_messages().unwrap_err().to_string().contains("content part 'refusal'"));
}

/// A model too large for the device's limits is refused before any weight is read; a lost
/// device is reported as such, and a new load works.
#[test]
fn small_limits_and_a_lost_device_give_their_codes() {
    let path = common::model(Q4_0);
    // 8192 positions of 192 keys: 3 MiB per layer in f16, over a 1 MiB buffer limit.
    let mut opts = options(8192);
    opts.limits.max_buffer_size = Some(1 << 20);
    let mut read = 0u64;
    let e = pollster::block_on(Session::load(ReadSource::open(&path).unwrap(), &opts, &mut |_, done, _| read = done))
        .err()
        .unwrap();
    assert_eq!(e.code(), "adapter-limits", "{e}");
    assert!(e.to_string().contains("KV cache"), "{e}");
    assert_eq!(read, 0, "no weight was read");
    // inspect says so from the header alone.
    let r = pollster::block_on(inspect(ReadSource::open(&path).unwrap(), &opts)).unwrap();
    assert!(!r.fits);
    assert!(r.reason.as_deref().unwrap_or("").contains("KV cache of one layer"), "{:?}", r.reason);

    let mut s = load(Q4_0, 64);
    s.engine.ctx.lose_device();
    let req = request(serde_json::json!({"prompt": "Once upon a time", "temperature": 0, "max_tokens": 2}));
    let e = pollster::block_on(s.complete(&req, &Cancel::new(), &mut |_| {})).unwrap_err();
    assert_eq!(e.code(), "device-lost", "{e}");
    drop(s);
    let mut s = load(Q4_0, 64);
    let (out, _) = complete(&mut s, &req);
    assert_eq!(out.usage.unwrap().completion_tokens, 2);
}

/// inspect's memory plan, from the header alone, is what a load then allocates, to the byte,
/// and what the model still holds after requests (prefill lists of new lengths and samplers
/// of other settings take no new memory).
#[test]
fn inspect_estimates_what_a_load_allocates() {
    let path = common::model(Q4_0);
    let r = pollster::block_on(inspect(ReadSource::open(&path).unwrap(), &options(1024))).unwrap();
    assert!(r.fits, "{:?}", r.reason);
    assert_eq!(r.header_bytes, r.summary.data_offset);
    let plan = r.memory.unwrap();
    let mut s = load(Q4_0, 1024);
    let used = s.info().gpu_memory;
    assert_eq!((plan.weights, plan.kv_cache, plan.total), (used.weights, used.kv_cache, used.total));
    for (prompt, temperature) in [("Once upon a time", 0.0), ("The capital of France is", 0.7)] {
        let req = request(serde_json::json!({"prompt": prompt, "temperature": temperature, "max_tokens": 3}));
        complete(&mut s, &req);
        assert_eq!(s.info().gpu_memory.total, plan.total, "after '{prompt}'");
    }
}

/// Log-probabilities on SmolLM2 F16 (the f32 path), for reference cases 0 (a text completion,
/// `logprobs: 5`) and 1 (a chat, `logprobs: true, top_logprobs: 5`), over the steps where
/// llama.cpp's greedy ids are any exact engine's: the top-5 tokens are llama.cpp's where its
/// logits leave a margin over twice the error measured between llama.cpp's logits and the fp32
/// pass's (from the reference itself), their logprobs relative to the first are llama.cpp's
/// within that, and each logprob is the fp32 pass's log-softmax within twice this path's logit
/// tolerance (1e-4, tests/model.rs). The drawn token's logprob is the first of the top.
#[test]
fn logprobs_are_llama_cpps_top_tokens_and_the_fp32_softmax() {
    const TOP: usize = 5;
    let mut s = pollster::block_on(Session::load(
        ReadSource::open(&common::model("SmolLM2-135M-Instruct.F16.gguf")).unwrap(),
        &LoadOptions { context_length: 256, f16: hearth::session::F16::Off, ..LoadOptions::default() },
        &mut |_, _, _| {},
    ))
    .unwrap();
    let cases = reference::cases("smollm2-F16");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reference::dir().join("smollm2-F16.json")).unwrap()).unwrap();
    let v = s.engine.cfg.n_vocab as usize;
    let greedy = serde_json::json!({"temperature": 0, "max_tokens": 32, "ignore_eos": true, "return_token_ids": true});
    let mut body0 = serde_json::json!({"prompt": cases[0].prompt, "logprobs": TOP});
    let mut body1 = serde_json::json!({"messages": [{"role": "system", "content": SYSTEM},
        {"role": "user", "content": "What is the capital of France?"}], "logprobs": true, "top_logprobs": TOP});
    for body in [&mut body0, &mut body1] {
        body.as_object_mut().unwrap().extend(greedy.as_object().unwrap().clone());
    }
    // (drawn id, its logprob, top (id, logprob)) per step, from each response shape.
    type Steps = Vec<(u32, f32, Vec<(u32, f32)>)>;
    let (whole0, _) = complete(&mut s, &request(body0));
    let out0 = serde_json::to_value(&whole0).unwrap();
    let lp0 = &out0["choices"][0]["logprobs"];
    let ids0 = ids(&out0["choices"][0]["token_ids"]);
    let steps0: Steps = ids0
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            // A JSON object: its keys come sorted by text, not by probability.
            let mut top: Vec<(u32, f32)> = lp0["top_logprobs"][i]
                .as_object()
                .unwrap()
                .iter()
                .map(|(t, lp)| (token_of(&s, t), lp.as_f64().unwrap() as f32))
                .collect();
            top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            (id, lp0["token_logprobs"][i].as_f64().unwrap() as f32, top)
        })
        .collect();
    let whole1 = pollster::block_on(s.chat(&request(body1.clone()), &Cancel::new(), &mut |_| {})).unwrap();
    let out1 = serde_json::to_value(&whole1).unwrap();
    // Streamed, the chunks' entries add up to the whole reply's (computed the same way: the
    // prompt in one chunk again, not its last token after the cached rest).
    body1["stream"] = true.into();
    s.engine.reset();
    let mut streamed = Vec::new();
    pollster::block_on(s.chat(&request(body1), &Cancel::new(), &mut |c| {
        let c = serde_json::to_value(c).unwrap();
        streamed.extend(c["choices"][0]["logprobs"]["content"].as_array().cloned().unwrap_or_default());
    }))
    .unwrap();
    let whole_content = out1["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(streamed.len(), whole_content.len(), "streamed logprobs");
    for (a, b) in streamed.iter().zip(whole_content) {
        assert_eq!(a, b, "streamed logprobs");
    }
    let ids1 = ids(&out1["choices"][0]["token_ids"]);
    let steps1: Steps = out1["choices"][0]["logprobs"]["content"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&ids1)
        .map(|(e, &id)| {
            // By its bytes; a control token (no bytes) by its name.
            let by_bytes = |x: &serde_json::Value| {
                let bytes: Vec<u8> = x["bytes"].as_array().unwrap().iter().map(|b| b.as_u64().unwrap() as u8).collect();
                if bytes.is_empty() {
                    return s.tokenizer().token_id(x["token"].as_str().unwrap()).unwrap();
                }
                (0..v as u32).find(|&t| s.tokenizer().token_bytes(t) == bytes.as_slice()).unwrap()
            };
            let top = e["top_logprobs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (by_bytes(t), t["logprob"].as_f64().unwrap() as f32));
            (id, e["logprob"].as_f64().unwrap() as f32, top.collect())
        })
        .collect();
    for (ci, (c, steps)) in cases.iter().zip([steps0, steps1]).enumerate() {
        let n = c.fp32_agrees_until;
        let topk = &json["cases"][ci]["topk"];
        let ll = |st: usize| -> Vec<(u32, f32)> {
            let t = &topk[st];
            ids(&t["ids"])
                .into_iter()
                .zip(t["logits"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32))
                .collect()
        };
        // llama.cpp's own error: its top-5 logits against the fp32 pass's, over these steps.
        let mut err = 0.0f32;
        for st in 0..n {
            for &(id, l) in &ll(st)[..TOP] {
                err = err.max((l - c.logits[st * v + id as usize]).abs());
            }
        }
        let (mut worst_rel, mut worst_abs, mut compared) = (0.0f32, 0.0f32, 0);
        for (st, (id, lp, top)) in steps.iter().enumerate().take(n) {
            let what = format!("case {ci} step {st}");
            assert_eq!(*id, c.greedy_ids[st], "{what}: greedy id");
            assert_eq!(top.len(), TOP, "{what}");
            assert_eq!((top[0].0, top[0].1), (*id, *lp), "{what}: the drawn (greedy) token is the first of the top");
            let row = &c.logits[st * v..(st + 1) * v];
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|&l| f64::from(l - max).exp()).sum::<f64>().ln() as f32;
            let theirs = ll(st);
            for (j, &(tid, tlp)) in top.iter().enumerate() {
                let d = (tlp - (row[tid as usize] - lse)).abs();
                assert!(d <= 2e-4, "{what}: logprob of {tid} {tlp} vs the fp32 pass's {}", row[tid as usize] - lse);
                worst_abs = worst_abs.max(d);
                let margin_ok = |a: usize, b: usize| (theirs[a].1 - theirs[b].1).abs() > 2.0 * err;
                if (j == 0 || margin_ok(j - 1, j)) && margin_ok(j, j + 1) {
                    assert_eq!(tid, theirs[j].0, "{what}: top {j} is not llama.cpp's");
                    compared += 1;
                }
                if let Some(&(_, l)) = theirs.iter().find(|t| t.0 == tid) {
                    let d = ((tlp - top[0].1) - (l - theirs[0].1)).abs();
                    assert!(d <= 2.0 * err, "{what}: {tid}'s logprob relative to the first: {d} from llama.cpp's");
                    worst_rel = worst_rel.max(d);
                }
            }
        }
        eprintln!(
            "case {ci}: {n} steps; llama.cpp vs fp32 {err:.2e}; {compared} top ids compared, relative logprobs within {worst_rel:.2e} of llama.cpp's, absolute within {worst_abs:.2e} of fp32's"
        );
    }
}

/// The id of a token by its text as the completions' `top_logprobs` keys spell it.
fn token_of(s: &Session, text: &str) -> u32 {
    let t = s.tokenizer();
    (0..t.n_vocab() as u32).find(|&id| String::from_utf8_lossy(t.token_bytes(id)) == text).unwrap()
}

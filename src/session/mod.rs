//! The request layer, shared by every front end (the CLI, the wasm API, the tests): a
//! [`Session`] loads a model from any [`Source`] and answers OpenAI-shaped chat and text
//! completion requests, streamed as chunks or whole, reusing the cached conversation prefix
//! across requests. Front ends only marshal.

mod error;
mod generate;
mod ids;
mod inspect;
mod logprobs;
mod request;
mod response;
mod stop;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use self::ids::{Ids, system_fingerprint};
use crate::chat::reasoning::{self, ReasoningSplitter, Split};
use crate::chat::tools::{ParsedReply, ToolEvent};
use crate::chat::{ChatTemplate, TemplateSource, ToolSetup};
use crate::clock::{now_ms, unix_seconds};
use crate::engine::{Cancel, Engine, EngineError, EngineOptions, EngineStats, LoadTimings, Phase};
use crate::gguf::{Gguf, Summary};
use crate::gpu::{AdapterReport, GpuContext, GpuError, LimitCaps};
use crate::grammar::{Constraint, Grammar, Grammars};
use crate::kernels::{SamplerParams, TokenLogprobs};
use crate::model::{MemoryPlan, ModelConfig, PlanTarget};
use crate::source::{Reader, Source};
use crate::tokenizer::{Tokenizer, TokenizerError};

pub use error::Error;
pub use generate::{OnDelta, Outcome, generate};
pub use inspect::{Inspection, TemplateReport, inspect};
pub use logprobs::{
    ChatLogprobs, ChatTokenLogprob, CompletionLogprobs, TopLogprob, chat_logprobs, completion_logprobs,
};
pub use request::{
    CalledFunction, ChatMessage, Content, ContentPart, FunctionSpec, Generation, JsonSchemaFormat, LogprobsField,
    MessageToolCall, NamedFunction, Request, ResponseFormat, Stop, StreamOptions, ToolChoiceField, ToolSpec,
};
pub use response::{
    AssistantMessage, ChatChoice, ChatChunk, ChatCompletion, ChunkChoice, Completion, Delta, FinishReason,
    FunctionCall, FunctionDelta, PromptDetails, ResponseToolCall, TextChoice, ToolCallDelta, Usage, UsageExtra,
};
pub use stop::StopMatcher;

/// Whether to compute with f16 activations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "serde_json::Value")]
pub enum F16 {
    /// Where the adapter has `shader-f16` (JS: `'auto'`).
    #[default]
    Auto,
    /// Never: f32 activations everywhere (JS: `false`).
    Off,
    /// Always; an adapter without `shader-f16` is an error (JS: `true`).
    Require,
}

impl TryFrom<serde_json::Value> for F16 {
    type Error = String;
    fn try_from(v: serde_json::Value) -> Result<Self, String> {
        match v {
            serde_json::Value::Bool(true) => Ok(F16::Require),
            serde_json::Value::Bool(false) => Ok(F16::Off),
            serde_json::Value::String(s) if s == "auto" => Ok(F16::Auto),
            other => Err(format!("f16 must be 'auto', true or false, not {other}")),
        }
    }
}

/// How to load a model (JS: the options of `Hearth.load`, camelCase).
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LoadOptions {
    /// Context length in tokens (beyond the model's training context the text may degrade).
    pub context_length: u32,
    /// f16 or f32 activations.
    pub f16: F16,
    /// Lower device limits than the adapter's (to run as a smaller GPU would).
    pub limits: LimitCaps,
    /// Most prompt tokens computed in one step.
    pub prefill_chunk: u32,
    /// A tokenizer.json to use instead of the file's tokenizer.
    #[serde(skip)]
    pub tokenizer_json: Option<Vec<u8>>,
    /// A chat template (Jinja) to use instead of the file's, as llama.cpp's
    /// `--chat-template-file` (JS: `chatTemplate`): for files whose template is missing or wrong.
    pub chat_template: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            context_length: 2048,
            f16: F16::Auto,
            limits: LimitCaps::default(),
            prefill_chunk: 128,
            tokenizer_json: None,
            chat_template: None,
        }
    }
}

/// Tokens a chat answer may take unless the user says otherwise (the CLI's chat and the page).
pub const CHAT_MAX_TOKENS: u32 = 512;

/// The settings a front end starts from, defined once here: the CLI's flags default to these
/// and the chat page fills its settings with them (`Hearth.defaults()`).
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Defaults {
    /// Context length of a load.
    pub context_length: u32,
    /// Tokens per prefill chunk.
    pub prefill_chunk: u32,
    /// Sampling (llama.cpp's defaults).
    pub temperature: f32,
    /// Top-k (0: off).
    pub top_k: u32,
    /// Top-p (1: off).
    pub top_p: f32,
    /// Min-p (0: off).
    pub min_p: f32,
    /// Repetition penalty (1: off).
    pub repeat_penalty: f32,
    /// Frequency penalty.
    pub frequency_penalty: f32,
    /// Presence penalty.
    pub presence_penalty: f32,
    /// Most tokens of a chat answer.
    pub max_tokens: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        let (load, s) = (LoadOptions::default(), crate::kernels::SamplerParams::default());
        Defaults {
            context_length: load.context_length,
            prefill_chunk: load.prefill_chunk,
            temperature: s.temperature,
            top_k: s.top_k,
            top_p: s.top_p,
            min_p: s.min_p,
            repeat_penalty: s.repeat_penalty,
            frequency_penalty: s.frequency_penalty,
            presence_penalty: s.presence_penalty,
            max_tokens: CHAT_MAX_TOKENS,
        }
    }
}

/// Everything a load decides from the header before its first weight, in the order a load
/// meets it: the architecture and its hyper-parameters, the tensors the architecture reads
/// (names, shapes, types; none it does not use), the tokenizer (and that its ids index the
/// token table) and the chat template. `inspect` runs the same, so that a file it accepts never
/// fails to load for a reason the header showed.
pub fn check_header(gguf: &Gguf, opts: &LoadOptions) -> Result<(ModelConfig, Tokenizer, ChatTemplate), Error> {
    // Unsupported architectures and hostile hyper-parameters fail here, before the tokenizer
    // and any weight.
    let cfg = ModelConfig::from_gguf(gguf)?;
    let act = if opts.f16 == F16::Off { 4 } else { 2 };
    MemoryPlan::new(gguf, &cfg, opts.context_length, opts.prefill_chunk, &PlanTarget::default_gpu(act))
        .map_err(|e| Error::Engine(EngineError::Plan(e)))?;
    let tokenizer = match &opts.tokenizer_json {
        Some(json) => Tokenizer::from_json(json, Some(gguf))?,
        None => Tokenizer::from_gguf(gguf)?,
    };
    // Every id the tokenizer can produce must index the model's token table; past it the
    // embedding gather would read nothing and the step run on stale activations.
    if tokenizer.n_vocab() > cfg.n_vocab as usize {
        return Err(Error::Tokenizer(TokenizerError::VocabMismatch {
            tokenizer: tokenizer.n_vocab(),
            model: cfg.n_vocab,
        }));
    }
    let template = ChatTemplate::from_gguf_or(gguf, opts.chat_template.clone())?;
    Ok((cfg, tokenizer, template))
}

/// Where a load's time went, in milliseconds.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct LoadReport {
    /// Opening the GPU.
    pub gpu_ms: f64,
    /// Reading and parsing the header.
    pub header_ms: f64,
    /// Building the tokenizer and the chat template.
    pub tokenizer_ms: f64,
    /// Streaming weights and compiling pipelines.
    #[serde(flatten)]
    pub engine: LoadTimings,
    /// Everything.
    pub total_ms: f64,
    /// Bytes of wasm memory when the load began, once the header and the tokenizer were
    /// read, and at the end (browser only): the weights stream through a bounded buffer, so
    /// the last two differ by a few MiB whatever the model's size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm_memory: Option<[u64; 3]>,
}

/// A description of a loaded model: what `engine.info()` returns in JS.
#[derive(Clone, Debug, Serialize)]
pub struct Info {
    /// `general.name`, or the architecture.
    pub model: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Size of the file in bytes.
    pub file_size: u64,
    /// Number of weights.
    pub n_parameters: u64,
    /// Types of the weight matrices.
    pub weight_types: Vec<String>,
    /// The GPU.
    pub adapter: AdapterReport,
    /// `f16` or `f32` activations.
    pub precision: &'static str,
    /// Context length in tokens.
    pub context_length: u32,
    /// The model's training context.
    pub context_length_train: u32,
    /// Tokens in the KV cache now.
    pub cached_tokens: usize,
    /// The chat template: `file`, or `built-in NAME` when the file has none.
    pub chat_template: String,
    /// GPU memory allocated, in bytes.
    pub gpu_memory: GpuMemory,
    /// Where the load's time went.
    pub load: LoadReport,
    /// Which model file, hearth version and precision answer (as in every response).
    pub system_fingerprint: String,
    /// What the engine has run since the load: tokens prefilled and decoded, decode steps
    /// and their dispatches (a request stopped early stops these counting).
    pub stats: EngineStats,
    /// The counts and timings of the last request that ran to its end (aborted ones too).
    pub last_usage: Option<Usage>,
    /// Bytes of wasm linear memory (browser only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wasm_memory_bytes: Option<u64>,
}

/// GPU memory of a loaded model, in bytes.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GpuMemory {
    /// Weights (pages in the GPU layout, biases, norms).
    pub weights: u64,
    /// KV caches.
    pub kv_cache: u64,
    /// The recurrent layers' state (conv rings, delta-net snapshots).
    pub recurrent_state: u64,
    /// Everything held (weights, caches, activations, scratch, parameters): what the memory
    /// plan says, to the byte.
    pub total: u64,
}

/// The chunk delta of a reply's tool events: its content and call pieces.
fn tool_delta(events: &[ToolEvent]) -> Delta {
    let mut content = String::new();
    let mut calls = Vec::new();
    for e in events {
        match e {
            ToolEvent::Content(t) => content.push_str(t),
            ToolEvent::CallStart { index, id, name } => calls.push(ToolCallDelta {
                index: *index,
                id: Some(id.clone()),
                kind: Some("function"),
                function: FunctionDelta { name: Some(name.clone()), arguments: String::new() },
            }),
            ToolEvent::Arguments { index, fragment } => calls.push(ToolCallDelta {
                index: *index,
                id: None,
                kind: None,
                function: FunctionDelta { name: None, arguments: fragment.clone() },
            }),
        }
    }
    Delta {
        content: (!content.is_empty()).then_some(content),
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Delta::default()
    }
}

/// Bytes of wasm linear memory (it only grows, so this is also the peak).
pub fn wasm_memory_bytes() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    {
        Some(core::arch::wasm32::memory_size(0) as u64 * 65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

/// A loaded model with its tokenizer and chat template, answering requests.
pub struct Session {
    gguf: Gguf,
    tokenizer: Arc<Tokenizer>,
    template: ChatTemplate,
    /// Grammars over this model's vocabulary, built at the first constrained request.
    grammars: Option<Grammars>,
    /// The engine (exposed for evaluation and benchmarks).
    pub engine: Engine,
    model: String,
    load: LoadReport,
    ids: Ids,
    fingerprint: String,
    /// The counts and timings of the last request that ran.
    last_usage: Option<Usage>,
}

impl Session {
    /// Opens the GPU and loads the model that `source` streams: header, tokenizer and chat
    /// template first, then the weights straight onto the GPU a bounded chunk at a time,
    /// then the pipelines. `progress` hears of the weights (bytes) and the compile step.
    pub async fn load<S: Source>(
        source: S,
        opts: &LoadOptions,
        progress: &mut dyn FnMut(Phase, u64, u64),
    ) -> Result<Session, Error> {
        let t0 = now_ms();
        let memory_at_start = wasm_memory_bytes();
        let ctx = GpuContext::with_caps(&opts.limits).await?;
        if opts.f16 == F16::Require && !ctx.has_f16() {
            return Err(GpuError::MissingFeature("shader-f16").into());
        }
        let t_gpu = now_ms();
        let mut reader = Reader::new(source);
        let gguf = reader.read_header().await?;
        let t_header = now_ms();
        let (_, tokenizer, template) = check_header(&gguf, opts)?;
        let t_tokenizer = now_ms();
        let memory_before_weights = wasm_memory_bytes();
        let engine_opts = EngineOptions {
            n_ctx: opts.context_length,
            max_chunk: opts.prefill_chunk,
            f16: opts.f16 != F16::Off,
            sampler: SamplerParams::default(),
        };
        let engine = Engine::load(ctx, &gguf, &mut reader, &engine_opts, progress).await?;
        let model = Summary::new(&gguf).name.unwrap_or_else(|| engine.cfg.arch.clone());
        let load = LoadReport {
            gpu_ms: t_gpu - t0,
            header_ms: t_header - t_gpu,
            tokenizer_ms: t_tokenizer - t_header,
            engine: engine.load_timings,
            total_ms: now_ms() - t0,
            wasm_memory: match (memory_at_start, memory_before_weights, wasm_memory_bytes()) {
                (Some(a), Some(b), Some(c)) => Some([a, b, c]),
                _ => None,
            },
        };
        let fingerprint = system_fingerprint(&gguf, engine.f16());
        Ok(Session {
            gguf,
            tokenizer: Arc::new(tokenizer),
            template,
            grammars: None,
            engine,
            model,
            load,
            ids: Ids::new(),
            fingerprint,
            last_usage: None,
        })
    }

    /// The file's header.
    pub fn gguf(&self) -> &Gguf {
        &self.gguf
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template.
    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    /// What is loaded, on what, and how long it took.
    pub fn info(&self) -> Info {
        let e = &self.engine;
        let summary = Summary::new(&self.gguf);
        let mut weight_types: Vec<String> =
            crate::model::matrix_types(&self.gguf).iter().map(|t| t.to_string()).collect();
        weight_types.dedup();
        Info {
            model: self.model.clone(),
            system_fingerprint: self.fingerprint.clone(),
            architecture: e.cfg.arch.clone(),
            file_size: self.gguf.file_size(),
            n_parameters: summary.n_parameters,
            weight_types,
            adapter: e.ctx.report(),
            precision: if e.f16() { "f16" } else { "f32" },
            context_length: e.n_ctx(),
            context_length_train: e.cfg.n_ctx_train,
            cached_tokens: e.cached().len(),
            chat_template: match self.template.source {
                TemplateSource::File => "file".into(),
                TemplateSource::BuiltIn(name) => format!("built-in {name}"),
            },
            gpu_memory: GpuMemory {
                weights: e.weight_gpu_bytes(),
                kv_cache: e.kv_cache_bytes(),
                recurrent_state: e.recurrent_state_bytes(),
                total: e.ctx.allocated_bytes(),
            },
            load: self.load,
            stats: e.stats,
            last_usage: self.last_usage.clone(),
            wasm_memory_bytes: wasm_memory_bytes(),
        }
    }

    /// Token ids of a chat request's prompt: the template rendered, then tokenized.
    pub fn chat_prompt_ids(&self, req: &Request) -> Result<Vec<u32>, Error> {
        Ok(self.chat_prompt(req)?.0)
    }

    /// A chat request's prompt ids, its tools set up against the template, and whether the
    /// prompt opens the model's reasoning (the reply then starts inside it).
    fn chat_prompt(&self, req: &Request) -> Result<(Vec<u32>, ToolSetup, bool), Error> {
        let (tools, choice, parallel) = req.tools()?;
        let tokenizer = &self.tokenizer;
        let control_token = |text: &str| tokenizer.token_id(text).filter(|&id| tokenizer.token_bytes(id).is_empty());
        let setup = ToolSetup::new(&self.template, tools, choice, parallel, &control_token).map_err(Error::Request)?;
        let (turns, reply_start) = req.chat_turns()?;
        let messages = setup.messages(&turns);
        let mut text =
            self.template.render_with_kwargs(&messages, &setup.tools, true, unix_seconds(), &req.template_kwargs()?)?;
        let opens_reasoning = reasoning::prompt_opens_reasoning(&text);
        // A reply to continue: the assistant's turn is open and its start follows as written.
        // That start is the answer's text: where the prompt opened the reasoning (R1 distills,
        // Qwen3), the reasoning is closed first, as those models close it.
        let continues = reply_start.is_some();
        if let Some(start) = reply_start {
            if opens_reasoning {
                text.push_str(reasoning::CLOSE);
                text.push_str("\n\n");
            }
            text.push_str(&start);
        }
        let ids = self.tokenizer.encode(&text, !self.template.renders_bos(&text), true)?;
        Ok((ids, setup, opens_reasoning && !continues))
    }

    /// Token ids of a text completion request's prompt (special tokens parsed).
    pub fn completion_prompt_ids(&self, req: &Request) -> Result<Vec<u32>, Error> {
        Ok(self.tokenizer.encode(req.completion_prompt()?, true, true)?)
    }

    /// The constraint of a request's `response_format`, compiled before anything is generated
    /// (a schema that cannot be enforced is refused here).
    fn constraint(&mut self, g: &Generation) -> Result<Option<Constraint>, Error> {
        let Some(grammar) = &g.grammar else { return Ok(None) };
        let grammars = match &mut self.grammars {
            Some(grammars) => grammars,
            none => none.insert(Grammars::new(self.tokenizer.clone(), self.engine.cfg.n_vocab)?),
        };
        Ok(Some(grammars.constrain(grammar)?))
    }

    /// Forgets the cached conversation: the next request computes its whole prompt.
    pub fn reset_cache(&mut self) {
        self.engine.reset();
    }

    fn next_id(&mut self, prefix: &str) -> (String, u64) {
        (self.ids.next(prefix), unix_seconds())
    }

    /// Answers a chat completion request; with `stream`, `on_chunk` hears every chunk first.
    /// With tools, the reply is parsed into `message.tool_calls` (streamed as
    /// `delta.tool_calls` pieces) and held to the calls' grammar as `tool_choice` says.
    pub async fn chat(
        &mut self,
        req: &Request,
        cancel: &Cancel,
        on_chunk: &mut dyn FnMut(&ChatChunk),
    ) -> Result<ChatCompletion, Error> {
        let (prompt_ids, setup, opens_reasoning) = self.chat_prompt(req)?;
        let splits_reasoning = req.splits_reasoning()? && self.template.thinks();
        let mut g = req.generation()?;
        if let Some(lark) = setup.grammar() {
            if g.grammar.is_some() {
                return Err(Error::Request(
                    "`response_format` and tool calls cannot both hold the reply: drop one, or set `tool_choice: \"none\"`"
                        .into(),
                ));
            }
            g.grammar = Some(Grammar::Lark(lark));
        }
        let (id, created) = self.next_id("chatcmpl");
        let (model, fingerprint) = (self.model.clone(), self.fingerprint.clone());
        let opener = setup.opener_token();
        let ids = |v: &[u32]| req.return_token_ids.then(|| v.to_vec());
        let chunk = |choices, usage, prompt_token_ids| ChatChunk {
            id: id.clone(),
            object: "chat.completion.chunk",
            created,
            model: model.clone(),
            system_fingerprint: fingerprint.clone(),
            choices,
            usage,
            prompt_token_ids,
        };
        let tokenizer = self.tokenizer.clone();
        let logprobs = |lps: &[TokenLogprobs]| g.logprobs.map(|_| chat_logprobs(&tokenizer, lps));
        let choice = |index, delta, finish_reason, token_ids, logprobs| ChunkChoice {
            index,
            delta,
            finish_reason,
            logprobs,
            token_ids,
        };
        // `n` choices one after another, each from the prompt's cache (the first computed it).
        let mut choices = Vec::new();
        let mut usages = Vec::new();
        for index in 0..g.n {
            let mut constraint = self.constraint(&g)?;
            let seed = self.ids.seed();
            let mut parser = setup.active().then(|| setup.parser(seed));
            // Reasoning apart from the answer; a prompt that opens it starts the reply inside
            // it, unless a grammar holds the whole reply (it leaves no room to think).
            let mut splitter = splits_reasoning.then(|| ReasoningSplitter::new(opens_reasoning && g.grammar.is_none()));
            let mut reasoning = String::new();
            let mut content = String::new();
            if req.stream {
                let first = Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() };
                let prompt = if index == 0 { ids(&prompt_ids) } else { None };
                on_chunk(&chunk(vec![choice(index, first, None, None, None)], None, prompt));
            }
            let mut reply = ParsedReply::default();
            // A piece of the reply's text as a chunk's delta: reasoning, and the answer's text
            // or tool-call pieces.
            let mut delta_of = |text: &str, new: &[u32], splitter: Option<&mut ReasoningSplitter>, tail: Split| {
                let split = match splitter {
                    Some(s) => s.push(text),
                    None => Split { reasoning: tail.reasoning, content: text.to_owned() },
                };
                let mut delta = match &mut parser {
                    None => {
                        content.push_str(&split.content);
                        let keep = !split.content.is_empty() || !splits_reasoning;
                        Delta { content: keep.then_some(split.content), ..Delta::default() }
                    }
                    Some(parser) => {
                        // An opener that is a control token has no text: the parser hears its name.
                        let mut events = Vec::new();
                        if let Some((token, name)) = opener
                            && new.contains(&token)
                        {
                            events.extend(parser.push(name));
                        }
                        events.extend(parser.push(&split.content));
                        reply.apply(&events);
                        tool_delta(&events)
                    }
                };
                if !split.reasoning.is_empty() {
                    reasoning.push_str(&split.reasoning);
                    delta.reasoning_content = Some(split.reasoning);
                }
                delta
            };
            let out = generate(
                &mut self.engine,
                &tokenizer,
                &prompt_ids,
                &g.for_choice(index),
                constraint.as_mut(),
                cancel,
                &mut |text, new, lps| {
                    let delta = delta_of(text, new, splitter.as_mut(), Split::default());
                    if req.stream && (delta != Delta::default() || req.return_token_ids || g.logprobs.is_some()) {
                        on_chunk(&chunk(vec![choice(index, delta, None, ids(new), logprobs(lps))], None, None));
                    }
                },
            )
            .await?;
            // What the splitter held back at the end (a tag never completed, trailing blanks).
            if let Some(mut tail) = splitter.as_mut().map(ReasoningSplitter::finish) {
                let text = std::mem::take(&mut tail.content);
                let delta = delta_of(&text, &[], None, tail);
                if req.stream && delta != Delta::default() {
                    on_chunk(&chunk(vec![choice(index, delta, None, None, None)], None, None));
                }
            }
            let reasoning_content = splitter.as_ref().filter(|s| s.saw_reasoning()).map(|_| reasoning);
            let mut finish = out.finish;
            let message = match &mut parser {
                None => AssistantMessage {
                    role: "assistant",
                    content: Some(if splits_reasoning { content } else { out.text }),
                    refusal: None,
                    reasoning_content,
                    tool_calls: None,
                },
                Some(parser) => {
                    let events = parser.finish();
                    reply.apply(&events);
                    if req.stream && !events.is_empty() {
                        on_chunk(&chunk(vec![choice(index, tool_delta(&events), None, None, None)], None, None));
                    }
                    if !reply.calls.is_empty() && finish == FinishReason::Stop {
                        finish = FinishReason::ToolCalls;
                    }
                    let calls: Vec<ResponseToolCall> = reply
                        .calls
                        .iter()
                        .map(|c| ResponseToolCall {
                            id: c.id.clone().unwrap_or_default(),
                            kind: "function",
                            function: FunctionCall { name: c.name.clone(), arguments: c.arguments.clone() },
                        })
                        .collect();
                    AssistantMessage {
                        role: "assistant",
                        content: (calls.is_empty() || !reply.content.is_empty()).then(|| reply.content.clone()),
                        refusal: None,
                        reasoning_content,
                        tool_calls: (!calls.is_empty()).then_some(calls),
                    }
                }
            };
            if req.stream {
                on_chunk(&chunk(vec![choice(index, Delta::default(), Some(finish), None, None)], None, None));
            }
            choices.push(ChatChoice {
                index,
                message,
                finish_reason: finish,
                logprobs: logprobs(&out.logprobs),
                token_ids: ids(&out.token_ids),
            });
            usages.push(out.usage);
            if finish == FinishReason::Abort {
                break;
            }
        }
        let usage = Usage::of_choices(usages);
        self.last_usage = Some(usage.clone());
        if req.stream && req.include_usage() {
            on_chunk(&chunk(Vec::new(), Some(usage.clone()), None));
        }
        Ok(ChatCompletion {
            id: id.clone(),
            object: "chat.completion",
            created,
            model,
            system_fingerprint: fingerprint,
            choices,
            usage,
            prompt_token_ids: ids(&prompt_ids),
        })
    }

    /// Answers a text completion request; with `stream`, `on_chunk` hears every chunk first.
    pub async fn complete(
        &mut self,
        req: &Request,
        cancel: &Cancel,
        on_chunk: &mut dyn FnMut(&Completion),
    ) -> Result<Completion, Error> {
        let prompt_ids = self.completion_prompt_ids(req)?;
        let g = req.generation()?;
        let (id, created) = self.next_id("cmpl");
        let (model, fingerprint) = (self.model.clone(), self.fingerprint.clone());
        let ids = |v: &[u32]| req.return_token_ids.then(|| v.to_vec());
        let completion = |choices, usage, prompt_token_ids| Completion {
            id: id.clone(),
            object: "text_completion",
            created,
            model: model.clone(),
            system_fingerprint: fingerprint.clone(),
            choices,
            usage,
            prompt_token_ids,
        };
        let tokenizer = self.tokenizer.clone();
        let choice = |index, text: &str, finish_reason, token_ids, logprobs| TextChoice {
            index,
            text: text.to_owned(),
            finish_reason,
            logprobs,
            token_ids,
        };
        // `n` choices one after another, each from the prompt's cache (the first computed it).
        let mut choices = Vec::new();
        let mut usages = Vec::new();
        let mut first = true;
        for index in 0..g.n {
            let mut constraint = self.constraint(&g)?;
            // Offsets run over the whole reply, chunk after chunk.
            let mut offset = 0;
            let mut logprobs = |lps: &[TokenLogprobs]| {
                let at = offset;
                offset += lps.iter().map(|lp| tokenizer.token_bytes(lp.id).len()).sum::<usize>();
                g.logprobs.map(|_| completion_logprobs(&tokenizer, lps, at))
            };
            let out = generate(
                &mut self.engine,
                &tokenizer,
                &prompt_ids,
                &g.for_choice(index),
                constraint.as_mut(),
                cancel,
                &mut |text, new, lps| {
                    if req.stream {
                        let prompt = if std::mem::take(&mut first) { ids(&prompt_ids) } else { None };
                        on_chunk(&completion(vec![choice(index, text, None, ids(new), logprobs(lps))], None, prompt));
                    }
                },
            )
            .await?;
            if req.stream {
                let prompt = if std::mem::take(&mut first) { ids(&prompt_ids) } else { None };
                on_chunk(&completion(vec![choice(index, "", Some(out.finish), None, None)], None, prompt));
            }
            let whole = g.logprobs.map(|_| completion_logprobs(&tokenizer, &out.logprobs, 0));
            choices.push(choice(index, &out.text, Some(out.finish), ids(&out.token_ids), whole));
            usages.push(out.usage);
            if out.finish == FinishReason::Abort {
                break;
            }
        }
        let usage = Usage::of_choices(usages);
        self.last_usage = Some(usage.clone());
        if req.stream && req.include_usage() {
            on_chunk(&completion(Vec::new(), Some(usage.clone()), None));
        }
        Ok(completion(choices, Some(usage), ids(&prompt_ids)))
    }
}

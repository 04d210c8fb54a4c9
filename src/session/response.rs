//! Responses and stream chunks, shaped like OpenAI's (and WebLLM's: timings in
//! `usage.extra`; vLLM's `token_ids` when the request asks for them).

use serde::Serialize;

use super::logprobs::{ChatLogprobs, CompletionLogprobs};

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-generation token or a stop string.
    Stop,
    /// `max_tokens` reached, or the context is full.
    Length,
    /// `abort()` was called.
    Abort,
    /// The reply called tools (`message.tool_calls`).
    ToolCalls,
}

/// Token counts and timings of one request.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Usage {
    /// Tokens of the prompt (cached ones included).
    pub prompt_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// The sum.
    pub total_tokens: usize,
    /// Details of the prompt.
    pub prompt_tokens_details: PromptDetails,
    /// Timings, as WebLLM reports them.
    pub extra: UsageExtra,
}

impl Usage {
    /// The usage of a request's choices together: the prompt's counts and timings from the
    /// first (the later ones start from its cache), the generated tokens of all.
    pub fn of_choices(choices: Vec<Usage>) -> Usage {
        let completion_tokens = choices.iter().map(|u| u.completion_tokens).sum();
        let mut usage = choices.into_iter().next().unwrap_or_default();
        usage.completion_tokens = completion_tokens;
        usage.total_tokens = usage.prompt_tokens + completion_tokens;
        usage
    }
}

/// `usage.prompt_tokens_details`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PromptDetails {
    /// Prompt tokens whose keys and values were still cached from the previous request.
    pub cached_tokens: usize,
}

/// `usage.extra`: where the request's time went.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UsageExtra {
    /// From the request to its first generated token.
    pub time_to_first_token_s: f64,
    /// Prompt tokens computed (not cached) per second.
    pub prefill_tokens_per_s: f64,
    /// Tokens generated per second after the first.
    pub decode_tokens_per_s: f64,
    /// Mean time per generated token after the first.
    pub time_per_output_token_s: f64,
    /// The whole request.
    pub e2e_latency_s: f64,
    /// GPU submits per decoded token (1 in steady state; the step run ahead past the last
    /// token counts too).
    pub submits_per_token: f64,
    /// Kernel dispatches per decoded token.
    pub dispatches_per_token: f64,
    /// Per decoded token, how often the CPU waited for a token with no later step queued
    /// (the GPU idle meanwhile): 0 when steps run ahead.
    pub gpu_idle_waits_per_token: f64,
    /// Constrained decoding: milliseconds of CPU per generated token computing the grammar's
    /// masks (absent without `response_format`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grammar_mask_ms_per_token: Option<f64>,
    /// Constrained decoding: generated tokens the grammar forced, run as prefill chunks
    /// rather than one decode step each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grammar_forced_tokens: Option<usize>,
}

/// The assistant's message of a chat completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AssistantMessage {
    /// Always `assistant`.
    pub role: &'static str,
    /// The reply's text (null when it only calls tools, as OpenAI's API has it).
    pub content: Option<String>,
    /// OpenAI's refusal: always null (hearth has no refusal channel), present because OpenAI's
    /// clients type it as always there.
    pub refusal: Option<String>,
    /// The model's reasoning (`<think>…</think>` of templates that think), apart from
    /// `content` (absent when the reply had none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// The calls the reply made (absent without any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ResponseToolCall>>,
}

impl AssistantMessage {
    /// The reply's text ("" when it has none).
    pub fn text(&self) -> &str {
        self.content.as_deref().unwrap_or_default()
    }
}

/// A call in a reply (`message.tool_calls[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResponseToolCall {
    /// The call's id (give it back as the tool message's `tool_call_id`).
    pub id: String,
    /// Always `function`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The function and its arguments.
    pub function: FunctionCall,
}

/// `tool_calls[].function`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionCall {
    /// The function's name.
    pub name: String,
    /// Its arguments, JSON text as the model wrote it.
    pub arguments: String,
}

/// A piece of a call in a chunk (`delta.tool_calls[]`): the first piece of a call has its id,
/// type and name, later ones more of the arguments.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ToolCallDelta {
    /// Which call of the reply.
    pub index: usize,
    /// The call's id (first piece).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `function` (first piece).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    /// The name (first piece) and argument text.
    pub function: FunctionDelta,
}

/// `delta.tool_calls[].function`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FunctionDelta {
    /// The function's name (first piece).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// More of the arguments' JSON text.
    pub arguments: String,
}

/// One choice of a chat completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatChoice {
    /// Which choice: 0 to `n` - 1.
    pub index: u32,
    /// The reply.
    pub message: AssistantMessage,
    /// Why it ended.
    pub finish_reason: FinishReason,
    /// The tokens' log-probabilities (`logprobs: true`), else null.
    pub logprobs: Option<ChatLogprobs>,
    /// The reply's token ids (`return_token_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
}

/// A whole chat completion (`stream: false`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatCompletion {
    /// `chatcmpl-` (`cmpl-` for text) and 24 random letters and digits.
    pub id: String,
    /// Always `chat.completion`.
    pub object: &'static str,
    /// Unix time in seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// Which model file, hearth version and precision produced it (`fp_` and 16 hex digits):
    /// with a seed, replies are repeatable while it stays the same.
    pub system_fingerprint: String,
    /// One choice.
    pub choices: Vec<ChatChoice>,
    /// Counts and timings.
    pub usage: Usage,
    /// The prompt's token ids (`return_token_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<u32>>,
}

/// What a chat chunk adds to the reply.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Delta {
    /// `assistant` in the first chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    /// New text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// New reasoning text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    /// Pieces of tool calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// One choice of a chat chunk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChunkChoice {
    /// Which choice: 0 to `n` - 1.
    pub index: u32,
    /// New text.
    pub delta: Delta,
    /// Set in the last chunk.
    pub finish_reason: Option<FinishReason>,
    /// The new tokens' log-probabilities (`logprobs: true`), else null.
    pub logprobs: Option<ChatLogprobs>,
    /// Token ids generated since the previous chunk (`return_token_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
}

/// One chunk of a streamed chat completion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatChunk {
    /// The request's id (`chatcmpl-` and 24 random letters and digits), in every chunk.
    pub id: String,
    /// Always `chat.completion.chunk`.
    pub object: &'static str,
    /// Unix time in seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// Which model file, hearth version and precision produced it (`fp_` and 16 hex digits):
    /// with a seed, replies are repeatable while it stays the same.
    pub system_fingerprint: String,
    /// One choice; none in the usage chunk.
    pub choices: Vec<ChunkChoice>,
    /// In the last chunk when `stream_options.include_usage` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// In the first chunk (`return_token_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<u32>>,
}

/// One choice of a text completion or of one of its chunks.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TextChoice {
    /// Which choice: 0 to `n` - 1.
    pub index: u32,
    /// The text (new text, in a chunk).
    pub text: String,
    /// Why it ended (in a chunk: only the last).
    pub finish_reason: Option<FinishReason>,
    /// The tokens' log-probabilities (`logprobs: N`), else null.
    pub logprobs: Option<CompletionLogprobs>,
    /// Token ids (`return_token_ids`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_ids: Option<Vec<u32>>,
}

/// A text completion (`stream: false`) or one chunk of a streamed one (the same shape, as in
/// OpenAI's API).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Completion {
    /// `chatcmpl-` (`cmpl-` for text) and 24 random letters and digits.
    pub id: String,
    /// Always `text_completion`.
    pub object: &'static str,
    /// Unix time in seconds.
    pub created: u64,
    /// The model's name.
    pub model: String,
    /// Which model file, hearth version and precision produced it (`fp_` and 16 hex digits):
    /// with a seed, replies are repeatable while it stays the same.
    pub system_fingerprint: String,
    /// One choice; none in the usage chunk.
    pub choices: Vec<TextChoice>,
    /// Counts and timings (in a stream: the last chunk, with `include_usage`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The prompt's token ids (`return_token_ids`; in a stream: the first chunk).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt_token_ids: Option<Vec<u32>>,
}

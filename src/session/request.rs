//! Requests, shaped like OpenAI's chat and text completion requests (what WebLLM and the
//! OpenAI clients send), and their validation into what the engine runs.

use serde::Deserialize;

use super::Error;
use crate::chat::{Message, Tool, ToolCall, ToolChoice};
use crate::grammar::Grammar;
use crate::kernels::MAX_TOP_LOGPROBS;
use crate::kernels::SamplerParams;

/// A chat completion (`messages`) or text completion (`prompt`) request. Unset sampling
/// fields take llama.cpp's defaults (temperature 0.8, top-k 40, top-p 0.95, min-p 0.05).
/// Fields hearth does not know are refused, so that a misspelt option never goes unnoticed.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The conversation (chat completions).
    pub messages: Option<Vec<ChatMessage>>,
    /// The text to continue (text completions); special tokens in it are parsed.
    pub prompt: Option<String>,
    /// Accepted for compatibility; the loaded model answers.
    pub model: Option<String>,
    /// Stream the reply as chunks.
    #[serde(default)]
    pub stream: bool,
    /// Streaming options.
    pub stream_options: Option<StreamOptions>,
    /// Temperature; 0 is greedy.
    pub temperature: Option<f32>,
    /// Nucleus sampling mass (1: off).
    pub top_p: Option<f32>,
    /// Keep the k most likely tokens (0: off).
    pub top_k: Option<u32>,
    /// Drop tokens below min_p × the best token's probability (0: off).
    pub min_p: Option<f32>,
    /// Most tokens to generate (default: until the context is full).
    pub max_tokens: Option<u32>,
    /// The same as `max_tokens` (OpenAI's newer name).
    pub max_completion_tokens: Option<u32>,
    /// Stop before any of these strings.
    pub stop: Option<Stop>,
    /// Makes sampling repeatable: the same seed and request give the same tokens.
    pub seed: Option<u64>,
    /// Subtracted from a token's logit per occurrence in the recent history.
    pub frequency_penalty: Option<f32>,
    /// Subtracted once from the logit of a token present in the recent history.
    pub presence_penalty: Option<f32>,
    /// llama.cpp's repetition penalty (1: off).
    #[serde(alias = "repeat_penalty")]
    pub repetition_penalty: Option<f32>,
    /// Keep generating past end-of-generation tokens (vLLM and llama.cpp have it too).
    #[serde(default)]
    pub ignore_eos: bool,
    /// Also return the prompt's and the reply's token ids (as vLLM does).
    #[serde(default)]
    pub return_token_ids: bool,
    /// Number of choices (1 to 16), one after another from the prompt's cache.
    pub n: Option<u32>,
    /// What the reply must be: free text, any JSON object, JSON valid against a schema, or text
    /// of a Lark grammar. Enforced while decoding (every token is drawn from those the
    /// grammar allows), so a reply that ends with `stop` always parses.
    pub response_format: Option<ResponseFormat>,
    /// Log-probabilities of the reply's tokens: `true` in a chat request (with
    /// `top_logprobs`), the number of most likely tokens per position (0 to 20) in a text
    /// completion request.
    pub logprobs: Option<LogprobsField>,
    /// How many of the most likely tokens to give at each position (0 to 20; chat requests,
    /// with `logprobs: true`).
    pub top_logprobs: Option<u32>,
    /// Functions the model may call (OpenAI's `tools`: `{type: "function", function: {name,
    /// description, parameters}}`). The chat template receives them; calls come back in
    /// `message.tool_calls`.
    pub tools: Option<Vec<ToolSpec>>,
    /// `"none"`, `"auto"` (the default with tools), `"required"`, or `{type: "function",
    /// function: {name}}`. With `"required"` or a named function the reply is held to calls
    /// whose arguments follow the function's schema; with `"auto"` a call, once begun, is.
    pub tool_choice: Option<ToolChoiceField>,
    /// Whether a reply may call several tools (default true; Llama 3.x templates take one).
    pub parallel_tool_calls: Option<bool>,
    /// Variables for the chat template, as llama.cpp's and vLLM's servers take them (e.g.
    /// `{"enable_thinking": false}` for Qwen3); they take the place of hearth's defaults of the
    /// same name. `messages`, `tools` and `add_generation_prompt` are the request's own.
    pub chat_template_kwargs: Option<serde_json::Map<String, serde_json::Value>>,
    /// `auto` (the default): a model whose template thinks in `<think>…</think>` has that
    /// text in `reasoning_content`, apart from `content`; `none`: the reply's text as written.
    pub reasoning_format: Option<String>,
    /// The last message is the start of the assistant's reply, which the model goes on with
    /// (vLLM's name; llama.cpp's server does the same with a final assistant message): the
    /// reply holds only what it adds. "Continue" on a reply cut by `max_tokens`.
    #[serde(default)]
    pub continue_final_message: bool,
    /// Accepted for compatibility; unused.
    pub user: Option<String>,
    /// OpenAI's server-side storage of completions: hearth keeps nothing, so only `false` (the
    /// no-op) is accepted.
    pub store: Option<bool>,
    /// Tags for stored completions; nothing is stored, so they are accepted and unused.
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// OpenAI's processing tier: `auto` and `default` (no-ops) are accepted.
    pub service_tier: Option<String>,
    /// Output modalities: only `["text"]`.
    pub modalities: Option<Vec<String>>,
    /// OpenAI's per-token logit offsets: not implemented (refused with the reason).
    pub logit_bias: Option<serde_json::Value>,
    /// OpenAI's deprecated function calling: refused, pointing to `tools`.
    pub functions: Option<serde_json::Value>,
    /// OpenAI's deprecated function calling: refused, pointing to `tool_choice`.
    pub function_call: Option<serde_json::Value>,
    /// Audio output: refused (text only).
    pub audio: Option<serde_json::Value>,
    /// Predicted outputs: refused.
    pub prediction: Option<serde_json::Value>,
    /// Hosted web search: refused.
    pub web_search_options: Option<serde_json::Value>,
}

/// One of `tools`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// Only `function`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The function.
    pub function: FunctionSpec,
}

/// `tools[].function`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: Option<String>,
    /// The JSON schema of its arguments.
    pub parameters: Option<serde_json::Value>,
    /// OpenAI's strict mode: the arguments are held to the schema either way.
    pub strict: Option<bool>,
}

/// `tool_choice`: a word or a named function.
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "`tool_choice`: \"none\", \"auto\", \"required\" or {type: \"function\", function: {name}}"
)]
pub enum ToolChoiceField {
    /// `none`, `auto` or `required`.
    Word(String),
    /// `{type: "function", function: {name}}`.
    Named {
        /// Only `function`.
        #[serde(rename = "type")]
        kind: String,
        /// The function's name.
        function: NamedFunction,
    },
}

/// `tool_choice.function`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedFunction {
    /// The function's name.
    pub name: String,
}

/// A call in an assistant message of the history.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageToolCall {
    /// The call's id.
    pub id: Option<String>,
    /// Only `function`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The function and its arguments.
    pub function: CalledFunction,
}

/// `tool_calls[].function`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalledFunction {
    /// The function's name.
    pub name: String,
    /// JSON text (OpenAI's shape), or a JSON object.
    pub arguments: serde_json::Value,
}

/// `logprobs`: a flag in chat requests, a count in text completion requests (as OpenAI has it).
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(untagged, expecting = "`logprobs`: true or false (chat), or a number of tokens (text completions)")]
pub enum LogprobsField {
    /// Chat: whether to return log-probabilities.
    Flag(bool),
    /// Text completions: how many of the most likely tokens to give per position.
    Count(u32),
}

/// `stream_options`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
    /// Send a last chunk with the usage.
    #[serde(default)]
    pub include_usage: bool,
}

/// `stop`: one string or several.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    /// One stop string.
    One(String),
    /// Several.
    Many(Vec<String>),
}

/// `response_format` (OpenAI's shapes, and `grammar` for Lark grammars).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ResponseFormat {
    /// Free text (the default).
    Text,
    /// Any JSON object.
    JsonObject,
    /// JSON valid against `json_schema.schema`.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaFormat,
    },
    /// Text of a Lark grammar (llguidance's dialect: `start: …`, regex terminals, `%json {…}`
    /// for embedded schemas).
    Grammar {
        /// The grammar.
        grammar: String,
    },
}

/// `response_format.json_schema`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonSchemaFormat {
    /// The schema's name (required by OpenAI; not used).
    pub name: Option<String>,
    /// What the schema is for (not used).
    pub description: Option<String>,
    /// The JSON schema (absent: any JSON value).
    pub schema: Option<serde_json::Value>,
    /// OpenAI's strict mode. The schema is enforced either way; accepted for compatibility.
    pub strict: Option<bool>,
}

/// One message of a chat request.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChatMessage {
    /// `system`, `developer` (taken as system), `user`, `assistant` or `tool`.
    pub role: String,
    /// Text, or a list of text parts (null in an assistant message that calls tools).
    #[serde(default)]
    pub content: Option<Content>,
    /// The tool (tool messages) or speaker; passed to the template.
    pub name: Option<String>,
    /// The tools an assistant message called.
    pub tool_calls: Option<Vec<MessageToolCall>>,
    /// Which call a tool message answers.
    pub tool_call_id: Option<String>,
    /// OpenAI's refusal text of an assistant message (null in every reply hearth gives); taken
    /// as the message's text when it has no `content`, so that a history kept from OpenAI's
    /// replies goes back in as it came.
    pub refusal: Option<String>,
    /// OpenAI's citations of an assistant reply: accepted and unused.
    pub annotations: Option<serde_json::Value>,
    /// An assistant turn's reasoning, as replies give it: passed to the template (Qwen3's
    /// keeps the last turns' reasoning; most drop it).
    pub reasoning_content: Option<String>,
}

/// Message content: a string or OpenAI's list of parts (text parts, and refusal parts of
/// assistant messages, are read).
#[derive(Clone, Debug, Deserialize)]
#[serde(
    untagged,
    expecting = "`content`: a string, or a list of parts such as {\"type\": \"text\", \"text\": \"…\"} (no other fields)"
)]
pub enum Content {
    /// Plain text.
    Text(String),
    /// Parts, concatenated.
    Parts(Vec<ContentPart>),
}

/// A part of a message's content.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContentPart {
    /// `text` (and `refusal` in an assistant message) is read; OpenAI's `image_url`,
    /// `input_audio` and `file` parts are named in the refusal: the models read text.
    #[serde(rename = "type")]
    pub kind: String,
    /// The text of a `text` part.
    pub text: Option<String>,
    /// The text of a `refusal` part.
    pub refusal: Option<String>,
    /// An `image_url` part's image (refused).
    pub image_url: Option<serde_json::Value>,
    /// An `input_audio` part's audio (refused).
    pub input_audio: Option<serde_json::Value>,
    /// A `file` part's file (refused).
    pub file: Option<serde_json::Value>,
}

impl Request {
    /// The first OpenAI field present that hearth cannot honour, and why.
    fn unsupported(&self) -> Option<String> {
        let why: [(&str, bool, &str); 6] = [
            ("logit_bias", self.logit_bias.is_some(), "per-token logit offsets are not implemented"),
            ("functions", self.functions.is_some(), "the deprecated function fields are not supported: use `tools`"),
            (
                "function_call",
                self.function_call.is_some(),
                "the deprecated function fields are not supported: use `tool_choice`",
            ),
            ("audio", self.audio.is_some(), "hearth writes text only"),
            ("prediction", self.prediction.is_some(), "predicted outputs are not implemented"),
            (
                "web_search_options",
                self.web_search_options.is_some(),
                "nothing here searches the web: the model runs offline",
            ),
        ];
        why.iter().find(|(_, present, _)| *present).map(|(name, _, reason)| format!("`{name}`: {reason}"))
    }
}

/// A request's message as the template takes it.
fn chat_message(m: &ChatMessage) -> Result<Message, Error> {
    let role = match m.role.as_str() {
        "system" | "developer" => "system",
        "user" => "user",
        "assistant" => "assistant",
        "tool" => "tool",
        "function" => {
            return Err(bad(
                "OpenAI's deprecated `function` messages are not supported: use `tools` and `tool` messages",
            ));
        }
        other => {
            return Err(bad(format!("message role '{other}' is not supported (system, user, assistant, tool)")));
        }
    };
    let content = match (&m.content, &m.refusal) {
        (Some(Content::Text(t)), _) => t.clone(),
        (Some(Content::Parts(parts)), _) => parts
            .iter()
            .map(|p| match (p.kind.as_str(), &p.text, &p.refusal) {
                ("text", Some(t), _) => Ok(t.as_str()),
                ("refusal", _, Some(r)) if role == "assistant" => Ok(r.as_str()),
                ("image_url" | "input_audio" | "file", _, _) => {
                    Err(bad(format!("content part '{}' is not supported: the model reads text only", p.kind)))
                }
                (kind, _, _) => Err(bad(format!("content part '{kind}' is not supported (text parts only)"))),
            })
            .collect::<Result<String, Error>>()?,
        (None, Some(refusal)) if role == "assistant" => refusal.clone(),
        (None, _) if m.tool_calls.is_some() => String::new(),
        (None, _) => return Err(bad(format!("a '{role}' message needs `content`"))),
    };
    if m.tool_calls.is_some() && role != "assistant" {
        return Err(bad("only assistant messages carry `tool_calls`"));
    }
    let tool_calls = m
        .tool_calls
        .iter()
        .flatten()
        .map(|c| {
            if c.kind.as_deref().is_some_and(|k| k != "function") {
                return Err(bad("tool calls in `messages` are of type function"));
            }
            let arguments = match &c.function.arguments {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            Ok(ToolCall { id: c.id.clone(), name: c.function.name.clone(), arguments })
        })
        .collect::<Result<Vec<ToolCall>, Error>>()?;
    Ok(Message {
        role: role.to_owned(),
        content,
        tool_calls,
        tool_call_id: m.tool_call_id.clone(),
        name: m.name.clone(),
        reasoning_content: m.reasoning_content.clone().filter(|_| role == "assistant"),
    })
}

/// What a request asks the engine to do, checked.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// Sampling settings.
    pub sampler: SamplerParams,
    /// Whether the request fixed the seed (then the random stream restarts with it).
    pub seeded: bool,
    /// Most tokens to generate (`None`: until the context is full).
    pub max_tokens: Option<u32>,
    /// Stop strings.
    pub stop: Vec<String>,
    /// Keep going past end-of-generation tokens.
    pub ignore_eos: bool,
    /// What the reply must be (`None`: free text).
    pub grammar: Option<Grammar>,
    /// Log-probabilities of each token and of this many most likely ones (`None`: none).
    pub logprobs: Option<u32>,
    /// Choices to generate from the prompt (`n`), one after another.
    pub n: u32,
}

/// Most choices one request may ask for (`n`).
pub const MAX_CHOICES: u32 = 16;

impl Generation {
    /// The settings of choice `index`: a seed restarts the random stream at the first choice
    /// only, so that the choices differ and the same request repeats them all.
    pub fn for_choice(&self, index: u32) -> Generation {
        Generation { seeded: self.seeded && index == 0, ..self.clone() }
    }
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Request(msg.into())
}

impl Request {
    /// Parses a request from JSON.
    pub fn from_json(json: &str) -> Result<Request, Error> {
        serde_json::from_str(json).map_err(|e| bad(e.to_string()))
    }

    /// The chat messages, checked; an error when the request has none.
    pub fn chat_messages(&self) -> Result<Vec<Message>, Error> {
        if self.prompt.is_some() {
            return Err(bad("a chat request takes `messages`, not `prompt`"));
        }
        let messages = self.messages.as_ref().ok_or_else(|| bad("a chat request needs `messages`"))?;
        if messages.is_empty() {
            return Err(bad("`messages` is empty"));
        }
        messages.iter().map(chat_message).collect()
    }

    /// The messages the template renders and, with `continue_final_message`, the start of the
    /// reply after them (the final assistant message's text, checked).
    pub fn chat_turns(&self) -> Result<(Vec<Message>, Option<String>), Error> {
        let mut messages = self.chat_messages()?;
        if !self.continue_final_message {
            return Ok((messages, None));
        }
        match messages.last() {
            Some(m) if m.role == "assistant" && m.tool_calls.is_empty() => {
                let start = messages.pop().map(|m| m.content);
                if messages.is_empty() {
                    return Err(bad("`continue_final_message` needs a message before the assistant's"));
                }
                Ok((messages, start))
            }
            _ => Err(bad(
                "`continue_final_message` continues a final assistant message with text, and the last message is not one",
            )),
        }
    }

    /// The template variables of `chat_template_kwargs`, checked.
    pub fn template_kwargs(&self) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
        let kwargs = self.chat_template_kwargs.clone().unwrap_or_default();
        for key in ["messages", "tools", "add_generation_prompt"] {
            if kwargs.contains_key(key) {
                return Err(bad(format!("`chat_template_kwargs` cannot set `{key}`: the request gives it")));
            }
        }
        Ok(kwargs)
    }

    /// Whether to split reasoning from the answer (`reasoning_format`, checked).
    pub fn splits_reasoning(&self) -> Result<bool, Error> {
        match self.reasoning_format.as_deref() {
            None | Some("auto" | "deepseek") => Ok(true),
            Some("none") => Ok(false),
            Some(other) => Err(bad(format!("`reasoning_format` '{other}' is not known (auto, deepseek or none)"))),
        }
    }

    /// The request's tools, `tool_choice` and `parallel_tool_calls`, checked.
    pub fn tools(&self) -> Result<(Vec<Tool>, ToolChoice, bool), Error> {
        let tools = self
            .tools
            .iter()
            .flatten()
            .map(|t| {
                if t.kind != "function" {
                    return Err(bad(format!("tool type '{}' is not supported (function)", t.kind)));
                }
                let f = &t.function;
                Ok(Tool {
                    name: f.name.clone(),
                    description: f.description.clone().unwrap_or_default(),
                    parameters: f.parameters.clone().unwrap_or_else(|| serde_json::json!({})),
                })
            })
            .collect::<Result<Vec<Tool>, Error>>()?;
        let choice = match &self.tool_choice {
            None if tools.is_empty() => ToolChoice::None,
            None => ToolChoice::Auto,
            Some(ToolChoiceField::Word(w)) => match w.as_str() {
                "none" => ToolChoice::None,
                "auto" => ToolChoice::Auto,
                "required" => ToolChoice::Required,
                other => return Err(bad(format!("`tool_choice` '{other}' is not one of none, auto, required"))),
            },
            Some(ToolChoiceField::Named { kind, function }) if kind == "function" => {
                ToolChoice::Function(function.name.clone())
            }
            Some(ToolChoiceField::Named { kind, .. }) => {
                return Err(bad(format!("`tool_choice` type '{kind}' is not supported (function)")));
            }
        };
        Ok((tools, choice, self.parallel_tool_calls.unwrap_or(true)))
    }

    /// The prompt of a text completion request; an error when it has none.
    pub fn completion_prompt(&self) -> Result<&str, Error> {
        if self.messages.is_some() {
            return Err(bad("a completion request takes `prompt`, not `messages`"));
        }
        match self.prompt.as_deref() {
            Some("") => Err(bad("`prompt` is empty")),
            Some(p) => Ok(p),
            None => Err(bad("a completion request needs `prompt`")),
        }
    }

    /// The generation settings, each checked against its valid range.
    pub fn generation(&self) -> Result<Generation, Error> {
        let d = SamplerParams::default();
        let range = |name: &str, v: Option<f32>, default: f32, lo: f32, hi: f32| -> Result<f32, Error> {
            let v = v.unwrap_or(default);
            if !(v.is_finite() && (lo..=hi).contains(&v)) {
                return Err(bad(format!("`{name}` is {v}; it must be between {lo} and {hi}")));
            }
            Ok(v)
        };
        let n = self.n.unwrap_or(1);
        if !(1..=MAX_CHOICES).contains(&n) {
            return Err(bad(format!("`n` is {n}; it must be between 1 and {MAX_CHOICES}")));
        }
        let max_tokens = match (self.max_tokens, self.max_completion_tokens) {
            (Some(a), Some(b)) if a != b => return Err(bad("`max_tokens` and `max_completion_tokens` differ")),
            (a, b) => a.or(b),
        };
        let stop = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
        };
        if stop.iter().any(String::is_empty) {
            return Err(bad("`stop` strings must not be empty"));
        }
        let top_p = range("top_p", self.top_p, d.top_p, 0.0, 1.0)?;
        if top_p == 0.0 {
            return Err(bad("`top_p` must be above 0"));
        }
        let repeat = range("repetition_penalty", self.repetition_penalty, d.repeat_penalty, 0.0, 10.0)?;
        if repeat == 0.0 {
            return Err(bad("`repetition_penalty` must be above 0"));
        }
        let sampler = SamplerParams {
            temperature: range("temperature", self.temperature, d.temperature, 0.0, 100.0)?,
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p,
            min_p: range("min_p", self.min_p, d.min_p, 0.0, 1.0)?,
            repeat_penalty: repeat,
            frequency_penalty: range("frequency_penalty", self.frequency_penalty, d.frequency_penalty, -2.0, 2.0)?,
            presence_penalty: range("presence_penalty", self.presence_penalty, d.presence_penalty, -2.0, 2.0)?,
            // The GPU's generator takes 32 bits; fold the rest in so that every bit counts.
            seed: self.seed.map_or(d.seed, |s| (s as u32) ^ ((s >> 32) as u32)),
        };
        let grammar = match &self.response_format {
            None | Some(ResponseFormat::Text) => None,
            Some(ResponseFormat::JsonObject) => Some(Grammar::JsonObject),
            Some(ResponseFormat::JsonSchema { json_schema }) => {
                Some(Grammar::JsonSchema(json_schema.schema.clone().unwrap_or_else(|| serde_json::json!({}))))
            }
            Some(ResponseFormat::Grammar { grammar }) => Some(Grammar::Lark(grammar.clone())),
        };
        if grammar.is_some() && self.ignore_eos {
            return Err(bad("`ignore_eos` cannot be combined with `response_format`: a grammar ends the reply"));
        }
        self.check_no_ops()?;
        let logprobs = self.logprobs_top()?;
        Ok(Generation {
            sampler,
            seeded: self.seed.is_some(),
            max_tokens,
            stop,
            ignore_eos: self.ignore_eos,
            grammar,
            logprobs,
            n,
        })
    }

    /// The compatibility fields: accepted where their value asks for nothing hearth would not do.
    fn check_no_ops(&self) -> Result<(), Error> {
        if let Some(reason) = self.unsupported() {
            return Err(bad(reason));
        }
        if self.store == Some(true) {
            return Err(bad("`store: true`: hearth keeps no completions (everything stays in this process)"));
        }
        if let Some(tier) = self.service_tier.as_deref().filter(|t| !matches!(*t, "auto" | "default")) {
            return Err(bad(format!("`service_tier` '{tier}': hearth has one tier (auto or default)")));
        }
        if self.modalities.as_ref().is_some_and(|m| m.iter().any(|x| x != "text")) {
            return Err(bad("`modalities`: hearth writes text only ([\"text\"])"));
        }
        Ok(())
    }

    /// How many most likely tokens to give per position, if log-probabilities are asked for,
    /// in the spelling of the request's kind (chat: `logprobs: true` and `top_logprobs`; text
    /// completion: `logprobs: N`).
    fn logprobs_top(&self) -> Result<Option<u32>, Error> {
        let chat = self.messages.is_some();
        let top = match (chat, self.logprobs, self.top_logprobs) {
            (_, None | Some(LogprobsField::Flag(false)), None) => None,
            (true, Some(LogprobsField::Flag(true)), top) => Some(top.unwrap_or(0)),
            (true, _, Some(_)) => return Err(bad("`top_logprobs` needs `logprobs: true`")),
            (true, Some(LogprobsField::Count(_)), None) => {
                return Err(bad("in a chat request `logprobs` is true or false; `top_logprobs` says how many"));
            }
            (false, Some(LogprobsField::Count(n)), None) => Some(n),
            (false, _, _) => {
                return Err(bad(
                    "in a text completion request `logprobs` is the number of most likely tokens (0 to 20)",
                ));
            }
        };
        if let Some(n) = top.filter(|&n| n > MAX_TOP_LOGPROBS) {
            return Err(bad(format!("{n} most likely tokens asked for; at most {MAX_TOP_LOGPROBS}")));
        }
        Ok(top)
    }

    /// Whether a streamed reply ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options.as_ref().is_some_and(|o| o.include_usage)
    }
}

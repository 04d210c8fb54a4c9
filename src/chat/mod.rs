//! Chat prompts: the model's `tokenizer.chat_template` (Jinja) rendered with minijinja, or a
//! built-in template chosen by architecture when the file carries none. Messages and tools
//! reach the template in the shapes llama.cpp's `--jinja` gives them (OpenAI's, with a tool
//! call's arguments as an object where the template reads them as one), so that a prompt is
//! the one llama.cpp renders for the same request.

mod jinja;
pub mod reasoning;
pub mod tools;

use minijinja::{Environment, Error as JinjaError, ErrorKind};
use serde_json::{Value as Json, json};

use crate::gguf::Gguf;

use jinja::strftime;
pub use tools::{Tool, ToolCall, ToolChoice, ToolEvent, ToolFormat, ToolParser, ToolSetup};

/// ChatML (SmolLM, Qwen, many others).
pub const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/// Llama 3 / 3.x.
pub const LLAMA3: &str = "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

/// Gemma (2 and 3): a system message is folded into the first user turn; the assistant is
/// "model".
pub const GEMMA: &str = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set first_user_prefix = messages[0]['content'] + '\\n\\n' %}{% set loop_messages = messages[1:] %}{% else %}{% set first_user_prefix = '' %}{% set loop_messages = messages %}{% endif %}{% for message in loop_messages %}{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}";

/// Why a chat prompt could not be rendered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChatError {
    /// The template is not valid Jinja, or failed while rendering (e.g. `raise_exception`).
    #[error("chat template: {0}")]
    Template(String),
}

/// One message of a conversation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// "system", "user", "assistant" or "tool".
    pub role: String,
    /// The text ("" when the message has none, e.g. an assistant's tool calls).
    pub content: String,
    /// The tools an assistant message called.
    pub tool_calls: Vec<ToolCall>,
    /// Which call a tool message answers.
    pub tool_call_id: Option<String>,
    /// The name of the tool (tool messages) or of the speaker.
    pub name: Option<String>,
    /// An assistant turn's reasoning (templates that keep it, as Qwen3's, read it).
    pub reasoning_content: Option<String>,
}

impl Message {
    /// A message.
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.to_owned(), content: content.to_owned(), ..Default::default() }
    }

    /// The message as llama.cpp passes it to a template: role, content, then name,
    /// tool_call_id and tool_calls where present; a call's arguments as an object where
    /// `object_arguments`, else as the string the request gave.
    fn to_json(&self, object_arguments: bool) -> Json {
        let mut m = serde_json::Map::new();
        m.insert("role".into(), json!(self.role));
        m.insert("content".into(), json!(self.content));
        if let Some(name) = &self.name {
            m.insert("name".into(), json!(name));
        }
        if let Some(id) = &self.tool_call_id {
            m.insert("tool_call_id".into(), json!(id));
        }
        if let Some(reasoning) = &self.reasoning_content {
            m.insert("reasoning_content".into(), json!(reasoning));
        }
        if !self.tool_calls.is_empty() {
            let calls: Vec<Json> = self
                .tool_calls
                .iter()
                .map(|c| {
                    let arguments = match serde_json::from_str::<Json>(&c.arguments) {
                        Ok(v) if object_arguments => v,
                        _ => json!(c.arguments),
                    };
                    let mut call = json!({"type": "function", "function": {"name": c.name, "arguments": arguments}});
                    if let Some(id) = &c.id {
                        call["id"] = json!(id);
                    }
                    call
                })
                .collect();
            m.insert("tool_calls".into(), Json::Array(calls));
        }
        Json::Object(m)
    }
}

/// What a template does with tools, found by rendering probe conversations (as llama.cpp
/// finds its templates' capabilities).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemplateCaps {
    /// It writes the tools it is given into the prompt.
    pub tools: bool,
    /// It reads a call's arguments as an object (and would print a string as a JSON string).
    pub object_arguments: bool,
}

/// Where a chat template came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TemplateSource {
    /// `tokenizer.chat_template` of the file.
    File,
    /// hearth's built-in template for the architecture (the file has none).
    BuiltIn(&'static str),
}

/// A chat template with the special-token texts it may use.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
    /// Where it came from.
    pub source: TemplateSource,
    /// Its Jinja source.
    pub text: String,
    /// What it does with tools.
    pub caps: TemplateCaps,
}

fn template_err(e: JinjaError) -> ChatError {
    ChatError::Template(e.to_string())
}

/// Instructions one render of a chat template may execute.
pub const TEMPLATE_FUEL: u64 = 2_000_000;

impl ChatTemplate {
    /// The file's template, or the built-in one for its architecture.
    pub fn from_gguf(g: &Gguf) -> Result<ChatTemplate, ChatError> {
        Self::from_gguf_or(g, None)
    }

    /// `text` (a template given in place of the file's, as llama.cpp's
    /// `--chat-template-file`) with the file's BOS and EOS texts, or the file's own template
    /// when `text` is `None`.
    pub fn from_gguf_or(g: &Gguf, text: Option<String>) -> Result<ChatTemplate, ChatError> {
        let token = |key: &str| -> String {
            let text = g.optional(key, Gguf::get_u32).ok().flatten().and_then(|id| {
                g.get_str_array("tokenizer.ggml.tokens")
                    .ok()?
                    .get(id as usize)
                    .map(|b| String::from_utf8_lossy(b).into_owned())
            });
            text.unwrap_or_default()
        };
        let (bos, eos) = (token("tokenizer.ggml.bos_token_id"), token("tokenizer.ggml.eos_token_id"));
        if let Some(text) = text {
            return Self::new(text, bos, eos, TemplateSource::File);
        }
        match g.get_str("tokenizer.chat_template") {
            Ok(t) => Self::new(t.to_owned(), bos, eos, TemplateSource::File),
            Err(_) => {
                let (name, source) = match g.architecture().unwrap_or_default() {
                    "gemma3" | "gemma2" | "gemma" => ("gemma", GEMMA),
                    "llama"
                        if g.get_str_array("tokenizer.ggml.tokens")
                            .is_ok_and(|t| t.iter().any(|x| x == b"<|eot_id|>")) =>
                    {
                        ("llama3", LLAMA3)
                    }
                    _ => ("chatml", CHATML),
                };
                Self::new(source.to_owned(), bos, eos, TemplateSource::BuiltIn(name))
            }
        }
    }

    /// A template from its Jinja source.
    pub fn new(
        source: String,
        bos_token: String,
        eos_token: String,
        origin: TemplateSource,
    ) -> Result<Self, ChatError> {
        let mut env = Environment::new();
        // A template comes from the file: it may loop for as long as it likes, so each render
        // gets a budget (real templates use a few thousand instructions per conversation).
        env.set_fuel(Some(TEMPLATE_FUEL));
        minijinja_contrib::add_to_environment(&mut env);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |msg: String| -> Result<String, JinjaError> {
            Err(JinjaError::new(ErrorKind::InvalidOperation, msg))
        });
        env.add_filter("tojson", jinja::tojson);
        env.add_function("strftime_now", jinja::strftime_now);
        env.add_template_owned("chat", source.clone()).map_err(template_err)?;
        let mut t =
            ChatTemplate { env, bos_token, eos_token, source: origin, text: source, caps: TemplateCaps::default() };
        t.caps = t.probe();
        Ok(t)
    }

    /// The prompt text for `messages`; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, ChatError> {
        self.render_with(messages, &[], add_generation_prompt, crate::clock::unix_seconds())
    }

    /// The prompt text for `messages` with `tools` (none: `tools` is undefined, as in
    /// llama.cpp), at `unix_seconds` (the date some templates write, UTC).
    pub fn render_with(
        &self,
        messages: &[Message],
        tools: &[Tool],
        add_generation_prompt: bool,
        unix_seconds: u64,
    ) -> Result<String, ChatError> {
        self.render_with_kwargs(messages, tools, add_generation_prompt, unix_seconds, &serde_json::Map::new())
    }

    /// [`render_with`](Self::render_with) with variables of the request's
    /// `chat_template_kwargs` (e.g. Qwen3's `enable_thinking`), which take the place of the
    /// defaults of the same name.
    pub fn render_with_kwargs(
        &self,
        messages: &[Message],
        tools: &[Tool],
        add_generation_prompt: bool,
        unix_seconds: u64,
        kwargs: &serde_json::Map<String, Json>,
    ) -> Result<String, ChatError> {
        let messages: Vec<Json> = messages.iter().map(|m| m.to_json(self.caps.object_arguments)).collect();
        let tools = (!tools.is_empty()).then(|| tools.iter().map(Tool::to_json).collect());
        self.render_json(messages, tools, add_generation_prompt, unix_seconds, kwargs)
    }

    /// Whether the model reasons in think tags (its template writes them): replies are then
    /// split into reasoning and answer.
    pub fn thinks(&self) -> bool {
        reasoning::template_thinks(&self.text)
    }

    fn render_json(
        &self,
        messages: Vec<Json>,
        tools: Option<Vec<Json>>,
        add_generation_prompt: bool,
        unix_seconds: u64,
        kwargs: &serde_json::Map<String, Json>,
    ) -> Result<String, ChatError> {
        let t = self.env.get_template("chat").map_err(template_err)?;
        let now = unix_seconds as i64;
        // What llama.cpp's server defines: `add_generation_prompt` only when true, `tools` only
        // when there are some, the dates of its extra context.
        let mut ctx = json!({
            "messages": messages,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            "enable_thinking": true,
            "datetime": strftime(now, "%b %d %Y"),
            "date_string": strftime(now, "%d %b %Y"),
            (jinja::NOW): now,
        });
        if let Some(tools) = tools {
            ctx["tools"] = Json::Array(tools);
        }
        if add_generation_prompt {
            ctx["add_generation_prompt"] = json!(true);
        }
        for (key, value) in kwargs {
            ctx[key.as_str()] = value.clone();
        }
        t.render(minijinja::value::Serde(&ctx)).map_err(template_err)
    }

    /// What the template does with tools: a conversation with a tool, a call and its result is
    /// rendered and the output searched for what each use would print.
    fn probe(&self) -> TemplateCaps {
        const TOOL: &str = "hearth_probe_tool";
        const ARG: &str = "hearth_probe_value";
        let tools = vec![json!({"type": "function", "function": {
            "name": TOOL, "description": "Tool description",
            "parameters": {"type": "object", "properties": {"arg": {"type": "string", "description": "Arg description"}}, "required": ["arg"]},
        }})];
        let conversation = |arguments: Json| {
            vec![
                json!({"role": "user", "content": "User message"}),
                json!({"role": "assistant", "content": "", "tool_calls": [
                    {"type": "function", "function": {"name": TOOL, "arguments": arguments}, "id": "call00001"}
                ]}),
                json!({"role": "tool", "content": "Tool response", "tool_call_id": "call00001"}),
                json!({"role": "assistant", "content": "The tool response was 'tool response'"}),
                json!({"role": "user", "content": "User message"}),
            ]
        };
        let none = serde_json::Map::new();
        let render = |messages, tools| self.render_json(messages, tools, true, 0, &none).unwrap_or_default();
        let plain = render(vec![json!({"role": "user", "content": "User message"})], Some(tools.clone()));
        let as_string = format!("{{\"arg\": \"{ARG}\"}}");
        let with_string = render(conversation(json!(as_string)), Some(tools.clone()));
        let with_object = render(conversation(json!({"arg": ARG})), Some(tools));
        // A template that prints the string as it is takes strings; one that prints it escaped
        // (`arguments | tojson`) wants an object.
        let object_arguments = !with_string.contains(&as_string) && with_object.contains(ARG);
        TemplateCaps { tools: plain.contains(TOOL), object_arguments }
    }

    /// The BOS token's text ("" if the model has none).
    pub fn bos_text(&self) -> &str {
        &self.bos_token
    }

    /// Whether rendered prompts already start with the BOS text (then encoding must not add
    /// another BOS).
    pub fn renders_bos(&self, rendered: &str) -> bool {
        !self.bos_token.is_empty() && rendered.starts_with(&self.bos_token)
    }
}

//! Chat prompts: the model's `tokenizer.chat_template` (Jinja) rendered with minijinja, or a
//! built-in template chosen by architecture when the file carries none.

use minijinja::{Environment, Error as JinjaError, ErrorKind, context};

use crate::gguf::Gguf;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// "system", "user" or "assistant".
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A message.
    pub fn new(role: &str, content: &str) -> Self {
        Message { role: role.to_owned(), content: content.to_owned() }
    }
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
}

fn template_err(e: JinjaError) -> ChatError {
    ChatError::Template(e.to_string())
}

/// Instructions one render of a chat template may execute.
pub const TEMPLATE_FUEL: u64 = 2_000_000;

impl ChatTemplate {
    /// The file's template, or the built-in one for its architecture.
    pub fn from_gguf(g: &Gguf) -> Result<ChatTemplate, ChatError> {
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
        env.add_template_owned("chat", source.clone()).map_err(template_err)?;
        Ok(ChatTemplate { env, bos_token, eos_token, source: origin, text: source })
    }

    /// The prompt text for `messages`; `add_generation_prompt` opens the assistant's turn.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, ChatError> {
        let t = self.env.get_template("chat").map_err(template_err)?;
        t.render(context! {
            messages => messages.iter().map(|m| context! { role => &m.role, content => &m.content }).collect::<Vec<_>>(),
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        })
        .map_err(template_err)
    }

    /// Whether rendered prompts already start with the BOS text (then encoding must not add
    /// another BOS).
    pub fn renders_bos(&self, rendered: &str) -> bool {
        !self.bos_token.is_empty() && rendered.starts_with(&self.bos_token)
    }
}

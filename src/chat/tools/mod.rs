//! Tool calling: how a model's template asks for calls ([`ToolFormat`], read from the template
//! as llama.cpp does), the grammar that holds a reply to that syntax and to each function's
//! parameter schema ([`ToolSetup`]), and the parser that turns the reply back into OpenAI's
//! `tool_calls`, piece by piece as it streams ([`ToolParser`]).
//!
//! Every format writes a call as `{"name": "NAME", "arguments": ARGS}` (Llama 3.x:
//! `"parameters"`) in the model's own envelope:
//!
//! | format  | templates                   | reply                                              |
//! |---------|-----------------------------|----------------------------------------------------|
//! | Hermes  | Qwen2.5/3, Hermes, SmolLM3  | text, then `<tool_call>\nCALL\n</tool_call>` …      |
//! | Llama 3 | Llama 3.1/3.2/3.3           | `CALL` as the whole reply                          |
//! | Mistral | Mistral Nemo/Small          | text, then `[TOOL_CALLS][CALL, CALL]`              |
//! | generic | templates without tools     | `{"tool_calls": [CALL, …]}` or `{"response": "…"}` |
//!
//! The generic format (as llama.cpp's "generic" handler had it) tells the model about the tools
//! in the system message and holds the whole reply to JSON, so that any model can call tools.

mod grammar;
mod parser;

use serde_json::{Value as Json, json};

use super::{ChatTemplate, Message};
use crate::chat::jinja::dumps;
use grammar::close_objects;

pub use parser::{ParsedReply, ToolEvent, ToolParser, call_id};

/// A function the model may call (`tools[].function` of a request).
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    /// Its name.
    pub name: String,
    /// What it does ("" if the request gave nothing).
    pub description: String,
    /// The JSON schema of its arguments (`{}` if the request gave none).
    pub parameters: Json,
}

impl Tool {
    /// The tool in OpenAI's shape, as templates receive it.
    pub(super) fn to_json(&self) -> Json {
        json!({"type": "function", "function": {
            "name": self.name, "description": self.description, "parameters": self.parameters,
        }})
    }

    /// The schema its arguments are held to: its parameters, or any object. An object schema
    /// with `properties` and no `additionalProperties` takes no other properties (as llama.cpp
    /// generates them): JSON Schema would allow any, and a small model then writes keys until
    /// the token limit. Every call still validates against the schema as given.
    fn arguments_schema(&self) -> Json {
        match &self.parameters {
            Json::Object(m) if !m.is_empty() => {
                let mut schema = self.parameters.clone();
                close_objects(&mut schema);
                schema
            }
            _ => json!({"type": "object"}),
        }
    }
}

/// A call of a tool, in a reply or in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolCall {
    /// The call's id (the tool's result names it).
    pub id: Option<String>,
    /// The function.
    pub name: String,
    /// Its arguments: JSON text.
    pub arguments: String,
}

/// `tool_choice`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum ToolChoice {
    /// No calls: the tools are only shown to the template.
    None,
    /// The model decides (the default with tools).
    #[default]
    Auto,
    /// At least one call.
    Required,
    /// A call of this function.
    Function(String),
}

/// How a template's model writes tool calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolFormat {
    /// `<tool_call>\n{"name": …, "arguments": …}\n</tool_call>` (Qwen2.5/3, Hermes).
    Hermes,
    /// `{"name": …, "parameters": …}` as the whole reply (Llama 3.x).
    Llama3,
    /// `[TOOL_CALLS][{"name": …, "arguments": …}]` (Mistral Nemo).
    Mistral,
    /// hearth's JSON envelope, described in the system message (templates without tools).
    Generic,
}

impl ToolFormat {
    /// The format of `template`'s model, from what the template writes.
    pub fn of(template: &ChatTemplate) -> ToolFormat {
        let text = &template.text;
        if !template.caps.tools {
            ToolFormat::Generic
        } else if text.contains("[TOOL_CALLS]") {
            ToolFormat::Mistral
        } else if text.contains("<tool_call>") && !text.contains("<function=") {
            ToolFormat::Hermes
        } else if text.contains("<|start_header_id|>") && text.contains("\"parameters\"") {
            ToolFormat::Llama3
        } else {
            ToolFormat::Generic
        }
    }

    /// The key of a call's arguments.
    fn arguments_key(self) -> &'static str {
        if self == ToolFormat::Llama3 { "parameters" } else { "arguments" }
    }

    /// The text that opens the calls after free text (formats whose calls may follow text).
    fn opener(self) -> Option<&'static str> {
        match self {
            ToolFormat::Hermes => Some("<tool_call>"),
            ToolFormat::Mistral => Some("[TOOL_CALLS]"),
            ToolFormat::Llama3 | ToolFormat::Generic => None,
        }
    }

    /// Its name (`usage.extra.tool_format`).
    pub fn name(self) -> &'static str {
        match self {
            ToolFormat::Hermes => "hermes",
            ToolFormat::Llama3 => "llama3",
            ToolFormat::Mistral => "mistral",
            ToolFormat::Generic => "generic",
        }
    }
}

/// A request's tools against a template: the format, the messages to render, the grammar.
#[derive(Clone, Debug)]
pub struct ToolSetup {
    /// How the model writes calls.
    pub format: ToolFormat,
    /// The tools.
    pub tools: Vec<Tool>,
    /// `tool_choice`.
    pub choice: ToolChoice,
    /// More than one call per reply.
    pub parallel: bool,
    /// The model's token for the format's opener, if its vocabulary has one that only control
    /// text spells (then the grammar names the token and its text never appears in a reply).
    opener_token: Option<u32>,
}

/// Why a request's tools cannot be set up.
pub type ToolError = String;

impl ToolSetup {
    /// The setup for `tools` under `template`; `control_token` finds a control token by text.
    pub fn new(
        template: &ChatTemplate,
        tools: Vec<Tool>,
        choice: ToolChoice,
        parallel: bool,
        control_token: &dyn Fn(&str) -> Option<u32>,
    ) -> Result<ToolSetup, ToolError> {
        if let ToolChoice::Function(name) = &choice
            && !tools.iter().any(|t| &t.name == name)
        {
            return Err(format!("`tool_choice` names '{name}', which is not among `tools`"));
        }
        if matches!(choice, ToolChoice::Required | ToolChoice::Function(_)) && tools.is_empty() {
            return Err("`tool_choice` asks for a call but `tools` is empty".into());
        }
        for t in &tools {
            if t.name.is_empty() {
                return Err("a tool has an empty name".into());
            }
            if !(t.parameters.is_object() || t.parameters.is_null()) {
                return Err(format!("the parameters of tool '{}' are not a JSON schema object", t.name));
            }
        }
        let format = ToolFormat::of(template);
        let opener_token = format.opener().and_then(control_token);
        // Llama 3.x templates refuse more than one call per assistant message.
        let parallel = parallel && format != ToolFormat::Llama3;
        Ok(ToolSetup { format, tools, choice, parallel, opener_token })
    }

    /// Whether replies are parsed for calls (and held to a grammar).
    pub fn active(&self) -> bool {
        self.choice != ToolChoice::None && !self.tools.is_empty()
    }

    /// The messages to render. In the generic format the tools and the reply's shape are
    /// described in the system message, and past calls and results are written as the JSON
    /// the model writes and reads (the template knows nothing of them).
    pub fn messages(&self, messages: &[Message]) -> Vec<Message> {
        if self.format != ToolFormat::Generic {
            return messages.to_vec();
        }
        let mut out: Vec<Message> = messages
            .iter()
            .map(|m| match m.role.as_str() {
                "assistant" if !m.tool_calls.is_empty() => {
                    let calls: Vec<Json> = m
                        .tool_calls
                        .iter()
                        .map(|c| {
                            let args = serde_json::from_str::<Json>(&c.arguments).unwrap_or(json!(c.arguments));
                            json!({"name": c.name, "arguments": args})
                        })
                        .collect();
                    let envelope = dumps(&json!({ "tool_calls": calls }));
                    let content = if m.content.is_empty() { envelope } else { format!("{}\n{envelope}", m.content) };
                    Message::new("assistant", &content)
                }
                "tool" => {
                    let result = json!({"tool_response": {"tool_call_id": m.tool_call_id, "content": m.content}});
                    Message::new("user", &dumps(&result))
                }
                _ => m.clone(),
            })
            .collect();
        if self.active() {
            let prompt = self.generic_prompt();
            match out.first_mut() {
                Some(first) if first.role == "system" => first.content = format!("{}\n\n{prompt}", first.content),
                _ => out.insert(0, Message::new("system", &prompt)),
            }
        }
        out
    }

    /// The tools the reply may call.
    fn callable(&self) -> impl Iterator<Item = &Tool> {
        self.tools.iter().filter(|t| match &self.choice {
            ToolChoice::Function(name) => &t.name == name,
            _ => true,
        })
    }

    fn generic_prompt(&self) -> String {
        let mut p = String::from("You can call these tools (the JSON schema of each one's arguments is given):\n");
        for t in self.callable() {
            p.push_str(&dumps(&json!({"name": t.name, "description": t.description, "parameters": t.parameters})));
            p.push('\n');
        }
        p.push_str("\nTo call tools, reply with only this JSON: {\"tool_calls\": [{\"name\": \"<tool name>\", \"arguments\": {<arguments>}}]}");
        if self.choice == ToolChoice::Auto {
            p.push_str("\nTo answer without a tool, reply with only this JSON: {\"response\": \"<your answer>\"}");
        }
        p
    }

    /// A parser of replies in this setup's format; `seed` makes the calls' ids.
    pub fn parser(&self, seed: u64) -> ToolParser {
        ToolParser::new(self.format, seed)
    }
}

//! The grammar a reply with tool calls is held to: each function's call in the format's
//! envelope, its arguments by the function's schema (llguidance's Lark dialect, `%json`).

use serde_json::{Value as Json, json};

use super::{ToolChoice, ToolFormat, ToolSetup};
use crate::chat::jinja::dumps;
use crate::grammar::with_json_layout;

impl ToolSetup {
    /// The Lark grammar (llguidance's dialect) a reply is held to, `None` without calls.
    /// `"required"` and a named function hold the whole reply to calls; `"auto"` lets free
    /// text run until the format's opener, after which the call must follow (a lazy grammar).
    pub fn grammar(&self) -> Option<String> {
        if !self.active() {
            return None;
        }
        let key = self.format.arguments_key();
        let mut rules = Vec::new();
        let mut calls = Vec::new();
        for (i, t) in self.callable().enumerate() {
            let head = format!("{{\"name\": {}, \"{key}\": ", dumps(&json!(t.name)));
            rules.push(format!("fn{i}: {} args{i} \"}}\"", lark_string(&head)));
            rules.push(format!("args{i}: %json {}", dumps(&with_json_layout(t.arguments_schema()))));
            calls.push(format!("fn{i}"));
        }
        rules.push(format!("fn: {}", calls.join(" | ")));
        let required = self.choice != ToolChoice::Auto;
        let more = |sep: &str, item: &str| {
            if self.parallel { format!("({} {item})*", lark_string(sep)) } else { String::new() }
        };
        let (open, text, head) = self.opening();
        match self.format {
            ToolFormat::Hermes => {
                let close = lark_string("\n</tool_call>");
                rules.push(format!("call: {open} {} fn {close}", lark_string("\n")));
                rules.push(format!("rest: {} fn {close} {}", lark_string("\n"), more("\n", "call")));
                rules.push(format!("calls: call {}", more("\n", "call")));
            }
            ToolFormat::Mistral => {
                rules.push(format!("rest: {} fn {} {}", lark_string("["), more(", ", "fn"), lark_string("]")));
                rules.push(format!("calls: {open} rest"));
            }
            ToolFormat::Llama3 => rules.push("calls: fn".into()),
            ToolFormat::Generic => {
                rules.push(format!(
                    "calls: {} fn {} {}",
                    lark_string("{\"tool_calls\": ["),
                    more(", ", "fn"),
                    lark_string("]}")
                ));
                rules.push(format!("answer: {} response {}", lark_string("{\"response\": "), lark_string("}")));
                rules.push(format!("response: %json {}", dumps(&with_json_layout(json!({"type": "string"})))));
            }
        }
        let start = match (self.format, required) {
            (_, true) => "start: calls".to_owned(),
            (ToolFormat::Generic, false) => "start: calls | answer".to_owned(),
            (ToolFormat::Llama3, false) => {
                rules.push(r"TEXT: /[^{](?s:.*)/".into());
                "start: TEXT? | calls".to_owned()
            }
            (_, false) => {
                rules.extend(text);
                rules.extend(head);
                "start: TEXT? | head rest".to_owned()
            }
        };
        Some(format!("{start}\n{}\n", rules.join("\n")))
    }

    /// The opener as a grammar item, and the rules of free text before it: text that never
    /// holds the opener, and the lazy `head` that ends at its first occurrence.
    fn opening(&self) -> (String, Vec<String>, Vec<String>) {
        let Some(opener) = self.format.opener() else { return (String::new(), Vec::new(), Vec::new()) };
        match self.opener_token {
            // A control token: no text spells it, so text before it is any text.
            Some(id) => (format!("<[{id}]>"), vec![r"TEXT: /(?s:.+)/".into()], vec![format!("head: TEXT? <[{id}]>")]),
            None => {
                let re = regex_escape(opener);
                (
                    lark_string(opener),
                    vec![format!(r"TEXT: /(?s:.+)/ & ~/(?s:.*){re}(?s:.*)/")],
                    vec![format!(r"head[lazy]: /(?s:.*){re}/")],
                )
            }
        }
    }

    /// The control token that opens calls, and the text the parser knows it by.
    pub fn opener_token(&self) -> Option<(u32, &'static str)> {
        Some((self.opener_token?, self.format.opener()?))
    }
}

/// Sets `additionalProperties: false` on every object schema in `schema` that lists
/// `properties` and says nothing of others, following the keywords that hold subschemas.
pub(super) fn close_objects(schema: &mut Json) {
    let Json::Object(map) = schema else { return };
    if map.contains_key("properties") && !map.contains_key("additionalProperties") {
        map.insert("additionalProperties".into(), json!(false));
    }
    for (key, value) in map.iter_mut() {
        match (key.as_str(), value) {
            ("properties" | "$defs" | "definitions" | "patternProperties", Json::Object(subs)) => {
                subs.values_mut().for_each(close_objects)
            }
            ("anyOf" | "oneOf" | "allOf" | "prefixItems", Json::Array(subs)) => subs.iter_mut().for_each(close_objects),
            ("items" | "additionalProperties" | "not" | "if" | "then" | "else" | "contains", sub) => close_objects(sub),
            _ => {}
        }
    }
}

/// A Lark string literal of `s`.
fn lark_string(s: &str) -> String {
    Json::String(s.to_owned()).to_string()
}

fn regex_escape(s: &str) -> String {
    s.chars().map(|c| if "\\.+*?()|[]{}^$#&-~/".contains(c) { format!("\\{c}") } else { c.to_string() }).collect()
}

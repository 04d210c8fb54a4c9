//! What HF chat templates expect of Jinja beyond minijinja's own: Python's `json.dumps` as
//! `tojson` (templates print tool schemas with it, and a prompt must match what the model was
//! trained on byte for byte) and `strftime_now` (Llama 3.2/3.3 put today's date in the prompt).

use chrono::DateTime;
use minijinja::value::Kwargs;
use minijinja::{Error, ErrorKind, State, Value};
use serde_json::Value as Json;

/// `tojson` as HF transformers defines it (`json.dumps` with `ensure_ascii=False`) and as
/// llama.cpp renders it: `", "` and `": "` separators, or with `indent` one item per line and
/// `","`; `separators` and `ensure_ascii` as in Python. (minijinja's own `tojson` writes
/// compact, HTML-escaped JSON, which no model was trained on.)
pub fn tojson(value: Value, kwargs: Kwargs) -> Result<Value, Error> {
    let indent: Option<usize> = kwargs.get("indent")?;
    let ensure_ascii: Option<bool> = kwargs.get("ensure_ascii")?;
    let separators: Option<Vec<String>> = kwargs.get("separators")?;
    let sort_keys: Option<bool> = kwargs.get("sort_keys")?;
    kwargs.assert_all_used()?;
    let json =
        serde_json::to_value(&value).map_err(|e| Error::new(ErrorKind::InvalidOperation, format!("tojson: {e}")))?;
    let (item, key) = match separators.as_deref() {
        Some([item, key]) => (item.clone(), key.clone()),
        Some(_) => return Err(Error::new(ErrorKind::InvalidOperation, "tojson: separators takes two strings")),
        None => (if indent.is_some() { "," } else { ", " }.to_owned(), ": ".to_owned()),
    };
    let style =
        Style { indent, item, key, ensure_ascii: ensure_ascii.unwrap_or(false), sort_keys: sort_keys.unwrap_or(false) };
    let mut out = String::new();
    style.write(&json, 0, &mut out);
    Ok(Value::from_safe_string(out))
}

/// JSON text as Python's `json.dumps(v, ensure_ascii=False)` writes it (`", "` and `": "`,
/// one line): how tools reach a prompt and how hearth's grammars write JSON.
pub fn dumps(v: &Json) -> String {
    let style = Style { indent: None, item: ", ".into(), key: ": ".into(), ensure_ascii: false, sort_keys: false };
    let mut out = String::new();
    style.write(v, 0, &mut out);
    out
}

/// How `json.dumps` lays JSON out.
struct Style {
    indent: Option<usize>,
    item: String,
    key: String,
    ensure_ascii: bool,
    sort_keys: bool,
}

impl Style {
    fn newline(&self, level: usize, out: &mut String) {
        if let Some(n) = self.indent {
            out.push('\n');
            out.extend(std::iter::repeat_n(' ', n * level));
        }
    }

    fn write(&self, v: &Json, level: usize, out: &mut String) {
        match v {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Number(n) => out.push_str(&n.to_string()),
            Json::String(s) => self.string(s, out),
            Json::Array(items) if items.is_empty() => out.push_str("[]"),
            Json::Array(items) => {
                out.push('[');
                for (i, x) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item);
                    }
                    self.newline(level + 1, out);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push(']');
            }
            Json::Object(map) if map.is_empty() => out.push_str("{}"),
            Json::Object(map) => {
                let mut entries: Vec<(&String, &Json)> = map.iter().collect();
                if self.sort_keys {
                    entries.sort_by(|a, b| a.0.cmp(b.0));
                }
                out.push('{');
                for (i, (k, x)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push_str(&self.item);
                    }
                    self.newline(level + 1, out);
                    self.string(k, out);
                    out.push_str(&self.key);
                    self.write(x, level + 1, out);
                }
                self.newline(level, out);
                out.push('}');
            }
        }
    }

    fn string(&self, s: &str, out: &mut String) {
        out.push('"');
        for c in s.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                c if (c as u32) < 0x20 || (self.ensure_ascii && !c.is_ascii()) => {
                    let mut units = [0u16; 2];
                    for u in c.encode_utf16(&mut units) {
                        out.push_str(&format!("\\u{u:04x}"));
                    }
                }
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

/// The name under which the render's Unix time (seconds) is passed to a template, for
/// `strftime_now`.
pub const NOW: &str = "__hearth_now";

/// `strftime_now(format)`: the render's time (UTC) in Python's strftime format.
pub fn strftime_now(state: &State, format: String) -> Result<String, Error> {
    let now = state.lookup(NOW).and_then(|v| i64::try_from(v).ok()).unwrap_or(0);
    strftime(now, &format)
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("strftime_now: bad format {format:?}")))
}

/// `unix_seconds` (UTC) in a strftime `format`, or `None` if the format is not one.
pub fn strftime(unix_seconds: i64, format: &str) -> Option<String> {
    use std::fmt::Write;
    let time = DateTime::from_timestamp(unix_seconds, 0)?;
    let items: Vec<_> = chrono::format::StrftimeItems::new(format).collect();
    if items.iter().any(|i| matches!(i, chrono::format::Item::Error)) {
        return None;
    }
    let mut out = String::new();
    write!(out, "{}", time.format_with_items(items.into_iter())).ok()?;
    Some(out)
}

//! Replies back into content and tool calls, as they stream.

use super::{ToolCall, ToolFormat};

/// What a reply turned into, piece by piece.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ToolEvent {
    /// Text for the message's `content`.
    Content(String),
    /// A call begins: its index in the reply, its id and the function's name.
    CallStart {
        /// Index among the reply's calls.
        index: usize,
        /// Its id.
        id: String,
        /// The function.
        name: String,
    },
    /// More of a call's arguments (JSON text).
    Arguments {
        /// Index among the reply's calls.
        index: usize,
        /// The next piece.
        fragment: String,
    },
}

/// Where the parser is in a reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Not yet known whether the reply is text or calls (the first bytes decide).
    Undecided,
    /// Free text, watching for the opener.
    Text,
    /// Looking for the next call's `"name": "`.
    SeekName,
    /// Inside the name string.
    Name(usize),
    /// Looking for the arguments' key.
    SeekArguments,
    /// Inside the arguments: nesting depth, in a string, after a backslash.
    Arguments { depth: u32, in_string: bool, escaped: bool, started: bool },
    /// Inside the generic format's `"response"` string.
    Response,
    /// After it: nothing more is content.
    Done,
}

/// Turns a reply's text, as it streams, into content and tool calls ([`ToolEvent`]s). It
/// reads the layout the grammar holds replies to.
pub struct ToolParser {
    format: ToolFormat,
    buf: String,
    /// Bytes of `buf` handled.
    at: usize,
    mode: Mode,
    calls: usize,
    seed: u64,
}

const NAME_KEY: &str = "{\"name\": \"";

impl ToolParser {
    pub(super) fn new(format: ToolFormat, seed: u64) -> ToolParser {
        ToolParser { format, buf: String::new(), at: 0, mode: Mode::Undecided, calls: 0, seed }
    }

    /// The events the next piece of the reply completes.
    pub fn push(&mut self, text: &str) -> Vec<ToolEvent> {
        self.buf.push_str(text);
        let mut events = Vec::new();
        while self.step(&mut events, false) {}
        events
    }

    /// The events left at the end of the reply (text held back in case it began an opener).
    pub fn finish(&mut self) -> Vec<ToolEvent> {
        let mut events = Vec::new();
        while self.step(&mut events, true) {}
        if matches!(self.mode, Mode::Undecided | Mode::Text) && self.at < self.buf.len() {
            events.push(ToolEvent::Content(self.buf[self.at..].to_owned()));
            self.at = self.buf.len();
        }
        events
    }

    /// Handles what it can of the buffer; whether to go on.
    fn step(&mut self, events: &mut Vec<ToolEvent>, end: bool) -> bool {
        let rest = &self.buf[self.at..];
        match self.mode {
            Mode::Undecided => {
                let trimmed = rest.trim_start();
                let prefixes: &[(&str, Mode)] = match self.format {
                    ToolFormat::Llama3 => &[("{", Mode::SeekName)],
                    ToolFormat::Generic => {
                        &[("{\"tool_calls\": [", Mode::SeekName), ("{\"response\": \"", Mode::Response)]
                    }
                    ToolFormat::Hermes | ToolFormat::Mistral => {
                        self.mode = Mode::Text;
                        return true;
                    }
                };
                for (prefix, mode) in prefixes {
                    if trimmed.starts_with(prefix) {
                        let skip = rest.len() - trimmed.len() + if *mode == Mode::Response { prefix.len() } else { 0 };
                        self.at += skip;
                        self.mode = *mode;
                        return true;
                    }
                }
                if !end && prefixes.iter().any(|(p, _)| p.starts_with(trimmed)) {
                    return false;
                }
                self.mode = Mode::Text;
                true
            }
            Mode::Text => {
                let Some(opener) = self.format.opener() else {
                    if !rest.is_empty() {
                        events.push(ToolEvent::Content(rest.to_owned()));
                        self.at = self.buf.len();
                    }
                    return false;
                };
                if let Some(i) = rest.find(opener) {
                    if i > 0 {
                        events.push(ToolEvent::Content(rest[..i].to_owned()));
                    }
                    self.at += i + opener.len();
                    self.mode = Mode::SeekName;
                    return true;
                }
                // Hold back what may be the start of the opener.
                let keep = (1..opener.len().min(rest.len()) + 1)
                    .rev()
                    .find(|&n| rest.is_char_boundary(rest.len() - n) && opener.starts_with(&rest[rest.len() - n..]))
                    .unwrap_or(0);
                let emit = rest.len() - keep;
                if emit > 0 {
                    events.push(ToolEvent::Content(rest[..emit].to_owned()));
                    self.at += emit;
                }
                false
            }
            Mode::SeekName => match rest.find(NAME_KEY) {
                Some(i) => {
                    self.at += i + NAME_KEY.len();
                    self.mode = Mode::Name(self.at);
                    true
                }
                None => false,
            },
            Mode::Name(start) => match string_end(rest) {
                Some(i) => {
                    let raw = &self.buf[start..self.at + i];
                    let name = serde_json::from_str::<String>(&format!("\"{raw}\"")).unwrap_or_else(|_| raw.to_owned());
                    events.push(ToolEvent::CallStart { index: self.calls, id: call_id(self.seed, self.calls), name });
                    self.at += i + 1;
                    self.mode = Mode::SeekArguments;
                    true
                }
                None => false,
            },
            Mode::SeekArguments => {
                let key = format!("\"{}\": ", self.format.arguments_key());
                match rest.find(&key) {
                    Some(i) => {
                        self.at += i + key.len();
                        self.mode = Mode::Arguments { depth: 0, in_string: false, escaped: false, started: false };
                        true
                    }
                    None => false,
                }
            }
            Mode::Arguments { mut depth, mut in_string, mut escaped, mut started } => {
                let mut done = None;
                for (i, c) in rest.char_indices() {
                    if in_string {
                        match (escaped, c) {
                            (true, _) => escaped = false,
                            (false, '\\') => escaped = true,
                            (false, '"') => in_string = false,
                            _ => {}
                        }
                        continue;
                    }
                    if c.is_whitespace() {
                        continue;
                    }
                    // A primitive value ends where the call's object goes on or ends.
                    if depth == 0 && started && matches!(c, ',' | '}' | ']') {
                        done = Some(i);
                        break;
                    }
                    started = true;
                    match c {
                        '"' => in_string = true,
                        '{' | '[' => depth += 1,
                        '}' | ']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                done = Some(i + 1);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let upto = done.unwrap_or(rest.len());
                if upto > 0 {
                    events.push(ToolEvent::Arguments { index: self.calls, fragment: rest[..upto].to_owned() });
                }
                self.at += upto;
                if done.is_some() {
                    self.calls += 1;
                    self.mode = Mode::SeekName;
                    true
                } else {
                    self.mode = Mode::Arguments { depth, in_string, escaped, started };
                    false
                }
            }
            Mode::Response => {
                // The string's text, decoded up to the last complete escape.
                let (decoded, used, closed) = decode_json_string(rest);
                if !decoded.is_empty() {
                    events.push(ToolEvent::Content(decoded));
                }
                self.at += used;
                if closed {
                    self.mode = Mode::Done;
                }
                false
            }
            Mode::Done => {
                self.at = self.buf.len();
                false
            }
        }
    }
}

/// The byte index of the `"` that closes the JSON string `s` starts inside of.
fn string_end(s: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Decodes the inside of a JSON string from its start: the text, the bytes used (an escape
/// cut off at the end is left for later), and whether the closing quote was reached.
fn decode_json_string(s: &str) -> (String, usize, bool) {
    let mut out = String::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < s.len() {
        match bytes[i] {
            b'"' => return (out, i + 1, true),
            b'\\' => {
                let Some(&e) = bytes.get(i + 1) else { break };
                let simple = match e {
                    b'n' => Some('\n'),
                    b't' => Some('\t'),
                    b'r' => Some('\r'),
                    b'b' => Some('\u{8}'),
                    b'f' => Some('\u{c}'),
                    b'"' => Some('"'),
                    b'\\' => Some('\\'),
                    b'/' => Some('/'),
                    _ => None,
                };
                if let Some(c) = simple {
                    out.push(c);
                    i += 2;
                    continue;
                }
                // \uXXXX, possibly a surrogate pair \uD83D\uDE00.
                let unit = |at: usize| s.get(at + 2..at + 6).and_then(|h| u16::from_str_radix(h, 16).ok());
                let Some(hi) = unit(i) else { break };
                if (0xD800..0xDC00).contains(&hi) {
                    if s.len() < i + 12 {
                        break;
                    }
                    let lo = unit(i + 6).unwrap_or(0);
                    out.extend(char::decode_utf16([hi, lo]).map(|r| r.unwrap_or('\u{fffd}')));
                    i += 12;
                } else {
                    out.push(char::from_u32(hi as u32).unwrap_or('\u{fffd}'));
                    i += 6;
                }
            }
            _ => {
                let c = s[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    (out, i, false)
}

/// The id of a reply's `index`-th call: 9 letters and digits (Mistral's templates check that
/// shape), from `seed`.
pub fn call_id(seed: u64, index: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    // splitmix64 of the seed and the index.
    let mut z = seed.wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (0..9).map(|i| ALPHABET[((z >> (i * 6)) % ALPHABET.len() as u64) as usize] as char).collect()
}

/// A reply's content and calls, gathered from its events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedReply {
    /// The text outside calls.
    pub content: String,
    /// The calls, in order.
    pub calls: Vec<ToolCall>,
}

impl ParsedReply {
    /// Adds events.
    pub fn apply(&mut self, events: &[ToolEvent]) {
        for e in events {
            match e {
                ToolEvent::Content(t) => self.content.push_str(t),
                ToolEvent::CallStart { id, name, .. } => {
                    self.calls.push(ToolCall { id: Some(id.clone()), name: name.clone(), arguments: String::new() })
                }
                ToolEvent::Arguments { index, fragment } => {
                    if let Some(c) = self.calls.get_mut(*index) {
                        c.arguments.push_str(fragment);
                    }
                }
            }
        }
    }
}

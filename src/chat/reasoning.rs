//! Reasoning apart from the answer. Models such as the DeepSeek-R1 distills and Qwen3 think in
//! `<think>…</think>` before answering; their templates write those tags (into past turns, or
//! into the generation prompt to open the thinking). The request layer then gives the thinking
//! as `reasoning_content` and the rest as `content`, as DeepSeek's API, vLLM and llama.cpp's
//! server do. The split runs on streamed text: a tag cut across two tokens is held back until
//! it is whole.

/// The tag that opens a model's reasoning.
pub const OPEN: &str = "<think>";
/// The tag that closes it.
pub const CLOSE: &str = "</think>";

/// Whether a template's model reasons in think tags: the template writes them.
pub fn template_thinks(template: &str) -> bool {
    template.contains(OPEN) || template.contains(CLOSE)
}

/// Whether a rendered prompt leaves the reasoning open (the template ends the generation
/// prompt with `<think>`, as the R1 distills' do): the reply starts inside it.
pub fn prompt_opens_reasoning(prompt: &str) -> bool {
    prompt.trim_end().ends_with(OPEN)
}

/// Text of a reply, split.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// Reasoning text.
    pub reasoning: String,
    /// Answer text.
    pub content: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Nothing yet: the reply may open with `<think>` (after whitespace).
    Start,
    /// Inside the reasoning, before its first non-blank text.
    ReasoningStart,
    /// Inside the reasoning.
    Reasoning,
    /// After `</think>`, before the answer's first non-blank text.
    AnswerStart,
    /// In the answer: everything is content.
    Answer,
}

/// Splits a reply's text, as it streams, into reasoning and content. The reasoning and the
/// answer are trimmed of the blank text around the tags.
#[derive(Clone, Debug)]
pub struct ReasoningSplitter {
    state: State,
    pending: String,
    seen: bool,
}

/// Bytes at the end of `text` that could begin `tag` (a tag cut across tokens).
fn partial_tag_len(text: &str, tag: &str) -> usize {
    (1..tag.len().min(text.len() + 1))
        .rev()
        .find(|&n| text.is_char_boundary(text.len() - n) && tag.starts_with(&text[text.len() - n..]))
        .unwrap_or(0)
}

impl ReasoningSplitter {
    /// A splitter for a reply that starts inside the reasoning (`opened`: the prompt opened
    /// it) or that may open it.
    pub fn new(opened: bool) -> Self {
        let state = if opened { State::ReasoningStart } else { State::Start };
        ReasoningSplitter { state, pending: String::new(), seen: opened }
    }

    /// Whether the reply had a reasoning section (so far).
    pub fn saw_reasoning(&self) -> bool {
        self.seen
    }

    /// Takes the next piece of the reply; gives what is known to be reasoning or content.
    pub fn push(&mut self, text: &str) -> Split {
        self.pending.push_str(text);
        let mut out = Split::default();
        loop {
            match self.state {
                State::Start => {
                    let rest = self.pending.trim_start();
                    if let Some(after) = rest.strip_prefix(OPEN) {
                        self.pending = after.to_owned();
                        self.state = State::ReasoningStart;
                        self.seen = true;
                    } else if OPEN.starts_with(rest) {
                        return out; // blank, or a tag still coming
                    } else {
                        self.state = State::Answer;
                    }
                }
                State::ReasoningStart | State::AnswerStart => {
                    let rest = self.pending.trim_start();
                    if rest.is_empty() {
                        self.pending.clear();
                        return out;
                    }
                    self.pending = rest.to_owned();
                    self.state = if self.state == State::ReasoningStart { State::Reasoning } else { State::Answer };
                }
                State::Reasoning => {
                    if let Some(at) = self.pending.find(CLOSE) {
                        out.reasoning.push_str(self.pending[..at].trim_end());
                        self.pending.drain(..at + CLOSE.len());
                        self.state = State::AnswerStart;
                        continue;
                    }
                    // Hold back what may start the closing tag, and the blank text before it
                    // (trimmed if the tag follows).
                    let keep = partial_tag_len(&self.pending, CLOSE);
                    let body = &self.pending[..self.pending.len() - keep];
                    let emit = body.trim_end().len();
                    out.reasoning.push_str(&self.pending[..emit]);
                    self.pending.drain(..emit);
                    return out;
                }
                State::Answer => {
                    out.content.push_str(&self.pending);
                    self.pending.clear();
                    return out;
                }
            }
        }
    }

    /// The end of the reply: what was held back.
    pub fn finish(&mut self) -> Split {
        let pending = std::mem::take(&mut self.pending);
        match self.state {
            State::Start | State::Answer => Split { reasoning: String::new(), content: pending },
            State::Reasoning | State::ReasoningStart => {
                Split { reasoning: pending.trim_end().to_owned(), content: String::new() }
            }
            State::AnswerStart => Split::default(),
        }
    }
}

//! Log-probabilities in OpenAI's response shapes: `choices[].logprobs.content` of a chat
//! completion (token, logprob, bytes, top_logprobs) and the legacy `tokens` / `token_logprobs` /
//! `top_logprobs` / `text_offset` arrays of a text completion.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::kernels::TokenLogprobs;
use crate::tokenizer::Tokenizer;

/// `choices[].logprobs` of a chat completion or chunk.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatLogprobs {
    /// One entry per generated token.
    pub content: Vec<ChatTokenLogprob>,
}

/// A generated token's log-probability and the most likely alternatives.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ChatTokenLogprob {
    /// The token's text (invalid UTF-8, as in a token that is part of a character, replaced).
    pub token: String,
    /// Its log-probability in the model's distribution (before sampling filters).
    pub logprob: f32,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// The `top_logprobs` most likely tokens, most likely first.
    pub top_logprobs: Vec<TopLogprob>,
}

/// One of the most likely tokens at a position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopLogprob {
    /// The token's text.
    pub token: String,
    /// Its log-probability.
    pub logprob: f32,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// `choices[].logprobs` of a text completion (OpenAI's legacy shape).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompletionLogprobs {
    /// Each generated token's text.
    pub tokens: Vec<String>,
    /// Each one's log-probability.
    pub token_logprobs: Vec<f32>,
    /// At each position, the `logprobs` most likely tokens' texts and log-probabilities.
    pub top_logprobs: Vec<BTreeMap<String, f32>>,
    /// Where each token starts in the reply's text (bytes of the tokens before it).
    pub text_offset: Vec<usize>,
}

/// A token's bytes and text: control tokens (no bytes) by name.
fn token(tokenizer: &Tokenizer, id: u32) -> (String, Vec<u8>) {
    let bytes = tokenizer.token_bytes(id).to_vec();
    let text = if bytes.is_empty() {
        tokenizer.token_text(id).unwrap_or_default().to_owned()
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (text, bytes)
}

/// The chat shape of `lps`.
pub fn chat_logprobs(tokenizer: &Tokenizer, lps: &[TokenLogprobs]) -> ChatLogprobs {
    let content = lps
        .iter()
        .map(|lp| {
            let (text, bytes) = token(tokenizer, lp.id);
            let top_logprobs = lp
                .top
                .iter()
                .map(|&(id, logprob)| {
                    let (token, bytes) = token(tokenizer, id);
                    TopLogprob { token, logprob, bytes }
                })
                .collect();
            ChatTokenLogprob { token: text, logprob: lp.logprob, bytes, top_logprobs }
        })
        .collect();
    ChatLogprobs { content }
}

/// The text-completion shape of `lps`, whose first token starts at byte `offset` of the reply.
pub fn completion_logprobs(tokenizer: &Tokenizer, lps: &[TokenLogprobs], mut offset: usize) -> CompletionLogprobs {
    let mut out = CompletionLogprobs {
        tokens: Vec::new(),
        token_logprobs: Vec::new(),
        top_logprobs: Vec::new(),
        text_offset: Vec::new(),
    };
    for lp in lps {
        let (text, bytes) = token(tokenizer, lp.id);
        out.text_offset.push(offset);
        offset += bytes.len();
        out.tokens.push(text);
        out.token_logprobs.push(lp.logprob);
        out.top_logprobs.push(lp.top.iter().map(|&(id, logprob)| (token(tokenizer, id).0, logprob)).collect());
    }
    out
}

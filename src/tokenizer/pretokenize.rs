//! The pre-tokenizer regexes llama.cpp applies for each `tokenizer.ggml.pre` value (each
//! regex splits the pieces of the previous one, keeping the matches as pieces).

use super::TokenizerError;

const GPT2: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
const LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `tokenizer.ggml.pre` values hearth knows.
pub const SUPPORTED: [&str; 12] = [
    "default",
    "gpt-2",
    "gpt2",
    "llama-bpe",
    "llama3",
    "smollm",
    "qwen2",
    "stablelm2",
    "starcoder",
    "refact",
    "olmo",
    "mpt",
];

/// Whether a word that is itself a token skips the merges (llama.cpp's `ignore_merges`, set
/// for llama3-style vocabularies, as in their tokenizer.json).
pub fn ignore_merges(pre: &str) -> bool {
    matches!(pre, "llama-bpe" | "llama3")
}

/// The regexes of pre-tokenizer `pre`, applied in order.
pub fn regexes(pre: &str) -> Result<Vec<&'static str>, TokenizerError> {
    Ok(match pre {
        "default" => vec![r"[\p{P}\$\+<=>\^~\|]+", GPT2, r"\p{N}+", "[0-9][0-9][0-9]"],
        "gpt-2" | "gpt2" | "olmo" | "mpt" => vec![GPT2],
        "llama-bpe" | "llama3" => vec![LLAMA3],
        "smollm" | "starcoder" | "refact" => vec![r"\p{N}", GPT2],
        "qwen2" | "stablelm2" => vec![QWEN2],
        other => return Err(TokenizerError::UnsupportedPre(other.to_owned())),
    })
}

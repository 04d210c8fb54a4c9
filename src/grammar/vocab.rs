//! The model's vocabulary as llguidance sees it: the bytes of every token in a trie, control
//! tokens by name behind llguidance's special-token marker (so that no text of the grammar
//! can produce them), and tokenization by the model's own tokenizer (so that the tokens a
//! grammar forces are the ones the model would have written).

use std::sync::Arc;

use llguidance::toktrie::{TokRxInfo, TokTrie, TokenId, TokenizerEnv};

use super::GrammarError;
use crate::tokenizer::Tokenizer;

/// A tokenizer and the trie of its tokens' bytes.
pub struct GrammarVocab {
    trie: TokTrie,
    tokenizer: Arc<Tokenizer>,
}

impl GrammarVocab {
    /// Indexes `tokenizer`'s tokens; ids from its vocabulary up to `n_vocab` (the model's
    /// logits) stand for nothing and are never allowed.
    pub fn new(tokenizer: Arc<Tokenizer>, n_vocab: u32) -> Result<GrammarVocab, GrammarError> {
        let n = (n_vocab as usize).max(tokenizer.n_vocab());
        let words: Vec<Vec<u8>> = (0..n as u32)
            .map(|id| {
                let bytes = tokenizer.token_bytes(id);
                match tokenizer.token_text(id) {
                    // Control tokens (no bytes) by name, behind the marker.
                    Some(name) if bytes.is_empty() && !name.is_empty() => {
                        [&[TokTrie::SPECIAL_TOKEN_MARKER], name.as_bytes()].concat()
                    }
                    _ => bytes.to_vec(),
                }
            })
            .collect();
        let mut ends: Vec<TokenId> = tokenizer.end_of_generation.iter().copied().filter(|&id| id < n as u32).collect();
        ends.sort_unstable();
        let Some(&first_end) = ends.first() else {
            return Err(GrammarError::Vocabulary("it has no end-of-generation token".into()));
        };
        let info = TokRxInfo {
            vocab_size: n as u32,
            tok_eos: first_end,
            tok_bos: tokenizer.bos,
            tok_pad: None,
            tok_unk: None,
            tok_end_of_turn: None,
        };
        let trie = TokTrie::from(&info, &words).with_eos_tokens(&ends);
        Ok(GrammarVocab { trie, tokenizer })
    }
}

impl TokenizerEnv for GrammarVocab {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    /// The model's tokenization of `s` where it spells exactly `s` (a SentencePiece tokenizer
    /// may add a leading space), else the trie's greedy one.
    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        if let Ok(text) = std::str::from_utf8(s)
            && let Ok(ids) = self.tokenizer.encode(text, false, false)
            && ids.iter().flat_map(|&id| self.tokenizer.token_bytes(id)).copied().eq(s.iter().copied())
        {
            return ids;
        }
        self.trie.greedy_tokenize(s)
    }
}

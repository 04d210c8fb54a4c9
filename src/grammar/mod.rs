//! Constrained decoding: a JSON schema, "any JSON object" or a Lark grammar compiled by
//! llguidance over the model's own vocabulary into a [`Constraint`] that gives, before each
//! step, the mask of the tokens that keep the output inside the grammar, and the tokens the
//! grammar forces (which the engine then runs as one prefill chunk instead of one step each).
//!
//! The masks are computed on the CPU (tens of microseconds for most steps) and applied by the
//! GPU sampler: a bitmask of `n_vocab` bits is all that crosses to the GPU.

mod vocab;

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::toktrie::{InferenceCapabilities, TokEnv};
use llguidance::{Matcher, ParserFactory};
use serde_json::Value;

use crate::clock::now_ms;
use crate::tokenizer::Tokenizer;

pub use vocab::GrammarVocab;

/// Why a grammar cannot constrain a generation.
#[derive(Debug, Clone, thiserror::Error)]
pub enum GrammarError {
    /// The schema or grammar uses something the engine cannot enforce, or is not valid: refused
    /// before generation.
    #[error("the {kind} cannot be enforced: {reason}")]
    Unsupported {
        /// `JSON schema` or `grammar`.
        kind: &'static str,
        /// llguidance's reason (names the feature).
        reason: String,
    },
    /// The vocabulary could not be indexed for grammars.
    #[error("the model's vocabulary cannot be used for constrained decoding: {0}")]
    Vocabulary(String),
    /// The grammar reached a state it cannot continue from (a bug, or a token sampled outside
    /// the mask).
    #[error("constrained decoding failed: {0}")]
    Failed(String),
}

/// What a reply must be.
#[derive(Clone, Debug, PartialEq)]
pub enum Grammar {
    /// Any JSON object (`response_format: {type: "json_object"}`).
    JsonObject,
    /// A value valid against this JSON schema.
    JsonSchema(Value),
    /// Text in this Lark grammar (llguidance's dialect: regexes, `%json` for embedded schemas).
    Lark(String),
}

impl Grammar {
    fn kind(&self) -> &'static str {
        match self {
            Grammar::JsonObject | Grammar::JsonSchema(_) => "JSON schema",
            Grammar::Lark(_) => "grammar",
        }
    }

    /// llguidance's form, JSON in hearth's layout ([`with_json_layout`]).
    fn top_level(&self) -> TopLevelGrammar {
        match self {
            Grammar::JsonObject => {
                TopLevelGrammar::from_json_schema(with_json_layout(serde_json::json!({"type": "object"})))
            }
            Grammar::JsonSchema(schema) => TopLevelGrammar::from_json_schema(with_json_layout(schema.clone())),
            Grammar::Lark(lark) => TopLevelGrammar::from_lark(lark.clone()),
        }
    }
}

/// `schema` with the JSON layout every grammar of hearth writes: `", "` and `": "` and no other
/// whitespace (free whitespace lets a small model emit newlines until the token limit); a
/// schema's own `x-guidance` options override it.
pub fn with_json_layout(mut schema: Value) -> Value {
    if let Value::Object(map) = &mut schema {
        map.entry("x-guidance").or_insert_with(|| {
            serde_json::json!({
                "whitespace_flexible": false,
                "item_separator": ", ",
                "key_separator": ": ",
            })
        });
    }
    schema
}

/// Compiles grammars over one model's vocabulary (built once per loaded model, on the first
/// constrained request: indexing a 262k-token vocabulary takes a moment).
pub struct Grammars {
    factory: ParserFactory,
    n_vocab: u32,
}

impl Grammars {
    /// Indexes `tokenizer`'s vocabulary, padded to the model's `n_vocab` logits; the tokens in
    /// `end_of_generation` end a reply where the grammar may end.
    pub fn new(tokenizer: Arc<Tokenizer>, n_vocab: u32) -> Result<Grammars, GrammarError> {
        let env: TokEnv = Arc::new(GrammarVocab::new(tokenizer, n_vocab)?);
        let caps =
            InferenceCapabilities { ff_tokens: true, backtrack: false, conditional_ff_tokens: false, fork: false };
        let mut factory = ParserFactory::new(&env, caps, &llguidance::earley::SlicedBiasComputer::general_slices())
            .map_err(|e| GrammarError::Vocabulary(e.to_string()))?;
        // Nothing on stderr (a browser has none; the CLI reports errors itself).
        factory.quiet();
        Ok(Grammars { factory, n_vocab })
    }

    /// A fresh constraint for one reply, or why `grammar` cannot be enforced.
    pub fn constrain(&self, grammar: &Grammar) -> Result<Constraint, GrammarError> {
        let unsupported = |reason: String| GrammarError::Unsupported { kind: grammar.kind(), reason };
        let parser = self.factory.create_parser(grammar.top_level()).map_err(|e| unsupported(format!("{e:#}")))?;
        let mut matcher = Matcher::new(Ok(parser));
        // A grammar that accepts nothing (an unsatisfiable schema) shows in its first mask.
        let first = matcher.compute_mask().map_err(|e| unsupported(format!("{e:#}")))?;
        if first.is_zero() {
            return Err(unsupported("no output satisfies it".into()));
        }
        Ok(Constraint { matcher, words: (self.n_vocab as usize).div_ceil(32), mask_ms: 0.0, masks: 0 })
    }
}

/// One reply's grammar state.
pub struct Constraint {
    matcher: Matcher,
    words: usize,
    /// Milliseconds spent computing masks.
    pub mask_ms: f64,
    /// Masks computed.
    pub masks: u32,
}

impl Constraint {
    fn failed(&self, e: impl std::fmt::Display) -> GrammarError {
        GrammarError::Failed(self.matcher.get_error().unwrap_or_else(|| e.to_string()))
    }

    /// The tokens allowed next, one bit per token id (`n_vocab` bits in u32 words, bit
    /// `id % 32` of word `id / 32`); the end-of-generation tokens are set where the grammar
    /// may end.
    pub fn mask(&mut self) -> Result<Vec<u32>, GrammarError> {
        let t0 = now_ms();
        let mask = self.matcher.compute_mask().map_err(|e| self.failed(e))?;
        let mut words = mask.as_slice().to_vec();
        words.resize(self.words, 0);
        self.mask_ms += now_ms() - t0;
        self.masks += 1;
        Ok(words)
    }

    /// A mask that allows every token (for a draw the grammar will not read).
    pub fn allow_all(&self) -> Vec<u32> {
        vec![u32::MAX; self.words]
    }

    /// Moves past `token` (sampled under the last mask).
    pub fn consume(&mut self, token: u32) -> Result<(), GrammarError> {
        self.matcher.consume_token(token).map_err(|e| self.failed(e))
    }

    /// The tokens the grammar allows and no others, consumed (empty when there is a choice).
    pub fn forced(&mut self) -> Vec<u32> {
        self.matcher.consume_ff_tokens()
    }

    /// Whether the grammar is complete: no token may follow.
    pub fn is_complete(&self) -> bool {
        self.matcher.is_stopped() && !self.matcher.is_error()
    }

    /// Whether the output so far is a complete sentence of the grammar.
    pub fn is_accepting(&mut self) -> bool {
        self.matcher.is_accepting().unwrap_or(false)
    }
}

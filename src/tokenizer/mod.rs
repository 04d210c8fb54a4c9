//! Tokenizers built from a GGUF file's `tokenizer.ggml.*` metadata alone (or a
//! `tokenizer.json`), on the `tokenizers` crate, as llama.cpp builds them:
//! - `gpt2`: byte-level BPE with the pre-tokenizer regexes and flags llama.cpp uses for each
//!   `tokenizer.ggml.pre` ([`pretokenize::PRE_TOKENIZERS`]: every name llama.cpp knows);
//! - `gemma4`: BPE over raw UTF-8 with `▁` for spaces and `<0xXX>` byte tokens;
//! - `llama`: SentencePiece-style BPE whose merge order follows the token scores, with byte
//!   fallback (`<0xXX>` tokens) and `▁` for spaces.
//!
//! WordPiece (`bert`), Unigram (`t5`) and the other vocabularies of embedding and speech models
//! are refused by name.
//!
//! Decoding works on bytes ([`Tokenizer::token_bytes`]) so that a stream of tokens can be
//! turned into valid UTF-8 as soon as each character is complete ([`StreamDecoder`]).

mod pieces;
pub mod pretokenize;

use std::collections::HashSet;
use std::sync::Mutex;

use tokenizers::models::bpe::{BPE, Merges, Vocab};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence as NormalizerSequence};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::{AddedToken, SplitDelimiterBehavior};

use crate::gguf::{Array, Gguf, GgufError};

pub use pieces::StreamDecoder;

/// Why a tokenizer could not be built or used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TokenizerError {
    /// Metadata missing or of the wrong type.
    #[error(transparent)]
    Metadata(#[from] GgufError),
    /// A tokenizer model hearth does not implement.
    #[error("tokenizer model '{0}' is not supported (supported: gpt2, gemma4, llama)")]
    UnsupportedModel(String),
    /// A pre-tokenizer llama.cpp does not know either.
    #[error("pre-tokenizer '{0}' is not one llama.cpp knows: the file names a tokenizer no runtime can reproduce")]
    UnsupportedPre(String),
    /// A pre-tokenizer llama.cpp knows and hearth does not run, and why.
    #[error("pre-tokenizer '{name}' is not supported: {why}")]
    RefusedPre {
        /// The `tokenizer.ggml.pre` value.
        name: String,
        /// Why.
        why: &'static str,
    },
    /// The vocabulary is malformed (e.g. a token that is not UTF-8, a bad merge).
    #[error("malformed vocabulary: {0}")]
    Vocab(String),
    /// The tokenizer produces ids past the model's token table.
    #[error("the tokenizer has {tokenizer} tokens but the model's token table only {model}")]
    VocabMismatch {
        /// Tokens of the tokenizer.
        tokenizer: usize,
        /// Rows of the model's token table.
        model: u32,
    },
    /// The `tokenizers` crate failed.
    #[error("tokenizer: {0}")]
    Library(String),
}

/// The control tokens of [`END_OF_TURN`] in a vocabulary.
fn end_of_turn<'a>(texts: &'a [String], types: &'a [i32]) -> impl Iterator<Item = u32> + 'a {
    texts
        .iter()
        .zip(types)
        .enumerate()
        .filter(|(_, (t, ty))| **ty == TOKEN_CONTROL && END_OF_TURN.contains(&t.as_str()))
        .map(|(i, _)| i as u32)
}

/// `id`, the value of special-token key `key`, if it names one of the `n` tokens.
fn special_id(key: &str, id: Option<u32>, n: usize) -> Result<Option<u32>, TokenizerError> {
    match id {
        Some(id) if id as usize >= n => {
            Err(TokenizerError::Vocab(format!("'{key}' is {id}, past the vocabulary of {n} tokens")))
        }
        other => Ok(other),
    }
}

fn lib_err(e: impl std::fmt::Display) -> TokenizerError {
    TokenizerError::Library(e.to_string())
}

/// Texts of the control tokens that close a turn in common chat templates: like llama.cpp,
/// generation ends on them as on EOS (a tokenizer.json's special tokens are control tokens).
const END_OF_TURN: [&str; 5] = ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>", "<|end|>"];

/// GGUF token types (`tokenizer.ggml.token_type`).
const TOKEN_CONTROL: i32 = 3;
const TOKEN_USER_DEFINED: i32 = 4;

/// A tokenizer with its special tokens.
pub struct Tokenizer {
    /// The tokenizer, with control tokens matched in the text unless encoding is told not
    /// to (one copy: the vocabulary and merges of a 262k-token model are tens of MiB, and in
    /// the browser they live in wasm memory). Locked only to set that switch for one call.
    inner: Mutex<tokenizers::Tokenizer>,
    /// Bytes each token stands for (empty for control tokens).
    pieces: Vec<Vec<u8>>,
    /// Text of each token as stored (for control tokens, their name).
    texts: Vec<String>,
    /// Beginning-of-sequence token.
    pub bos: Option<u32>,
    /// End-of-sequence token.
    pub eos: Option<u32>,
    /// Tokens that end a generation (EOS, EOT, `<|im_end|>`, `<end_of_turn>`, …).
    pub end_of_generation: HashSet<u32>,
    /// Whether encoding adds BOS.
    pub add_bos: bool,
    /// Whether encoding adds EOS.
    pub add_eos: bool,
    /// Built from a tokenizer.json: special tokens are always parsed, and BOS/EOS come from
    /// its post-processor.
    from_json: bool,
}

impl Tokenizer {
    /// Builds the tokenizer described by a GGUF file's metadata.
    pub fn from_gguf(g: &Gguf) -> Result<Tokenizer, TokenizerError> {
        let model = g.get_str("tokenizer.ggml.model")?;
        let tokens = g.get_str_array("tokenizer.ggml.tokens")?;
        let texts: Vec<String> = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                String::from_utf8(t.to_vec()).map_err(|_| TokenizerError::Vocab(format!("token {i} is not UTF-8")))
            })
            .collect::<Result<_, _>>()?;
        let types: Vec<i32> = match g.optional("tokenizer.ggml.token_type", Gguf::get_array)? {
            Some(Array::I32(t)) if t.len() == texts.len() => t.clone(),
            Some(_) => return Err(TokenizerError::Vocab("token_type is not one i32 per token".into())),
            None => vec![1; texts.len()],
        };
        let vocab: Vocab = texts.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        // The pre-tokenizer: a file without the key gets llama.cpp's `default`; Gemma 4's
        // vocabulary model has its own.
        let pre_name = match model {
            "gemma4" => "gemma4",
            _ => g.optional("tokenizer.ggml.pre", Gguf::get_str)?.unwrap_or("default"),
        };
        let (mut inner, pieces, pre) = match model {
            "gpt2" | "gemma4" => {
                let pre = pretokenize::lookup(pre_name)?;
                let merges = g.get_str_array("tokenizer.ggml.merges")?;
                let merges: Merges = merges
                    .iter()
                    .map(|m| {
                        let s =
                            std::str::from_utf8(m).map_err(|_| TokenizerError::Vocab("a merge is not UTF-8".into()))?;
                        let (a, b) = s.split_once(' ').ok_or_else(|| TokenizerError::Vocab(format!("merge '{s}'")))?;
                        Ok((a.to_owned(), b.to_owned()))
                    })
                    .collect::<Result<_, TokenizerError>>()?;
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .ignore_merges(pre.ignore_merges)
                    .byte_fallback(!pre.byte_encode)
                    .build()
                    .map_err(lib_err)?;
                let mut t = tokenizers::Tokenizer::new(bpe);
                let mut seq: Vec<PreTokenizerWrapper> = Vec::new();
                for re in pre.regexes {
                    let split =
                        Split::new(SplitPattern::Regex((*re).to_owned()), SplitDelimiterBehavior::Isolated, false)
                            .map_err(lib_err)?;
                    seq.push(split.into());
                }
                let pieces = if pre.byte_encode {
                    seq.push(ByteLevel::new(false, false, false).into());
                    pieces::byte_level(&texts, &types)
                } else {
                    // Raw UTF-8 with spaces written as `▁`, unknown bytes as `<0xXX>` tokens.
                    t.with_normalizer(Some(Replace::new(" ", "▁").map_err(lib_err)?)).map_err(lib_err)?;
                    pieces::sentencepiece_guess(&texts, &types)
                };
                t.with_pre_tokenizer(Some(Sequence::new(seq)));
                (t, pieces, Some(pre))
            }
            "llama" => {
                let scores: Vec<f32> = match g.optional("tokenizer.ggml.scores", Gguf::get_array)? {
                    Some(Array::F32(s)) if s.len() == texts.len() => s.clone(),
                    _ => {
                        return Err(TokenizerError::Vocab(
                            "a SentencePiece vocabulary needs one f32 score per token".into(),
                        ));
                    }
                };
                let merges = pieces::merges_from_scores(&texts, &scores, &types);
                let bpe = BPE::builder()
                    .vocab_and_merges(vocab, merges)
                    .byte_fallback(true)
                    .unk_token(
                        texts
                            .get(g.optional("tokenizer.ggml.unknown_token_id", Gguf::get_u32)?.unwrap_or(0) as usize)
                            .cloned()
                            .unwrap_or_default(),
                    )
                    .build()
                    .map_err(lib_err)?;
                let mut t = tokenizers::Tokenizer::new(bpe);
                let add_space = g.optional("tokenizer.ggml.add_space_prefix", Gguf::get_bool)?.unwrap_or(true);
                let mut norms: Vec<NormalizerWrapper> = Vec::new();
                if add_space {
                    norms.push(Prepend::new("▁".into()).into());
                }
                norms.push(Replace::new(" ", "▁").map_err(lib_err)?.into());
                t.with_normalizer(Some(NormalizerSequence::new(norms))).map_err(lib_err)?;
                (t, pieces::sentencepiece(&texts, &types), None)
            }
            other => return Err(TokenizerError::UnsupportedModel(other.to_owned())),
        };
        // Control and user-defined tokens are matched whole in the text; without parse_special
        // control tokens are tokenized as text (user-defined ones still match, as in llama.cpp).
        let specials: Vec<AddedToken> = texts
            .iter()
            .zip(&types)
            .filter(|(t, ty)| (**ty == TOKEN_CONTROL || **ty == TOKEN_USER_DEFINED) && !t.is_empty())
            .map(|(t, ty)| AddedToken::from(t.clone(), *ty == TOKEN_CONTROL))
            .collect();
        inner.add_special_tokens(specials).map_err(lib_err)?;

        // A special id past the vocabulary would be emitted as a token that is not there.
        let id = |k: &str| special_id(k, g.optional(k, Gguf::get_u32)?, texts.len());
        // llama.cpp's defaults when a key is absent (SentencePiece 1 and 2, byte-level BPE 11,
        // none for Gemma 4), kept only when inside the vocabulary.
        let (bos_default, eos_default) = match model {
            "llama" => (Some(1), Some(2)),
            "gpt2" => (Some(11), Some(11)),
            _ => (None, None),
        };
        let in_vocab = |d: Option<u32>| d.filter(|&i| (i as usize) < texts.len());
        let bos = match id("tokenizer.ggml.bos_token_id")?.or(in_vocab(bos_default)) {
            _ if pre.is_some_and(|p| p.no_bos) => None,
            b => b,
        };
        let eos = id("tokenizer.ggml.eos_token_id")?.or(in_vocab(eos_default));
        let mut end_of_generation: HashSet<u32> =
            [eos, id("tokenizer.ggml.eot_token_id")?, id("tokenizer.ggml.eom_token_id")?]
                .into_iter()
                .flatten()
                .collect();
        end_of_generation.extend(end_of_turn(&texts, &types));
        Ok(Tokenizer {
            inner: Mutex::new(inner),
            pieces,
            texts,
            bos,
            eos,
            end_of_generation,
            // llama.cpp's default when the key is absent: SentencePiece adds BOS, byte-level BPE
            // as its pre-tokenizer says (Llama 3 does); Gemma 4 always does.
            add_bos: match g.optional("tokenizer.ggml.add_bos_token", Gguf::get_bool)? {
                _ if model == "gemma4" => true,
                Some(add) => add,
                None => pre.map_or(model == "llama", |p| p.add_bos),
            } && bos.is_some(),
            add_eos: g.optional("tokenizer.ggml.add_eos_token", Gguf::get_bool)?.unwrap_or(false),
            from_json: false,
        })
    }

    /// Builds a tokenizer from a Hugging Face `tokenizer.json`. Its added special tokens are
    /// control tokens; BOS/EOS are taken from `gguf` when given (else guessed from common
    /// names). BOS/EOS insertion follows the file's post-processor.
    pub fn from_json(json: &[u8], gguf: Option<&Gguf>) -> Result<Tokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(json).map_err(lib_err)?;
        let n = inner.get_vocab_size(true);
        let mut texts = vec![String::new(); n];
        for (t, id) in inner.get_vocab(true) {
            if let Some(slot) = texts.get_mut(id as usize) {
                *slot = t;
            }
        }
        let special: HashSet<u32> =
            inner.get_added_tokens_decoder().iter().filter(|(_, t)| t.special).map(|(id, _)| *id).collect();
        let types: Vec<i32> = (0..n as u32).map(|id| if special.contains(&id) { TOKEN_CONTROL } else { 1 }).collect();
        // Byte-level vocabularies write every byte as a printable character; SentencePiece ones
        // use `▁` and `<0xXX>`.
        let byte_level = texts.iter().any(|t| t.contains('Ġ'));
        let pieces =
            if byte_level { pieces::byte_level(&texts, &types) } else { pieces::sentencepiece_guess(&texts, &types) };
        let find = |names: &[&str]| texts.iter().position(|t| names.contains(&t.as_str())).map(|i| i as u32);
        let from_gguf = |k: &str| special_id(k, gguf.and_then(|g| g.optional(k, Gguf::get_u32).ok().flatten()), n);
        let bos = from_gguf("tokenizer.ggml.bos_token_id")?.or_else(|| find(&["<s>", "<bos>", "<|begin_of_text|>"]));
        let eos = from_gguf("tokenizer.ggml.eos_token_id")?
            .or_else(|| find(&["</s>", "<eos>", "<|end_of_text|>", "<|endoftext|>"]));
        let mut end_of_generation: HashSet<u32> = eos.into_iter().collect();
        end_of_generation.extend(end_of_turn(&texts, &types));
        Ok(Tokenizer {
            inner: Mutex::new(inner),
            pieces,
            texts,
            bos,
            eos,
            end_of_generation,
            // The post-processor adds them (see `encode`).
            add_bos: false,
            add_eos: false,
            from_json: true,
        })
    }

    /// This tokenizer as a Hugging Face `tokenizer.json`.
    pub fn to_json(&self) -> Result<String, TokenizerError> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).to_string(false).map_err(lib_err)
    }

    /// Number of tokens.
    pub fn n_vocab(&self) -> usize {
        self.pieces.len()
    }

    /// Encodes `text`. `add_special` adds BOS/EOS as the model asks; `parse_special` lets
    /// special-token text (like `<|im_start|>`) become those tokens (always, for a tokenizer
    /// built from a tokenizer.json).
    pub fn encode(&self, text: &str, add_special: bool, parse_special: bool) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::new();
        if add_special && self.add_bos {
            ids.extend(self.bos);
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.set_encode_special_tokens(!parse_special && !self.from_json);
        ids.extend(inner.encode_fast(text, self.from_json && add_special).map_err(lib_err)?.get_ids());
        if add_special && self.add_eos {
            ids.extend(self.eos);
        }
        Ok(ids)
    }

    /// The bytes token `id` stands for (empty for control tokens and unknown ids).
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        self.pieces.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The token's text as stored in the vocabulary.
    pub fn token_text(&self, id: u32) -> Option<&str> {
        self.texts.get(id as usize).map(String::as_str)
    }

    /// The id of a token text, if it is one token.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.texts.iter().position(|t| t == text).map(|i| i as u32)
    }

    /// Decodes ids to text (invalid UTF-8 replaced), skipping control tokens.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id).iter().copied()).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

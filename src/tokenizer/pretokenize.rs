//! The pre-tokenizers llama.cpp applies for each `tokenizer.ggml.pre` value of a BPE
//! vocabulary, in one table: the regexes (each splits the pieces of the previous one, keeping
//! the matches as pieces) and the flags llama.cpp sets with them (`llama_vocab::impl::load`
//! and `llm_tokenizer_bpe` in `src/llama-vocab.cpp` of the llama.cpp that llama-cpp-python
//! 0.3.36 vendors; the regexes are the tokenizer.json patterns as llama.cpp spells them).
//! Where llama.cpp splits with hand-written code instead of a regex (Kimi-K2, AFMoE's and Tiny
//! Aya's digit groups), the regex here is what that code implements.

use super::TokenizerError;

/// One group of `tokenizer.ggml.pre` names and how llama.cpp pre-tokenizes them.
#[derive(Clone, Copy, Debug)]
pub struct Pre {
    /// The names (`tokenizer.ggml.pre` values).
    pub names: &'static [&'static str],
    /// The regexes, applied in order.
    pub regexes: &'static [&'static str],
    /// A word that is itself a token skips the merges (llama.cpp's `ignore_merges`).
    pub ignore_merges: bool,
    /// BOS is added when the file has no `tokenizer.ggml.add_bos_token`.
    pub add_bos: bool,
    /// Text is GPT-2 byte-encoded before the merges; else raw UTF-8 with spaces written `▁`
    /// and unknown bytes as `<0xXX>` tokens (Gemma 4's SentencePiece-style BPE).
    pub byte_encode: bool,
    /// llama.cpp has no BOS token for it (ChatGLM, GLM-4).
    pub no_bos: bool,
    /// Why hearth refuses it, if it does.
    pub refused: Option<&'static str>,
}

const BYTE_LEVEL: Pre = Pre {
    names: &[],
    regexes: &[],
    ignore_merges: false,
    add_bos: false,
    byte_encode: true,
    no_bos: false,
    refused: None,
};

const EMBEDDING_ONLY: &str =
    "it is the tokenizer of an embedding model (llama.cpp appends a separator token), which hearth does not run";

const fn refused(names: &'static [&'static str], why: &'static str) -> Pre {
    Pre { names, refused: Some(why), ..BYTE_LEVEL }
}

/// AFMoE's digit groups as llama.cpp splits them: a run of digits into its leading
/// `len % 3` digits, then groups of three (llama.cpp's `unicode_regex_split_custom_afmoe`, also
/// used for Tiny Aya's `\d{1,3}(?=(?:\d{3})*\b)`).
const AFMOE_DIGITS: &str = r"\p{N}{1,3}(?=(?:\p{N}{3})*(?!\p{N}))";

const DEFAULT: &[&str] = &[
    r"[\p{P}\$\+<=>\^~\|]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"\p{N}+",
    r"[0-9][0-9][0-9]",
];
const MINICPM5: &[&str] = &[
    r"\p{N}{1,3}",
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const LLAMA3: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const DEEPSEEK_LLM: &[&str] = &[
    r"[\r\n]",
    r"\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
    r"\s?[!-/:-~！-／：-～‘-‟\x{3000}-。]+",
    r"\s+$",
    r"[一-龥ࠀ-一가-\x{D7FF}]+",
    r"\p{N}+",
];
const DEEPSEEK_CODER: &[&str] = &[r"[\r\n]", r"\s?\p{L}+", r"\s?\p{P}+", r"[一-龥ࠀ-一가-\x{D7FF}]+", r"\p{N}"];
const DEEPSEEK3_LLM: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥\x{3040}-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const SPARK2_5: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥\x{3040}-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+|[\r\n]|\s+(?!\S)|\s+"##,
    r"\p{N}",
];
const YOUTU: &[&str] = &[
    r"[가-힣ㄱ-ㆎ]+|[！…“”‘’—：；，、-〿︰-﹏]+|[ㄅ-ㄯ]+|[一-龥\x{3040}-ゟ゠-ヿ]+",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const FALCON: &[&str] = &[
    r"[\p{P}\$\+<=>\^~\|`]+",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
    r"[0-9][0-9][0-9]",
];
const MPT: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const STARCODER: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const GPT2: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const JAIS2: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}",
];
const GEMMA4: &[&str] = &[r"[^\n]+|[\n]+"];
const SARVAM_MOE: &[&str] = &[r"[^\n]+|[\n]+"];
const REFACT: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const COMMAND_R: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const QWEN2: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const QWEN35: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const STABLELM2: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const OLMO: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const DBRX: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const SMAUG: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const PORO: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+"];
const CHATGLM4: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const VIKING: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+", r"\p{N}"];
const JAIS: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const TEKKEN: &[&str] = &[
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const SMOLLM: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const CODESHELL: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const BLOOM: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+"];
const GPT3_FINNISH: &[&str] = &[r" ?[^(\s|.,!?…。，、।۔،)]+"];
const EXAONE: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const EXAONE_MOE: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+",
];
const CHAMELEON: &[&str] = &[
    r"<sentinel:[0-9]+>",
    r"(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z",
    r"([\t\n]|    |  )",
    r"\p{N}",
    r"[\p{P}!-/:-@\[-`{-~]",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
];
const MINERVA: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const GPT4O: &[&str] = &[
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const GRANITE_EMB_MULTI: &[&str] = &[
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))*((?=[\p{L}\p{M}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}\p{M}])([^a-z]))+((?=[\p{L}\p{M}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const TINY_AYA: &[&str] = &[
    AFMOE_DIGITS,
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const SUPERBPE: &[&str] = &[r"\p{N}+", r"(?=(\d{3})+(?!\d))"];
const TRILLION: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const GRANITE_DOCLING: &[&str] = &[r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];
const BAILINGMOE: &[&str] = &[
    r"'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+",
];
const SEED_CODER: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const HUNYUAN: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const HUNYUAN_DENSE: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥\x{3040}-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const HY_V4: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥\x{3040}-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const JOYAI_LLM: &[&str] = &[
    r"\p{N}{1,3}",
    r"[一-龥\x{3040}-ゟ゠-ヿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const KIMI_K2: &[&str] = &[
    r"[\p{Han}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]+[\p{Ll}\p{Lm}\p{Lo}\p{M}&&[^\p{Han}]]*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const UFAKZEKA: &[&str] = &[r"[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"];
const GROK_2: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const AFMOE: &[&str] = &[
    AFMOE_DIGITS,
    r"[一-鿿㐀-䶿豈-\x{FAFF}\x{3040}-ゟ゠-ヿ･-ﾟ⼀-\x{2FDF}เ-\x{0E7F}\x{0E80}-\x{0EFF}ក-\x{17FF}က-႟ꩠ-ꩿꧠ-\x{A9FF}가-\x{D7AF}ᄀ-ᇿ]+",
    r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"##,
];
const LAGUNA: &[&str] = &[
    r"[^\n]+|[\n]+",
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const MINIMAX_M2: &[&str] = &[
    r"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const SOLAR_OPEN: &[&str] = &[
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
];
const MELLUM2: &[&str] = &[r"\p{N}", r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"];

/// Every `tokenizer.ggml.pre` value llama.cpp knows, in its order. A file without the key gets
/// `default`, as in llama.cpp.
pub const PRE_TOKENIZERS: &[Pre] = &[
    Pre { names: &["default"], regexes: DEFAULT, ..BYTE_LEVEL },
    Pre { names: &["minicpm5"], regexes: MINICPM5, ignore_merges: true, ..BYTE_LEVEL },
    Pre {
        names: &[
            "llama3",
            "llama-v3",
            "llama-bpe",
            "falcon3",
            "falcon-h1",
            "pixtral",
            "midm-2.0",
            "lfm2",
            "jina-v5-nano",
        ],
        regexes: LLAMA3,
        ignore_merges: true,
        add_bos: true,
        ..BYTE_LEVEL
    },
    Pre { names: &["deepseek-llm"], regexes: DEEPSEEK_LLM, ..BYTE_LEVEL },
    Pre { names: &["deepseek-coder"], regexes: DEEPSEEK_CODER, ..BYTE_LEVEL },
    Pre { names: &["deepseek-v3"], regexes: DEEPSEEK3_LLM, ..BYTE_LEVEL },
    Pre { names: &["spark2_5"], regexes: SPARK2_5, ..BYTE_LEVEL },
    Pre { names: &["youtu"], regexes: YOUTU, ignore_merges: true, ..BYTE_LEVEL },
    Pre { names: &["falcon"], regexes: FALCON, ..BYTE_LEVEL },
    Pre { names: &["mpt"], regexes: MPT, ..BYTE_LEVEL },
    Pre { names: &["starcoder"], regexes: STARCODER, ..BYTE_LEVEL },
    Pre {
        names: &[
            "gpt-2",
            "phi-2",
            "jina-es",
            "jina-de",
            "gigachat",
            "jina-v2-es",
            "jina-v2-de",
            "a.x-4.0",
            "mellum",
            "modern-bert",
        ],
        regexes: GPT2,
        ..BYTE_LEVEL
    },
    Pre { names: &["jais-2"], regexes: JAIS2, ..BYTE_LEVEL },
    Pre { names: &["gemma4", "granite-embed-multi-311m"], regexes: GEMMA4, byte_encode: false, ..BYTE_LEVEL },
    Pre { names: &["sarvam-moe"], regexes: SARVAM_MOE, byte_encode: false, ..BYTE_LEVEL },
    refused(&["jina-v1-en", "jina-v2-code", "roberta-bpe"], EMBEDDING_ONLY),
    refused(&["whitespace"], EMBEDDING_ONLY),
    Pre { names: &["refact"], regexes: REFACT, ..BYTE_LEVEL },
    Pre { names: &["command-r"], regexes: COMMAND_R, ..BYTE_LEVEL },
    Pre { names: &["qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2"], regexes: QWEN2, ..BYTE_LEVEL },
    Pre { names: &["qwen35"], regexes: QWEN35, ..BYTE_LEVEL },
    Pre { names: &["stablelm2"], regexes: STABLELM2, ..BYTE_LEVEL },
    Pre { names: &["olmo"], regexes: OLMO, ..BYTE_LEVEL },
    Pre { names: &["dbrx"], regexes: DBRX, ..BYTE_LEVEL },
    Pre { names: &["smaug-bpe"], regexes: SMAUG, ..BYTE_LEVEL },
    Pre { names: &["poro-chat"], regexes: PORO, ..BYTE_LEVEL },
    Pre { names: &["chatglm-bpe"], regexes: CHATGLM4, no_bos: true, ..BYTE_LEVEL },
    Pre { names: &["glm4", "glm5"], regexes: CHATGLM4, ignore_merges: true, no_bos: true, ..BYTE_LEVEL },
    Pre { names: &["viking"], regexes: VIKING, ..BYTE_LEVEL },
    Pre { names: &["jais"], regexes: JAIS, ..BYTE_LEVEL },
    Pre { names: &["tekken"], regexes: TEKKEN, ignore_merges: true, add_bos: true, ..BYTE_LEVEL },
    Pre { names: &["smollm"], regexes: SMOLLM, ..BYTE_LEVEL },
    Pre { names: &["codeshell"], regexes: CODESHELL, ..BYTE_LEVEL },
    Pre { names: &["bloom"], regexes: BLOOM, ..BYTE_LEVEL },
    Pre { names: &["gpt3-finnish"], regexes: GPT3_FINNISH, ..BYTE_LEVEL },
    Pre { names: &["exaone"], regexes: EXAONE, ..BYTE_LEVEL },
    Pre { names: &["exaone4"], regexes: GPT2, ..BYTE_LEVEL },
    Pre { names: &["exaone-moe"], regexes: EXAONE_MOE, ..BYTE_LEVEL },
    Pre { names: &["chameleon"], regexes: CHAMELEON, add_bos: true, ..BYTE_LEVEL },
    Pre { names: &["minerva-7b"], regexes: MINERVA, ..BYTE_LEVEL },
    Pre { names: &["megrez"], regexes: QWEN2, ..BYTE_LEVEL },
    Pre { names: &["gpt-4o", "llama4", "kanana2", "talkie"], regexes: GPT4O, ..BYTE_LEVEL },
    Pre { names: &["granite-embed-multi-97m"], regexes: GRANITE_EMB_MULTI, ignore_merges: true, ..BYTE_LEVEL },
    Pre { names: &["tiny_aya", "cohere2moe"], regexes: TINY_AYA, ..BYTE_LEVEL },
    Pre { names: &["superbpe"], regexes: SUPERBPE, ..BYTE_LEVEL },
    Pre { names: &["trillion"], regexes: TRILLION, ..BYTE_LEVEL },
    Pre { names: &["granite-docling"], regexes: GRANITE_DOCLING, ..BYTE_LEVEL },
    Pre { names: &["bailingmoe", "bailingmoe2", "llada-moe"], regexes: BAILINGMOE, ..BYTE_LEVEL },
    Pre { names: &["seed-coder"], regexes: SEED_CODER, ..BYTE_LEVEL },
    Pre { names: &["hunyuan"], regexes: HUNYUAN, ..BYTE_LEVEL },
    Pre { names: &["hunyuan-dense"], regexes: HUNYUAN_DENSE, ..BYTE_LEVEL },
    Pre { names: &["hy_v4"], regexes: HY_V4, ..BYTE_LEVEL },
    Pre { names: &["joyai-llm"], regexes: JOYAI_LLM, ..BYTE_LEVEL },
    Pre { names: &["kimi-k2"], regexes: KIMI_K2, ..BYTE_LEVEL },
    Pre { names: &["ufakzeka"], regexes: UFAKZEKA, ..BYTE_LEVEL },
    Pre { names: &["grok-2"], regexes: GROK_2, ..BYTE_LEVEL },
    Pre { names: &["afmoe"], regexes: AFMOE, ..BYTE_LEVEL },
    Pre { names: &["laguna"], regexes: LAGUNA, ..BYTE_LEVEL },
    Pre { names: &["minimax-m2"], regexes: MINIMAX_M2, ..BYTE_LEVEL },
    Pre { names: &["solar-open"], regexes: SOLAR_OPEN, ..BYTE_LEVEL },
    Pre { names: &["mellum2"], regexes: MELLUM2, ..BYTE_LEVEL },
];

/// The pre-tokenizer of `name`.
pub fn lookup(name: &str) -> Result<&'static Pre, TokenizerError> {
    let pre = PRE_TOKENIZERS
        .iter()
        .find(|p| p.names.contains(&name))
        .ok_or_else(|| TokenizerError::UnsupportedPre(name.to_owned()))?;
    match pre.refused {
        Some(why) => Err(TokenizerError::RefusedPre { name: name.to_owned(), why }),
        None => Ok(pre),
    }
}

//! `Summary`: what a person (or a script) wants to know about a GGUF file at a glance.
//! Shared by `hearth inspect` and the web page.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::{Array, GgmlType, Gguf, Value};

/// Arrays longer than this are summarized ("array of 49152 string") instead of listed.
const MAX_LISTED: usize = 16;

/// A GGUF file's architecture, hyper-parameters, tokenizer and tensors.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// GGUF version.
    pub version: u32,
    /// `general.architecture`, when present.
    pub architecture: Option<String>,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// File size in bytes.
    pub file_size: u64,
    /// Where tensor data starts.
    pub data_offset: u64,
    /// Every `{architecture}.*` key, with long arrays summarized.
    pub hyperparameters: BTreeMap<String, serde_json::Value>,
    /// The tokenizer described by `tokenizer.ggml.*`.
    pub tokenizer: TokenizerSummary,
    /// One row per tensor, in file order.
    pub tensors: Vec<TensorRow>,
    /// Totals per tensor type, by type id.
    pub by_type: Vec<TypeTotal>,
    /// Total number of weights.
    pub n_parameters: u64,
    /// Total bytes of tensor data.
    pub n_tensor_bytes: u64,
}

/// The tokenizer keys of a GGUF file.
#[derive(Clone, Debug, Default, Serialize)]
pub struct TokenizerSummary {
    /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE), `llama` (SentencePiece), …
    pub model: Option<String>,
    /// `tokenizer.ggml.pre`: the pre-tokenizer llama.cpp applies.
    pub pre: Option<String>,
    /// Vocabulary size.
    pub n_tokens: usize,
    /// BPE merges.
    pub n_merges: usize,
    /// `tokenizer.ggml.bos_token_id`.
    pub bos_id: Option<u32>,
    /// `tokenizer.ggml.eos_token_id`.
    pub eos_id: Option<u32>,
    /// `tokenizer.ggml.add_bos_token`.
    pub add_bos: Option<bool>,
    /// Whether `tokenizer.chat_template` is present.
    pub has_chat_template: bool,
}

/// One tensor of the table.
#[derive(Clone, Debug, Serialize)]
pub struct TensorRow {
    /// Tensor name.
    pub name: String,
    /// Element type.
    pub ty: GgmlType,
    /// Dimensions, innermost first.
    pub dims: Vec<u64>,
    /// Bytes of data.
    pub n_bytes: u64,
}

/// Tensors of one type.
#[derive(Clone, Debug, Serialize)]
pub struct TypeTotal {
    /// The type.
    pub ty: GgmlType,
    /// How many tensors have it.
    pub count: usize,
    /// Their elements.
    pub n_elements: u64,
    /// Their bytes.
    pub n_bytes: u64,
}

impl Summary {
    /// Summarizes a parsed header.
    pub fn new(g: &Gguf) -> Summary {
        let architecture = g.architecture().ok().map(str::to_owned);
        let prefix = architecture.as_deref().map(|a| format!("{a}."));
        let hyperparameters = g
            .metadata()
            .iter()
            .filter(|(k, _)| prefix.as_deref().is_some_and(|p| k.starts_with(p)))
            .map(|(k, v)| (k.clone(), to_json(v)))
            .collect();
        let opt_u32 = |k| g.optional(k, Gguf::get_u32).ok().flatten();
        let tokenizer = TokenizerSummary {
            model: g.get_str("tokenizer.ggml.model").ok().map(str::to_owned),
            pre: g.get_str("tokenizer.ggml.pre").ok().map(str::to_owned),
            n_tokens: g.get_array("tokenizer.ggml.tokens").map_or(0, Array::len),
            n_merges: g.get_array("tokenizer.ggml.merges").map_or(0, Array::len),
            bos_id: opt_u32("tokenizer.ggml.bos_token_id"),
            eos_id: opt_u32("tokenizer.ggml.eos_token_id"),
            add_bos: g.get_bool("tokenizer.ggml.add_bos_token").ok(),
            has_chat_template: g.get_str("tokenizer.chat_template").is_ok(),
        };
        let tensors: Vec<TensorRow> = g
            .tensors()
            .iter()
            .map(|t| TensorRow { name: t.name.clone(), ty: t.ty, dims: t.dims.clone(), n_bytes: t.n_bytes })
            .collect();
        let mut totals: BTreeMap<u32, TypeTotal> = BTreeMap::new();
        for t in g.tensors() {
            let e = totals.entry(t.ty.id()).or_insert(TypeTotal { ty: t.ty, count: 0, n_elements: 0, n_bytes: 0 });
            e.count += 1;
            e.n_elements += t.n_elements();
            e.n_bytes += t.n_bytes;
        }
        let by_type: Vec<TypeTotal> = totals.into_values().collect();
        Summary {
            version: g.version(),
            name: g.get_str("general.name").ok().map(str::to_owned),
            architecture,
            file_size: g.file_size(),
            data_offset: g.data_offset(),
            hyperparameters,
            tokenizer,
            n_parameters: by_type.iter().map(|t| t.n_elements).sum(),
            n_tensor_bytes: by_type.iter().map(|t| t.n_bytes).sum(),
            tensors,
            by_type,
        }
    }
}

fn to_json(v: &Value) -> serde_json::Value {
    use serde_json::json;
    match v {
        Value::U8(x) => json!(x),
        Value::I8(x) => json!(x),
        Value::U16(x) => json!(x),
        Value::I16(x) => json!(x),
        Value::U32(x) => json!(x),
        Value::I32(x) => json!(x),
        // Print f32 as its shortest decimal (1e-5, not 9.999999747378752e-6).
        Value::F32(x) => x.to_string().parse::<f64>().map_or(json!(null), |f| json!(f)),
        Value::Bool(x) => json!(x),
        Value::String(x) => json!(x),
        Value::U64(x) => json!(x),
        Value::I64(x) => json!(x),
        Value::F64(x) => json!(x),
        Value::Array(a) if a.len() > MAX_LISTED => {
            json!(format!("array of {} {}", a.len(), a.element_name()))
        }
        Value::Array(a) => array_json(a),
    }
}

fn array_json(a: &Array) -> serde_json::Value {
    use serde_json::json;
    match a {
        Array::U8(v) => json!(v),
        Array::I8(v) => json!(v),
        Array::U16(v) => json!(v),
        Array::I16(v) => json!(v),
        Array::U32(v) => json!(v),
        Array::I32(v) => json!(v),
        Array::F32(v) => json!(v),
        Array::Bool(v) => json!(v),
        Array::String(v) => json!(v.iter().map(String::from_utf8_lossy).collect::<Vec<_>>()),
        Array::Array(v) => json!(v.iter().map(array_json).collect::<Vec<_>>()),
        Array::U64(v) => json!(v),
        Array::I64(v) => json!(v),
        Array::F64(v) => json!(v),
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut x = n as f64;
    let mut u = 0;
    while x >= 1024.0 && u + 1 < UNITS.len() {
        x /= 1024.0;
        u += 1;
    }
    if u == 0 { format!("{n} B") } else { format!("{x:.2} {}", UNITS[u]) }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let none = || "-".to_string();
        writeln!(f, "GGUF v{}, {} ({} bytes)", self.version, human_bytes(self.file_size), self.file_size)?;
        writeln!(f, "name:          {}", self.name.clone().unwrap_or_else(none))?;
        writeln!(f, "architecture:  {}", self.architecture.clone().unwrap_or_else(none))?;
        writeln!(f, "parameters:    {} in {} tensors", self.n_parameters, self.tensors.len())?;
        writeln!(f, "\nhyper-parameters:")?;
        for (k, v) in &self.hyperparameters {
            writeln!(f, "  {k:<44} {v}")?;
        }
        let t = &self.tokenizer;
        writeln!(f, "\ntokenizer:")?;
        writeln!(f, "  model {}, pre {}", t.model.clone().unwrap_or_else(none), t.pre.clone().unwrap_or_else(none))?;
        writeln!(f, "  {} tokens, {} merges", t.n_tokens, t.n_merges)?;
        let id = |x: Option<u32>| x.map_or_else(none, |v| v.to_string());
        writeln!(
            f,
            "  bos {}, eos {}, add_bos {}",
            id(t.bos_id),
            id(t.eos_id),
            t.add_bos.map_or_else(none, |b| b.to_string())
        )?;
        writeln!(f, "  chat template: {}", if t.has_chat_template { "yes" } else { "no" })?;
        writeln!(f, "\ntensors:")?;
        writeln!(f, "  {:<40} {:<8} {:<24} {:>12}", "name", "type", "shape", "bytes")?;
        for r in &self.tensors {
            let shape = format!("{:?}", r.dims);
            writeln!(f, "  {:<40} {:<8} {:<24} {:>12}", r.name, r.ty.to_string(), shape, r.n_bytes)?;
        }
        writeln!(f, "\nbytes per type:")?;
        for t in &self.by_type {
            writeln!(
                f,
                "  {:<8} {:>4} tensors {:>12} elements {:>12}",
                t.ty.to_string(),
                t.count,
                t.n_elements,
                human_bytes(t.n_bytes)
            )?;
        }
        write!(
            f,
            "  total    {:>4} tensors {:>12} elements {:>12}",
            self.tensors.len(),
            self.n_parameters,
            human_bytes(self.n_tensor_bytes)
        )
    }
}

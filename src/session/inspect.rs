//! What a model is and whether this GPU can run it, from the header alone: `Hearth.inspect`
//! in the browser (before a single weight byte is downloaded) and `hearth inspect` natively.

use serde::Serialize;

use super::{Error, F16, LoadOptions, check_header};
use crate::chat::{ChatTemplate, Message, TemplateSource};
use crate::gguf::Summary;
use crate::gpu::{AdapterReport, GpuContext};
use crate::model::{DeviceBudget, MemoryPlan, ModelConfig, PlanTarget, family};
use crate::source::{Reader, Source};

/// A model's summary, the GPU memory it needs and the verdict for this adapter.
#[derive(Clone, Debug, Serialize)]
pub struct Inspection {
    /// Architecture, hyper-parameters, tokenizer, chat template and every tensor.
    pub summary: Summary,
    /// Bytes of the header (what inspecting a file has to read).
    pub header_bytes: u64,
    /// The adapter the verdict is for, with its limits; `None` without one.
    pub adapter: Option<AdapterReport>,
    /// The kernel path a load would take: `f16` or `f32`.
    pub precision: &'static str,
    /// GPU memory a load would allocate; `None` when the model cannot be planned (an
    /// unsupported architecture, a missing tensor).
    pub memory: Option<MemoryPlan>,
    /// Whether hearth can run the model on this adapter with these options.
    pub fits: bool,
    /// Why not, as a sentence that says what to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The chat template a load would use; `None` when it does not compile.
    pub chat_template: Option<TemplateReport>,
    /// Whether hearth runs this architecture, how it is verified, and what hearth lacks for
    /// this file when it cannot run it.
    pub architecture: ArchitectureReport,
}

/// A file's architecture as hearth sees it.
#[derive(Clone, Debug, Serialize)]
pub struct ArchitectureReport {
    /// `general.architecture`, when the file has one.
    pub name: Option<String>,
    /// Whether hearth runs this architecture family.
    pub supported: bool,
    /// What the family is verified against (real weights, or random weights in its layout,
    /// against llama.cpp), when supported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified: Option<&'static str>,
    /// What hearth lacks to run this file (the architecture, a feature of it, a tensor it does
    /// not use, the tokenizer), when it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing: Option<String>,
}

/// A chat template as the inspector shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TemplateReport {
    /// `file`, or `built-in NAME` when the file has none.
    pub source: String,
    /// The Jinja source.
    pub text: String,
    /// What it makes of a system and a user message, ready for the reply.
    pub example: Option<String>,
    /// How the model writes tool calls: `hermes`, `llama3`, `mistral`, or `generic` when the
    /// template has no tools (hearth describes them in the system message).
    pub tool_format: &'static str,
}

impl TemplateReport {
    fn new(gguf: &crate::gguf::Gguf) -> Option<Self> {
        let t = ChatTemplate::from_gguf(gguf).ok()?;
        let example = [("system", "You are a helpful assistant."), ("user", "Hello!")]
            .map(|(role, content)| Message::new(role, content));
        Some(TemplateReport {
            source: match t.source {
                TemplateSource::File => "file".into(),
                TemplateSource::BuiltIn(name) => format!("built-in {name}"),
            },
            example: t.render(&example, true).ok(),
            tool_format: crate::chat::ToolFormat::of(&t).name(),
            text: t.text,
        })
    }
}

/// Reads the header from `source` (nothing past it) and judges the model for the default
/// adapter and `opts` (context length, f16, limits, prefill chunk), without opening a device.
/// A source that fails or a file that is not a GGUF is an error; a model this adapter cannot
/// run is an answer (`fits: false` and the reason).
pub async fn inspect<S: Source>(source: S, opts: &LoadOptions) -> Result<Inspection, Error> {
    let mut reader = Reader::new(source);
    let gguf = reader.read_header().await?;
    let summary = Summary::new(&gguf);
    let header_bytes = gguf.data_offset();
    let mut reasons = Vec::new();
    let adapter = match GpuContext::probe(&opts.limits).await {
        Ok(a) => Some(a),
        Err(e) => {
            reasons.push(Error::from(e).to_string());
            None
        }
    };
    let has_f16 = adapter.as_ref().is_some_and(|a| a.shader_f16);
    if opts.f16 == F16::Require && adapter.is_some() && !has_f16 {
        reasons.push("this GPU has no shader-f16: load with f16 'auto' or false".into());
    }
    let f16 = has_f16 && opts.f16 != F16::Off;
    // Every check a load makes from the header (architecture, tensors, tokenizer, template),
    // then the memory plan against this adapter's limits.
    let mut missing = None;
    let checked = check_header(&gguf, &LoadOptions { f16: if f16 { F16::Auto } else { F16::Off }, ..opts.clone() });
    if let Err(e) = &checked {
        if e.code() == crate::error_code::ErrorCode::UnsupportedModel {
            missing = Some(e.to_string());
        }
        reasons.push(e.to_string());
    }
    let memory = match ModelConfig::from_gguf(&gguf) {
        Err(_) => None,
        Ok(cfg) => {
            let act = if f16 { 2 } else { 4 };
            // The kernels' shapes and pages a load on this adapter will use.
            let target = adapter.as_ref().map_or(PlanTarget::default_gpu(act), |a| PlanTarget {
                act,
                cpu_shapes: a.is_cpu(),
                weight_page_bytes: a.weight_page_bytes(),
            });
            match MemoryPlan::new(&gguf, &cfg, opts.context_length, opts.prefill_chunk, &target) {
                Err(_) => None,
                Ok(plan) => {
                    if let Some(a) = &adapter
                        && checked.is_ok()
                    {
                        let device = DeviceBudget {
                            max_binding: a.max_storage_binding,
                            max_buffer: a.max_buffer_size,
                            memory: opts.limits.memory_budget,
                        };
                        if let Err(e) = plan.check(&device) {
                            reasons.push(e.to_string());
                        }
                    }
                    Some(plan)
                }
            }
        }
    };
    let name = gguf.architecture().ok().map(str::to_owned);
    let family = name.as_deref().and_then(family::family);
    let architecture =
        ArchitectureReport { supported: family.is_some(), verified: family.map(|f| f.verified), missing, name };
    Ok(Inspection {
        chat_template: TemplateReport::new(&gguf),
        summary,
        header_bytes,
        adapter,
        precision: if f16 { "f16" } else { "f32" },
        memory,
        fits: reasons.is_empty(),
        reason: (!reasons.is_empty()).then(|| reasons.join("; ")),
        architecture,
    })
}

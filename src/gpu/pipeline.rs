//! Compute pipelines, compiled once per key and cached.

use std::collections::HashMap;
use std::sync::Arc;

use super::preprocess::{PreprocessError, preprocess};

/// One entry point of a WGSL kernel family (a file of `shaders/`, embedded in the binary).
#[derive(Debug)]
pub struct ShaderDef {
    /// snake_case entry point name; the Rust function and the wgpu label share it (and the
    /// file, when the family has a single entry point). Unique among shaders.
    pub name: &'static str,
    /// The file it comes from, for error messages.
    pub file: &'static str,
    /// The WGSL source, before preprocessing.
    pub source: &'static str,
}

/// Everything that makes two pipelines differ: the shader, its `#ifdef` defines and its
/// `override` constants. Derived `Hash`/`Eq`: one key type for every kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PipelineKey {
    /// The shader's name (unique among [`ShaderDef`]s).
    pub shader: &'static str,
    /// Active defines, sorted.
    pub defines: Vec<&'static str>,
    /// `override` constants, sorted by name.
    pub overrides: Vec<(&'static str, u32)>,
}

/// A compiled pipeline with the layout of its bind group 0.
#[derive(Debug)]
pub struct Pipeline {
    /// The pipeline.
    pub pipeline: wgpu::ComputePipeline,
    /// Its bind group layout (derived from the shader).
    pub layout: wgpu::BindGroupLayout,
    /// Its key, as a label for errors and profiles.
    pub key: PipelineKey,
}

/// Pipelines by key, plus the table of shared `#include` files.
pub struct PipelineCache {
    includes: &'static [(&'static str, &'static str)],
    pipelines: HashMap<PipelineKey, Arc<Pipeline>>,
}

impl PipelineCache {
    /// An empty cache resolving `#include "name"` through `includes`.
    pub fn new(includes: &'static [(&'static str, &'static str)]) -> Self {
        PipelineCache { includes, pipelines: HashMap::new() }
    }

    /// The WGSL that `shader` becomes with `defines`.
    pub fn source(&self, shader: &ShaderDef, defines: &[&'static str]) -> Result<String, PreprocessError> {
        let includes = self.includes;
        let resolve = move |name: &str| includes.iter().find(|(n, _)| *n == name).map(|(_, s)| *s);
        preprocess(shader.file, shader.source, defines, &resolve)
    }

    /// The pipeline for (`shader`, `defines`, `overrides`), compiled on first use.
    pub fn get(
        &mut self,
        device: &wgpu::Device,
        shader: &ShaderDef,
        defines: &[&'static str],
        overrides: &[(&'static str, u32)],
    ) -> Result<Arc<Pipeline>, PreprocessError> {
        let mut defines = defines.to_vec();
        defines.sort_unstable();
        defines.dedup();
        let mut overrides = overrides.to_vec();
        overrides.sort_unstable();
        let key = PipelineKey { shader: shader.name, defines, overrides };
        if let Some(p) = self.pipelines.get(&key) {
            return Ok(p.clone());
        }
        let wgsl = self.source(shader, &key.defines)?;
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        });
        let constants: Vec<(&str, f64)> = key.overrides.iter().map(|&(k, v)| (k, f64::from(v))).collect();
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(shader.name),
            layout: None,
            module: &module,
            entry_point: Some(shader.name),
            compilation_options: wgpu::PipelineCompilationOptions { constants: &constants, ..Default::default() },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let p = Arc::new(Pipeline { pipeline, layout, key: key.clone() });
        self.pipelines.insert(key, p.clone());
        Ok(p)
    }

    /// The keys of every pipeline compiled so far: what a load actually builds.
    pub fn keys(&self) -> Vec<PipelineKey> {
        self.pipelines.keys().cloned().collect()
    }

    /// Number of compiled pipelines.
    pub fn len(&self) -> usize {
        self.pipelines.len()
    }

    /// Whether nothing was compiled yet.
    pub fn is_empty(&self) -> bool {
        self.pipelines.is_empty()
    }
}

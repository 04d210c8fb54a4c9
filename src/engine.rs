//! `Engine`: a loaded model that prefills prompts and decodes tokens, one command buffer per
//! token, sampling on the GPU and reading back only the token id. It keeps the tokens whose
//! keys and values are in the cache, so a prompt that extends the previous one (the next turn
//! of a chat) computes only its new tokens.

use crate::gguf::{Gguf, GgufError};
use crate::gpu::{Dispatch, GpuContext, GpuError, Readback, Recorder};
use crate::kernels::{KernelError, Kernels, SamplerParams, Step};
use crate::model::{
    self, ConfigError, Head, LoadError, ModelConfig, ModelWeights, PENALTY_WINDOW, State, TensorSource, Tokens,
};

/// Why the engine could not load or run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EngineError {
    /// The file's header.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The architecture or its hyper-parameters.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The weights.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// Setting up kernels.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// The GPU.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The context is full.
    #[error("the context of {n_ctx} tokens is full")]
    ContextFull {
        /// The context length.
        n_ctx: u32,
    },
    /// Nothing to compute.
    #[error("the prompt is empty")]
    EmptyPrompt,
}

/// Load-time choices.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Context length (capped by the model's training context).
    pub n_ctx: u32,
    /// Most tokens per prefill step.
    pub max_chunk: u32,
    /// Use f16 activations when the adapter has shader-f16.
    pub f16: bool,
    /// Sampling settings.
    pub sampler: SamplerParams,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { n_ctx: 2048, max_chunk: 128, f16: true, sampler: SamplerParams::default() }
    }
}

/// Counters of what the engine computed.
#[derive(Clone, Copy, Debug, Default)]
pub struct EngineStats {
    /// Prompt tokens run through prefill (not counting reused cached tokens).
    pub prefilled: u64,
    /// Tokens decoded one at a time.
    pub decoded: u64,
}

/// A model loaded on the GPU, ready to generate.
pub struct Engine {
    /// The GPU.
    pub ctx: GpuContext,
    /// The architecture's configuration.
    pub cfg: ModelConfig,
    /// The weights.
    pub weights: ModelWeights,
    kernels: Kernels,
    state: State,
    decode: Vec<Dispatch>,
    sample: Dispatch,
    readback: Readback,
    /// Tokens whose keys and values are in the cache, at positions 0...
    cached: Vec<u32>,
    /// The last sampled token, not yet in the cache.
    pending: Option<u32>,
    counter: u32,
    /// What has been computed.
    pub stats: EngineStats,
}

impl Engine {
    /// Loads the model described by `gguf`, reading tensor data from `source`.
    pub fn load(
        ctx: GpuContext,
        gguf: &Gguf,
        source: &mut dyn TensorSource,
        opts: &EngineOptions,
        progress: &mut dyn FnMut(u64, u64),
    ) -> Result<Engine, EngineError> {
        let cfg = ModelConfig::from_gguf(gguf)?;
        let mut kernels = Kernels::with_variant(&ctx, opts.f16, true);
        let weights = model::load_weights(&ctx, gguf, &cfg, kernels.f16, source, progress)?;
        let n_ctx = opts.n_ctx.clamp(1, cfg.n_ctx_train.max(1));
        let state = State::new(&ctx, &kernels, &cfg, n_ctx, opts.max_chunk.max(1));
        let decode = model::forward(&ctx, &mut kernels, &cfg, &weights, &state, 1, Tokens::Sampled, Head::Last)?;
        let sample = model::sampler(&ctx, &mut kernels, &cfg, &state, &opts.sampler)?;
        let readback = Readback::new(&ctx, 4);
        Ok(Engine {
            ctx,
            cfg,
            weights,
            kernels,
            state,
            decode,
            sample,
            readback,
            cached: Vec::new(),
            pending: None,
            counter: 0,
            stats: EngineStats::default(),
        })
    }

    /// Whether activations are f16.
    pub fn f16(&self) -> bool {
        self.kernels.f16
    }

    /// The context length.
    pub fn n_ctx(&self) -> u32 {
        self.state.n_ctx
    }

    /// Bytes of the KV caches of all layers.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.state.caches.iter().map(|(k, v, _)| k.size() + v.size()).sum()
    }

    /// Tokens currently in the KV cache.
    pub fn cached(&self) -> &[u32] {
        &self.cached
    }

    /// Changes the sampling settings (rebuilds one dispatch).
    pub fn set_sampler(&mut self, params: &SamplerParams) -> Result<(), EngineError> {
        self.sample = model::sampler(&self.ctx, &mut self.kernels, &self.cfg, &self.state, params)?;
        Ok(())
    }

    /// Forgets the cached conversation.
    pub fn reset(&mut self) {
        self.cached.clear();
        self.pending = None;
    }

    fn write_history(&self) {
        let all: Vec<u32> = self.cached.iter().copied().chain(self.pending).collect();
        let mut hist = [u32::MAX; PENALTY_WINDOW as usize];
        let recent = &all[all.len().saturating_sub(hist.len())..];
        hist[..recent.len()].copy_from_slice(recent);
        self.ctx.write(&self.state.hist, 0, bytemuck::cast_slice(&hist));
    }

    /// Runs `ids` (appended at position `self.cached.len()`) through the model in chunks.
    /// With `all_logits`, returns the logits of every token (T, V); otherwise samples the next
    /// token into the GPU's token slot and returns nothing.
    async fn run_chunks(&mut self, ids: &[u32], all_logits: bool) -> Result<Vec<f32>, EngineError> {
        let n_ctx = self.state.n_ctx;
        if self.cached.len() + ids.len() > n_ctx as usize {
            return Err(EngineError::ContextFull { n_ctx });
        }
        let mut logits = Vec::new();
        for chunk in ids.chunks(self.state.max_chunk as usize) {
            let t = chunk.len() as u32;
            let pos0 = self.cached.len() as u32;
            self.ctx.write(&self.state.prompt, 0, bytemuck::cast_slice(chunk));
            let all =
                all_logits.then(|| self.kernels.act_buffer(&self.ctx, u64::from(t * self.cfg.n_vocab), "all_logits"));
            let head = all.as_ref().map_or(Head::Last, Head::All);
            let last = !all_logits && chunk.as_ptr_range().end == ids.as_ptr_range().end;
            let dispatches = model::forward(
                &self.ctx,
                &mut self.kernels,
                &self.cfg,
                &self.weights,
                &self.state,
                t,
                Tokens::Prompt,
                head,
            )?;
            self.cached.extend_from_slice(chunk);
            self.stats.prefilled += u64::from(t);
            if last {
                self.write_history();
                let sample = [self.sample.clone()];
                let step = Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 };
                self.pending = Some(self.submit_and_read(step, &[&dispatches, &sample]).await?);
            } else {
                let step = Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 };
                model::submit(&self.ctx, &self.state, step, &[&dispatches]);
            }
            if let Some(all) = &all {
                let bytes =
                    self.ctx.read_back(all, 0, u64::from(t * self.cfg.n_vocab) * self.kernels.act_size()).await?;
                logits.extend(self.kernels.act_values(&bytes));
            }
        }
        Ok(logits)
    }

    async fn submit_and_read(&mut self, step: Step, dispatches: &[&[Dispatch]]) -> Result<u32, EngineError> {
        self.state.step.write(&self.ctx, step);
        let mut r = Recorder::new(&self.ctx);
        for d in dispatches {
            r.record(d);
        }
        self.readback.copy_from(r.encoder(), &self.state.token, 0);
        r.submit(&self.ctx);
        self.counter = self.counter.wrapping_add(1);
        let bytes = self.readback.read(&self.ctx).await?;
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// Teacher-forced logits: runs `ids` from position 0 and returns every position's logits,
    /// row-major (ids.len(), n_vocab). Clears the cache first.
    pub async fn eval_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>, EngineError> {
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        self.reset();
        self.run_chunks(ids, true).await
    }

    /// Prepares to continue after `ids` (the whole conversation so far) and returns the first
    /// sampled token. Tokens already in the cache as a prefix of `ids` are not recomputed.
    /// Returns the token and how many tokens were prefilled.
    pub async fn prefill(&mut self, ids: &[u32]) -> Result<(u32, usize), EngineError> {
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        // The token sampled last may already be the conversation's next token: count it as cached
        // only once it has been run, which `step` does.
        let mut common = self.cached.iter().zip(ids).take_while(|(a, b)| a == b).count();
        // At least one token must run to produce logits.
        common = common.min(ids.len() - 1);
        self.cached.truncate(common);
        self.pending = None;
        self.run_chunks(&ids[common..], false).await?;
        let token = self.pending.ok_or(EngineError::EmptyPrompt)?;
        Ok((token, ids.len() - common))
    }

    /// Runs the last sampled token through the model and samples the next one.
    pub async fn step(&mut self) -> Result<u32, EngineError> {
        let token = self.pending.ok_or(EngineError::EmptyPrompt)?;
        let pos0 = self.cached.len() as u32;
        if pos0 >= self.state.n_ctx {
            return Err(EngineError::ContextFull { n_ctx: self.state.n_ctx });
        }
        self.cached.push(token);
        self.write_history();
        self.stats.decoded += 1;
        let step = Step { pos0, n_tokens: 1, counter: self.counter, _pad: 0 };
        let decode = std::mem::take(&mut self.decode);
        let sample = [self.sample.clone()];
        let next = self.submit_and_read(step, &[&decode, &sample]).await;
        self.decode = decode;
        let next = next?;
        self.pending = Some(next);
        Ok(next)
    }
}

impl Engine {
    /// The time of one step over `n_tokens` tokens (1: the decode step with sampling; more: a
    /// prefill chunk of the prompt buffer's tokens) and each kernel's (shader and weight type),
    /// in milliseconds, slowest first. A kernel's time is that of its dispatches alone, in
    /// order, in one submit (medians of `reps` runs), reading the buffers the last real step
    /// left. Needs no timestamp queries; the parts need not add up to the whole exactly.
    /// Native only (it blocks on the device). Writes keys and values at the positions after the
    /// cached ones (which the next real step overwrites); call [`Engine::reset`] to start over.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn profile_step(&mut self, n_tokens: u32, reps: usize) -> Result<(f64, Vec<(String, f64)>), EngineError> {
        let t = n_tokens.clamp(1, self.state.max_chunk.min(self.state.n_ctx));
        let dispatches: Vec<Dispatch> = if t == 1 {
            self.decode.iter().chain([&self.sample]).cloned().collect()
        } else {
            let (ctx, cfg, w, s) = (&self.ctx, &self.cfg, &self.weights, &self.state);
            model::forward(ctx, &mut self.kernels, cfg, w, s, t, Tokens::Prompt, Head::Last)?
        };
        let pos0 = (self.cached.len() as u32).min(self.state.n_ctx - t);
        self.state.step.write(&self.ctx, Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 });
        let label = |d: &Dispatch| {
            let key = &d.pipeline.key;
            match key.defines.iter().find(|d| d.starts_with("W_")) {
                Some(w) => format!("{} {}", key.shader, &w[2..]),
                None => key.shader.to_string(),
            }
        };
        let time = |list: &[Dispatch]| {
            let mut runs: Vec<f64> = (0..reps.max(1))
                .map(|_| {
                    let t0 = crate::clock::now_ms();
                    let mut r = Recorder::new(&self.ctx);
                    r.record(list);
                    r.submit(&self.ctx);
                    let _ = self.ctx.device.poll(wgpu::PollType::wait_indefinitely());
                    crate::clock::now_ms() - t0
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[runs.len() / 2]
        };
        let labels: Vec<String> = dispatches.iter().map(label).collect();
        let mut kernels: Vec<String> = labels.clone();
        kernels.sort();
        kernels.dedup();
        let full = time(&dispatches);
        let mut kernels: Vec<(String, f64)> = kernels
            .into_iter()
            .map(|kernel| {
                let only: Vec<Dispatch> =
                    dispatches.iter().zip(&labels).filter(|(_, l)| **l == kernel).map(|(d, _)| d.clone()).collect();
                let ms = time(&only);
                (kernel, ms)
            })
            .collect();
        kernels.sort_by(|a, b| b.1.total_cmp(&a.1));
        Ok((full, kernels))
    }
}

/// Generation limits and stop conditions.
#[derive(Clone, Debug, Default)]
pub struct GenerateOptions {
    /// Most tokens to generate.
    pub max_tokens: usize,
    /// Stop when the text ends with one of these (the stop text is not returned).
    pub stop: Vec<String>,
}

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// An end-of-generation token (EOS, EOT, …).
    EndToken,
    /// A stop string.
    StopString,
    /// `max_tokens` reached.
    MaxTokens,
    /// The caller asked to stop.
    Cancelled,
    /// The context is full.
    ContextFull,
}

/// Timings of one generation, in milliseconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Timings {
    /// Tokens run through prefill (excluding reused cached ones).
    pub prefill_tokens: usize,
    /// Prefill time, including sampling the first token.
    pub prefill_ms: f64,
    /// Tokens decoded one by one.
    pub decode_tokens: usize,
    /// Decode time.
    pub decode_ms: f64,
}

/// The result of [`Engine::generate`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct Generation {
    /// Generated token ids (including a final end token, if any).
    pub generated_ids: Vec<u32>,
    /// Generated text.
    pub text: String,
    /// Why it stopped.
    pub stop_reason: StopReason,
    /// How long it took.
    pub timings: Timings,
}

impl Engine {
    /// Generates after `prompt_ids` (the whole conversation: a cached prefix is reused),
    /// calling `on_text` with each new piece of valid UTF-8; `on_text` returning false stops.
    pub async fn generate(
        &mut self,
        tokenizer: &crate::tokenizer::Tokenizer,
        prompt_ids: &[u32],
        opts: &GenerateOptions,
        on_text: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Generation, EngineError> {
        use crate::clock::now_ms;
        let mut timings = Timings::default();
        let t0 = now_ms();
        let (mut token, prefilled) = self.prefill(prompt_ids).await?;
        timings.prefill_tokens = prefilled;
        timings.prefill_ms = now_ms() - t0;
        let t1 = now_ms();
        let mut decoder = crate::tokenizer::StreamDecoder::new();
        let (mut ids, mut text) = (Vec::new(), String::new());
        let stop_reason = loop {
            ids.push(token);
            if tokenizer.end_of_generation.contains(&token) {
                break StopReason::EndToken;
            }
            let piece = decoder.push(tokenizer.token_bytes(token));
            text.push_str(&piece);
            if let Some(s) = opts.stop.iter().find(|s| !s.is_empty() && text.ends_with(s.as_str())) {
                text.truncate(text.len() - s.len());
                break StopReason::StopString;
            }
            if !piece.is_empty() && !on_text(&piece) {
                break StopReason::Cancelled;
            }
            if ids.len() >= opts.max_tokens {
                break StopReason::MaxTokens;
            }
            token = match self.step().await {
                Ok(t) => t,
                Err(EngineError::ContextFull { .. }) => break StopReason::ContextFull,
                Err(e) => return Err(e),
            };
            timings.decode_tokens += 1;
        };
        let rest = decoder.finish();
        if !rest.is_empty() && stop_reason != StopReason::StopString {
            on_text(&rest);
            text.push_str(&rest);
        }
        timings.decode_ms = now_ms() - t1;
        Ok(Generation { generated_ids: ids, text, stop_reason, timings })
    }
}

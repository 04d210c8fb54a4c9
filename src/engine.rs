//! `Engine`: a loaded model that prefills prompts and decodes tokens, one command buffer per
//! token, sampling on the GPU and reading back only the token id. It keeps the tokens whose
//! keys and values are in the cache, so a prompt that extends the previous one (the next turn
//! of a chat) computes only its new tokens.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::clock::now_ms;
use crate::gguf::{Gguf, GgufError};
use crate::gpu::{Dispatch, GpuContext, GpuError, Recorder};
use crate::kernels::{KernelError, Kernels, SamplerParams, Step, TokenLogprobs};
use crate::model::{
    self, ConfigError, DELTA_SNAPSHOTS, DeviceBudget, DoesNotFit, Head, LoadError, MemoryPlan, ModelConfig,
    ModelWeights, PENALTY_WINDOW, PlanError, PlanTarget, SnapshotMarks, State, Tokens,
};
use crate::source::{Reader, Source};

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
    /// The file lacks a tensor the architecture needs, or has one of an impossible shape.
    #[error("the file is not a usable model: {0}")]
    Plan(#[from] PlanError),
    /// The model, at the requested context, does not fit the device.
    #[error(transparent)]
    DoesNotFit(#[from] DoesNotFit),
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
    /// A token id outside the vocabulary.
    #[error("token id {id} is outside the vocabulary of {n_vocab}")]
    BadToken {
        /// The id.
        id: u32,
        /// The vocabulary size.
        n_vocab: u32,
    },
    /// The caller cancelled.
    #[error("cancelled")]
    Cancelled,
}

/// A flag that stops a load or a generation from another task (the browser's abort button, a
/// worker message): checked between prefill chunks and before every decoded token.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A flag that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks whatever watches this flag to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether [`Cancel::cancel`] was called since the last [`Cancel::reset`].
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Clears the flag for the next operation.
    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }
}

/// What a long load is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Reading tensor data and uploading it to the GPU (`done`/`total` in bytes).
    Load,
    /// Compiling the kernels' pipelines (`done`/`total` in pipelines).
    Compile,
}

/// Where a load's time went, in milliseconds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct LoadTimings {
    /// Streaming the weights onto the GPU, all told.
    pub weights_ms: f64,
    /// Of which: waiting for the source (download-bound time).
    pub source_wait_ms: f64,
    /// Compiling pipelines.
    pub compile_ms: f64,
}

/// Load-time choices.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Context length (may exceed the model's training context; see [`model::effective_context`]).
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

/// Counters of what the engine computed and how it drove the GPU: per decoded token they
/// tell per-token overhead from bandwidth on any GPU.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct EngineStats {
    /// Prompt tokens run through prefill (not counting reused cached tokens).
    pub prefilled: u64,
    /// Tokens decoded one at a time.
    pub decoded: u64,
    /// Decode steps submitted (including ones run ahead and then not needed).
    pub decode_submits: u64,
    /// Dispatches in those submits.
    pub decode_dispatches: u64,
    /// Prefill dispatch lists built (bind groups included); chunks of a length seen recently
    /// reuse theirs.
    pub prefill_builds: u64,
    /// Times the kernel parameters' space filled and was recycled.
    pub uniform_recycles: u64,
    /// Decoded tokens the CPU waited for with no later step queued behind them: each left
    /// the GPU idle until the CPU submitted again.
    pub decode_stalls: u64,
}

/// Where one step's time goes: see [`Engine::profile_step`].
#[derive(Clone, Debug, serde::Serialize)]
pub struct StepProfile {
    /// Tokens in the step.
    pub n_tokens: u32,
    /// Dispatches in the step.
    pub dispatches: usize,
    /// The whole step, in milliseconds.
    pub step_ms: f64,
    /// Per kernel (shader and weight type): its dispatches and their time alone.
    pub kernels: Vec<(String, usize, f64)>,
}

/// Prefill dispatch lists kept, by chunk length.
const PREFILL_LISTS: usize = 4;

/// A submitted step whose sampled id is on its way back.
#[derive(Clone, Debug)]
struct InFlight {
    slot: usize,
    index: Option<wgpu::SubmissionIndex>,
    /// Whether the step copied its token's log-probabilities too.
    logprobs: bool,
}

/// How the next token is chosen, and what comes back with it.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Sampling {
    /// The sampler's settings.
    pub params: SamplerParams,
    /// Draw only among the tokens of the mask written by [`Engine::write_mask`].
    pub masked: bool,
    /// Also read back the drawn token's log-probability and those of the `k` most likely
    /// tokens ([`Engine::take_logprobs`]).
    pub logprobs: Option<u32>,
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
    /// The sampling dispatches (the draw, and the log-probabilities' around it).
    sample: Vec<Dispatch>,
    sampling: Sampling,
    /// The log-probabilities read with the last token returned.
    logprobs: Option<TokenLogprobs>,
    /// A decode step submitted without its sampling (constrained decoding: the CPU computes
    /// the mask meanwhile), waiting for [`Engine::sample_next`].
    unsampled: Option<Step>,
    /// Tokens whose keys and values are in the cache, at positions 0...
    cached: Vec<u32>,
    /// Where the delta nets' state snapshots are (Qwen3.5): the positions a conversation can
    /// resume at without running from position 0.
    snapshots: SnapshotMarks,
    /// The last sampled token, not yet in the cache.
    pending: Option<u32>,
    /// A decode step already submitted that runs `pending` at position `cached.len()` (it was
    /// submitted before `pending` was read back: the sampled id feeds it on the GPU).
    ahead: Option<InFlight>,
    /// The read-back slot the next submitted step uses.
    next_slot: usize,
    /// Bytes of GPU memory the weights take (pages, biases, norms).
    weight_gpu_bytes: u64,
    /// The memory plan the load was checked against: what it holds on the GPU.
    plan: MemoryPlan,
    /// Prefill dispatch lists by chunk length, most recently used last (at most
    /// `PREFILL_LISTS`): a long prompt's full chunks and a chat's usual turn lengths build
    /// their bind groups once.
    prefill_lists: Vec<(u32, Vec<Dispatch>)>,
    counter: u32,
    /// What has been computed.
    pub stats: EngineStats,
    /// Where the load's time went.
    pub load_timings: LoadTimings,
    /// Submit each decode step before waiting for the previous one's token (true unless a
    /// comparison or a test turns it off): see [`Engine::step`].
    pub run_ahead: bool,
}

impl Engine {
    /// Loads the model described by `gguf`, streaming its tensor data from `reader`
    /// (positioned after the header). Every GPU buffer is checked against the device's limits
    /// before it is created, and allocation failures come back as errors.
    pub async fn load<S: Source>(
        ctx: GpuContext,
        gguf: &Gguf,
        reader: &mut Reader<S>,
        opts: &EngineOptions,
        progress: &mut dyn FnMut(Phase, u64, u64),
    ) -> Result<Engine, EngineError> {
        // Allocation and upload failures (out of memory, a limit not checked) are captured
        // and come back as this load's error.
        let errors = ctx.capture_errors();
        let engine = Self::build(ctx, gguf, reader, opts, progress).await;
        let captured = errors.finish().await;
        let engine = engine?;
        captured?;
        Ok(engine)
    }

    async fn build<S: Source>(
        ctx: GpuContext,
        gguf: &Gguf,
        reader: &mut Reader<S>,
        opts: &EngineOptions,
        progress: &mut dyn FnMut(Phase, u64, u64),
    ) -> Result<Engine, EngineError> {
        let cfg = ModelConfig::from_gguf(gguf)?;
        let mut kernels = Kernels::with_variant(&ctx, opts.f16, true);
        let (n_ctx, max_chunk) = model::effective_context(&cfg, opts.n_ctx, opts.max_chunk);
        // Everything the load will allocate, planned from the header and checked against the
        // device before the first buffer is created.
        let device = DeviceBudget {
            max_binding: ctx.limits.max_storage_buffer_binding_size,
            max_buffer: ctx.limits.max_buffer_size,
            memory: ctx.memory_budget,
        };
        let target = PlanTarget {
            act: kernels.act_size(),
            cpu_shapes: kernels.cpu_shapes,
            weight_page_bytes: ctx.weight_page_bytes,
        };
        let plan = MemoryPlan::new(gguf, &cfg, n_ctx, max_chunk, &target)?;
        plan.check(&device)?;
        let t0 = now_ms();
        let wait0 = reader.wait_ms;
        let allocated0 = ctx.allocated_bytes();
        let weights =
            model::load_weights(&ctx, gguf, &cfg, reader, &mut |done, total| progress(Phase::Load, done, total))
                .await?;
        let weight_gpu_bytes = ctx.allocated_bytes() - allocated0;
        let state = State::new(&ctx, &kernels, &cfg, &weights, n_ctx, max_chunk);
        let t1 = now_ms();
        // Compile every pipeline now (decode, sampling, and prefill, whose dispatches are
        // rebuilt per chunk), not at the first request.
        progress(Phase::Compile, 0, 3);
        let decode = model::forward(&ctx, &mut kernels, &cfg, &weights, &state, 1, Tokens::Sampled, Head::Last)?;
        progress(Phase::Compile, 1, 3);
        let sample = model::sampler(&ctx, &mut kernels, &cfg, &state, &opts.sampler, false, None)?;
        progress(Phase::Compile, 2, 3);
        let mut prefill_lists = Vec::new();
        if max_chunk > 1 {
            let list =
                model::forward(&ctx, &mut kernels, &cfg, &weights, &state, max_chunk, Tokens::Prompt, Head::Last)?;
            prefill_lists.push((max_chunk, list));
        }
        // What the load built stays; what is built later may be recycled.
        kernels.seal_uniforms();
        // Browsers compile pipelines in the GPU process, in order with the queue: waiting for
        // it makes the compile time count here rather than in the first request.
        ctx.idle().await?;
        progress(Phase::Compile, 3, 3);
        let load_timings =
            LoadTimings { weights_ms: t1 - t0, source_wait_ms: reader.wait_ms - wait0, compile_ms: now_ms() - t1 };
        Ok(Engine {
            snapshots: SnapshotMarks::new(if cfg.delta_net.is_some() { DELTA_SNAPSHOTS } else { 0 }),
            ctx,
            cfg,
            weights,
            kernels,
            state,
            decode,
            sample,
            sampling: Sampling { params: opts.sampler, ..Sampling::default() },
            logprobs: None,
            unsampled: None,
            cached: Vec::new(),
            pending: None,
            ahead: None,
            next_slot: 0,
            weight_gpu_bytes,
            plan,
            prefill_lists,
            counter: 0,
            stats: EngineStats::default(),
            load_timings,
            run_ahead: true,
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

    /// The memory plan the load was checked against, made from the header before the first
    /// buffer: [`GpuContext::allocated_bytes`] is its total while the engine runs.
    pub fn memory_plan(&self) -> &MemoryPlan {
        &self.plan
    }

    /// Bytes of GPU memory the weights take (pages, biases, norms).
    pub fn weight_gpu_bytes(&self) -> u64 {
        self.weight_gpu_bytes
    }

    /// Bytes of the attention layers' KV caches.
    pub fn kv_cache_bytes(&self) -> u64 {
        self.state.caches.iter().flatten().map(|(k, v, _)| k.size() + v.size()).sum()
    }

    /// Bytes of the recurrent layers' state: conv rings and delta-net state snapshots.
    pub fn recurrent_state_bytes(&self) -> u64 {
        let recurrent = self.state.conv_rings.iter().chain(&self.state.delta_states).flatten();
        recurrent.map(wgpu::Buffer::size).sum()
    }

    /// Dispatches in one decode step, sampling included.
    pub fn decode_dispatches(&self) -> usize {
        self.decode.len() + self.sample.len()
    }

    /// Dispatches per transformer layer in the decode step (counted from the recorded list,
    /// see [`model::layer_dispatches`]).
    pub fn layer_dispatches(&self) -> f64 {
        model::layer_dispatches(self.decode.len(), &self.weights, &self.cfg)
    }

    /// Tokens currently in the KV cache.
    pub fn cached(&self) -> &[u32] {
        &self.cached
    }

    /// Changes how tokens are drawn and what comes back with them (rebuilds the sampling
    /// dispatches when it differs).
    pub fn set_sampler(&mut self, sampling: &Sampling) -> Result<(), EngineError> {
        if *sampling != self.sampling {
            let Sampling { params, masked, logprobs } = *sampling;
            self.sample = self.build_after_load(|e| {
                model::sampler(&e.ctx, &mut e.kernels, &e.cfg, &e.state, &params, masked, logprobs)
            })?;
            self.sampling = *sampling;
            // A step run ahead sampled with the old settings.
            self.ahead = None;
        }
        Ok(())
    }

    /// Sets the tokens a masked sampling may draw: bit `id % 32` of word `id / 32` (a grammar's
    /// mask, `ceil(n_vocab / 32)` words). The next sampling submitted reads it.
    pub fn write_mask(&self, words: &[u32]) {
        let n = (self.cfg.n_vocab as usize).div_ceil(32);
        self.ctx.write(&self.state.mask, 0, bytemuck::cast_slice(&words[..words.len().min(n)]));
    }

    /// Restarts the sampler's random stream: the same seed then draws the same tokens again.
    pub fn restart_random(&mut self) {
        self.counter = 0;
    }

    /// Forgets the cached conversation.
    pub fn reset(&mut self) {
        self.cached.clear();
        self.snapshots.forget_after(0);
        self.pending = None;
        self.unsampled = None;
        self.ahead = None;
    }

    /// Writes the penalties' window from the cached tokens and `then` (the latest last); the
    /// sampler then appends each token it draws on the GPU.
    fn write_history(&self, then: Option<u32>) {
        let all: Vec<u32> = self.cached.iter().copied().chain(then).collect();
        let mut hist = [u32::MAX; PENALTY_WINDOW as usize];
        let recent = &all[all.len().saturating_sub(hist.len())..];
        let n = hist.len();
        hist[n - recent.len()..].copy_from_slice(recent);
        self.ctx.write(&self.state.hist, 0, bytemuck::cast_slice(&hist));
    }

    /// Runs `ids` (appended at position `self.cached.len()`) through the model in chunks.
    /// With `all_logits`, returns the logits of every token (T, V); otherwise samples the next
    /// token into the GPU's token slot and returns nothing.
    async fn run_chunks(&mut self, ids: &[u32], all_logits: bool, cancel: &Cancel) -> Result<Vec<f32>, EngineError> {
        let n_ctx = self.state.n_ctx;
        if self.cached.len() + ids.len() > n_ctx as usize {
            return Err(EngineError::ContextFull { n_ctx });
        }
        let n_vocab = self.cfg.n_vocab;
        if let Some(&id) = ids.iter().find(|&&id| id >= n_vocab) {
            return Err(EngineError::BadToken { id, n_vocab });
        }
        self.ctx.failure()?;
        let mut logits = Vec::new();
        for (i, chunk) in ids.chunks(self.state.max_chunk as usize).enumerate() {
            if i > 0 {
                // Let the GPU finish the previous chunk: a long prompt never queues more than
                // one chunk of work, and in the browser the worker's event loop (an abort
                // message) runs in between.
                self.ctx.idle().await?;
            }
            if cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let t = chunk.len() as u32;
            let pos0 = self.cached.len() as u32;
            self.ctx.write(&self.state.prompt, 0, bytemuck::cast_slice(chunk));
            let all_bytes = u64::from(t) * u64::from(n_vocab) * self.kernels.act_size();
            if all_logits {
                self.ctx.check_storage("the logits of a prompt chunk", all_bytes)?;
            }
            let all = all_logits
                .then(|| self.kernels.act_buffer(&self.ctx, all_bytes / self.kernels.act_size(), "all_logits"));
            let last = !all_logits && chunk.as_ptr_range().end == ids.as_ptr_range().end;
            let dispatches = match all.as_ref() {
                None => self.prefill_list(t)?,
                Some(all) => self.build_after_load(|e| {
                    model::forward(
                        &e.ctx,
                        &mut e.kernels,
                        &e.cfg,
                        &e.weights,
                        &e.state,
                        t,
                        Tokens::Prompt,
                        Head::All(all),
                    )
                })?,
            };
            self.cached.extend_from_slice(chunk);
            self.snapshots.ran(pos0, t);
            self.stats.prefilled += u64::from(t);
            if last {
                self.write_history(None);
                let sample = self.sample.clone();
                let step = Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 };
                self.pending = Some(self.submit_and_read(step, &[&dispatches, &sample]).await?);
            } else {
                let step = Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 };
                model::submit(&self.ctx, &self.state, step, &[&dispatches]);
            }
            if let Some(all) = all {
                let bytes =
                    self.ctx.read_back(&all, 0, u64::from(t * self.cfg.n_vocab) * self.kernels.act_size()).await;
                self.ctx.release(all);
                logits.extend(self.kernels.act_values(&bytes?));
            }
        }
        Ok(logits)
    }

    /// The dispatches of a prefill chunk of `t` tokens ending with the last token's logits:
    /// built once per length while it stays among the recent ones.
    fn prefill_list(&mut self, t: u32) -> Result<Vec<Dispatch>, EngineError> {
        if let Some(i) = self.prefill_lists.iter().position(|(n, _)| *n == t) {
            let entry = self.prefill_lists.remove(i);
            let list = entry.1.clone();
            self.prefill_lists.push(entry);
            return Ok(list);
        }
        let list = self.build_after_load(|e| {
            model::forward(&e.ctx, &mut e.kernels, &e.cfg, &e.weights, &e.state, t, Tokens::Prompt, Head::Last)
        })?;
        self.stats.prefill_builds += 1;
        if self.prefill_lists.len() == PREFILL_LISTS {
            self.prefill_lists.remove(0);
        }
        self.prefill_lists.push((t, list.clone()));
        Ok(list)
    }

    /// Builds dispatches after the load with `build`. When the kernel parameters' space is
    /// full, it is recycled back to what the load built (which stays): the cached prefill lists
    /// are dropped (a list built at load is rebuilt from its kept parameters), the sampler is
    /// rebuilt, and `build` runs once more. The memory held never grows past the plan.
    fn build_after_load<T>(
        &mut self,
        mut build: impl FnMut(&mut Self) -> Result<T, KernelError>,
    ) -> Result<T, EngineError> {
        match build(self) {
            Err(KernelError::UniformsFull(_)) => {
                self.kernels.recycle_uniforms();
                self.prefill_lists.clear();
                let Sampling { params, masked, logprobs } = self.sampling;
                self.sample =
                    model::sampler(&self.ctx, &mut self.kernels, &self.cfg, &self.state, &params, masked, logprobs)?;
                self.stats.uniform_recycles += 1;
                Ok(build(self)?)
            }
            r => Ok(r?),
        }
    }

    async fn submit_and_read(&mut self, step: Step, dispatches: &[&[Dispatch]]) -> Result<u32, EngineError> {
        let flight = self.submit_sampling(step, dispatches);
        self.read_token(flight).await
    }

    /// Submits one step that ends by sampling into the GPU's token slot and copying the id
    /// into the next read-back slot. The step uniform goes through the queue, so it is
    /// ordered with the submits before and after.
    fn submit_sampling(&mut self, step: Step, dispatches: &[&[Dispatch]]) -> InFlight {
        self.state.step.write(&self.ctx, step);
        let mut r = Recorder::new(&self.ctx);
        for d in dispatches {
            r.record(d);
        }
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % model::READBACKS;
        self.state.readbacks[slot].copy_from(r.encoder(), &self.state.token, 0);
        let logprobs = self.sampling.logprobs.is_some();
        if logprobs {
            self.state.logprob_readbacks[slot].copy_from(r.encoder(), &self.state.logprobs, 0);
        }
        let index = r.submit(&self.ctx);
        self.counter = self.counter.wrapping_add(1);
        InFlight { slot, index: Some(index), logprobs }
    }

    /// Waits for `flight`'s sampled id (and for no later submission); keeps its
    /// log-probabilities where the step computed them.
    async fn read_token(&mut self, flight: InFlight) -> Result<u32, EngineError> {
        let bytes = self.state.readbacks[flight.slot].read_after(&self.ctx, flight.index.clone()).await?;
        self.logprobs = None;
        if flight.logprobs {
            let words = self.state.logprob_readbacks[flight.slot].read_after(&self.ctx, flight.index).await?;
            self.logprobs = Some(TokenLogprobs::from_words(bytemuck::cast_slice(&words)));
        }
        Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    /// The log-probabilities of the token the last call returned (`prefill`, `step`,
    /// `sample_next`), when [`Sampling::logprobs`] asked for them.
    pub fn take_logprobs(&mut self) -> Option<TokenLogprobs> {
        self.logprobs.take()
    }

    /// Submits the decode step at position `pos0` (the GPU's token slot holds its input).
    fn submit_decode(&mut self, pos0: u32) -> InFlight {
        let step = Step { pos0, n_tokens: 1, counter: self.counter, _pad: 0 };
        let decode = std::mem::take(&mut self.decode);
        let sample = self.sample.clone();
        let flight = self.submit_sampling(step, &[&decode, &sample]);
        self.snapshots.ran(pos0, 1);
        self.decode = decode;
        self.stats.decode_submits += 1;
        self.stats.decode_dispatches += (self.decode.len() + self.sample.len()) as u64;
        flight
    }

    /// Teacher-forced logits: runs `ids` from position 0 and returns every position's logits,
    /// row-major (ids.len(), n_vocab). Clears the cache first.
    pub async fn eval_logits(&mut self, ids: &[u32]) -> Result<Vec<f32>, EngineError> {
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        self.reset();
        self.run_chunks(ids, true, &Cancel::new()).await
    }

    /// Prepares to continue after `ids` (the whole conversation so far) and returns the first
    /// sampled token. Tokens already in the cache as a prefix of `ids` are not recomputed.
    /// Returns the token and how many tokens were prefilled.
    pub async fn prefill(&mut self, ids: &[u32], cancel: &Cancel) -> Result<(u32, usize), EngineError> {
        if ids.is_empty() {
            return Err(EngineError::EmptyPrompt);
        }
        // The token sampled last may already be the conversation's next token: count it as cached
        // only once it has been run, which `step` does.
        let mut common = self.cached.iter().zip(ids).take_while(|(a, b)| a == b).count();
        // At least one token must run to produce logits.
        common = common.min(ids.len() - 1);
        // A cut back further than the layers' rings keep (sliding-window caches, conv states)
        // runs the whole conversation again.
        if let Some(reach) = self.state.cut_back_reach(&self.cfg)
            && self.cached.len() + 1 - common > reach as usize
        {
            common = 0;
        }
        // A delta net's state cannot be cut back: resume at the latest snapshot (kept at the
        // end of each of the last steps, the end of the previous turn among them), else at 0.
        common = self.snapshots.resume_at(common as u32) as usize;
        self.cached.truncate(common);
        self.snapshots.forget_after(common as u32);
        self.pending = None;
        self.unsampled = None;
        // A step run ahead for the previous request is not needed: its cache slot is
        // overwritten from here on.
        self.ahead = None;
        self.run_chunks(&ids[common..], false, cancel).await?;
        let token = self.pending.ok_or(EngineError::EmptyPrompt)?;
        Ok((token, ids.len() - common))
    }

    /// Runs the last sampled token through the model and samples the next one.
    ///
    /// Tokens in flight: before waiting for this step's id, the step after it is submitted
    /// too (its input is the id this step samples, already on the GPU), so the GPU never waits
    /// for the CPU between tokens. If the caller stops (an end token, a stop string, a
    /// limit), that one step was computed for nothing and its cache slot is overwritten by
    /// whatever runs next.
    pub async fn step(&mut self) -> Result<u32, EngineError> {
        let (token, pos0) = self.pending_position()?;
        let n_ctx = self.state.n_ctx;
        let this = match self.ahead.take() {
            Some(flight) => flight,
            None => {
                self.stage_token(token);
                self.submit_decode(pos0)
            }
        };
        self.cached.push(token);
        self.stats.decoded += 1;
        // A masked step's mask depends on the token this one samples: nothing runs ahead.
        if self.run_ahead && !self.sampling.masked && pos0 + 1 < n_ctx {
            self.ahead = Some(self.submit_decode(pos0 + 1));
        } else {
            self.stats.decode_stalls += 1;
        }
        let next = self.read_token(this).await;
        if next.is_err() {
            self.ahead = None;
        }
        let next = next?;
        self.pending = Some(next);
        Ok(next)
    }
}

impl Engine {
    /// The last sampled token and the position it runs at: an error where there is none, the
    /// GPU failed or the context is full.
    fn pending_position(&self) -> Result<(u32, u32), EngineError> {
        let token = self.pending.ok_or(EngineError::EmptyPrompt)?;
        self.ctx.failure()?;
        let pos0 = self.cached.len() as u32;
        let n_ctx = self.state.n_ctx;
        if pos0 >= n_ctx {
            return Err(EngineError::ContextFull { n_ctx });
        }
        Ok((token, pos0))
    }

    /// Puts `token` in the GPU's token slot and last in the penalties' history, for a step
    /// submitted now to run (they may hold what a dropped step sampled).
    fn stage_token(&self, token: u32) {
        self.ctx.write(&self.state.token, 0, &token.to_le_bytes());
        self.write_history(Some(token));
    }

    /// The first half of a constrained decoding step: submits the last sampled token through
    /// the model without sampling, so that the GPU computes the logits while the CPU computes
    /// the grammar's next mask. [`Engine::sample_next`] is the second half.
    pub fn run_pending(&mut self) -> Result<(), EngineError> {
        let (token, pos0) = self.pending_position()?;
        self.ahead = None;
        self.stage_token(token);
        let step = Step { pos0, n_tokens: 1, counter: self.counter, _pad: 0 };
        model::submit(&self.ctx, &self.state, step, &[&self.decode]);
        self.snapshots.ran(pos0, 1);
        self.cached.push(token);
        self.pending = None;
        self.unsampled = Some(step);
        self.stats.decoded += 1;
        // Two submits, and the GPU idles while the CPU reads the id and masks the next draw.
        self.stats.decode_submits += 2;
        self.stats.decode_dispatches += (self.decode.len() + self.sample.len()) as u64;
        self.stats.decode_stalls += 1;
        Ok(())
    }

    /// The second half of a constrained decoding step: samples the next token from the logits
    /// [`Engine::run_pending`] computes, under the mask written since.
    pub async fn sample_next(&mut self) -> Result<u32, EngineError> {
        let step = self.unsampled.take().ok_or(EngineError::EmptyPrompt)?;
        let sample = self.sample.clone();
        let flight = self.submit_sampling(step, &[&sample]);
        let next = self.read_token(flight).await?;
        self.pending = Some(next);
        Ok(next)
    }

    /// The time of one step over `n_tokens` tokens (1: the decode step with sampling; more: a
    /// prefill chunk of the prompt buffer's tokens) and each kernel's (shader and weight type),
    /// in milliseconds, slowest first. A kernel's time is that of its dispatches alone, in
    /// order, in one submit (medians of `reps` runs), reading the buffers the last real step
    /// left. Needs no timestamp queries; the parts need not add up to the whole exactly.
    /// Writes keys and values at the positions after the cached ones (which the next real step
    /// overwrites); call [`Engine::reset`] to start over.
    pub async fn profile_step(&mut self, n_tokens: u32, reps: usize) -> Result<StepProfile, EngineError> {
        self.ahead = None;
        let t = n_tokens.clamp(1, self.state.max_chunk.min(self.state.n_ctx));
        let dispatches: Vec<Dispatch> = if t == 1 {
            self.decode.iter().chain(&self.sample).cloned().collect()
        } else {
            self.build_after_load(|e| {
                model::forward(&e.ctx, &mut e.kernels, &e.cfg, &e.weights, &e.state, t, Tokens::Prompt, Head::Last)
            })?
        };
        let pos0 = (self.cached.len() as u32).min(self.state.n_ctx - t);
        self.snapshots.overwritten(pos0 + t);
        self.state.step.write(&self.ctx, Step { pos0, n_tokens: t, counter: self.counter, _pad: 0 });
        let label = |d: &Dispatch| {
            let key = &d.pipeline.key;
            match key.defines.iter().find(|d| d.starts_with("W_")) {
                Some(w) => format!("{} {}", key.shader, &w[2..]),
                None => key.shader.to_string(),
            }
        };
        let labels: Vec<String> = dispatches.iter().map(label).collect();
        let mut names: Vec<String> = labels.clone();
        names.sort();
        names.dedup();
        let step_ms = self.time_dispatches(&dispatches, reps).await?;
        let mut kernels = Vec::with_capacity(names.len());
        for kernel in names {
            let only: Vec<Dispatch> =
                dispatches.iter().zip(&labels).filter(|(_, l)| **l == kernel).map(|(d, _)| d.clone()).collect();
            let ms = self.time_dispatches(&only, reps).await?;
            kernels.push((kernel, only.len(), ms));
        }
        kernels.sort_by(|a, b| b.2.total_cmp(&a.2));
        Ok(StepProfile { n_tokens: t, dispatches: dispatches.len(), step_ms, kernels })
    }

    /// The median wall time of `reps` submits of `list`, each waited for.
    async fn time_dispatches(&self, list: &[Dispatch], reps: usize) -> Result<f64, EngineError> {
        let mut runs = Vec::with_capacity(reps.max(1));
        for _ in 0..reps.max(1) {
            let t0 = now_ms();
            let mut r = Recorder::new(&self.ctx);
            r.record(list);
            r.submit(&self.ctx);
            self.ctx.idle().await?;
            runs.push(now_ms() - t0);
        }
        runs.sort_by(f64::total_cmp);
        Ok(runs[runs.len() / 2])
    }
}

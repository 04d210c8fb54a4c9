//! The transformer forward pass, for every supported architecture: a straight list of kernel
//! calls, recorded once per step into one command encoder.
//!
//! Shapes: T tokens in the step, D model width, H query heads, KV key/value heads, hd head
//! dim, F FFN width, V vocabulary. Activations are `act` (f32, or f16 on the f16 path); the
//! residual stream `x` and a sub-layer's output `o` are f32 on both paths.

use crate::gpu::{Dispatch, GpuContext, GpuWeight, Recorder};
use crate::kernels::{
    AttnShape, ConvBuffers, DeltaNetBuffers, DeltaNetWalk, GluKind, History, KernelError, Kernels, MatvecX,
    PerLayerShape, QkNorm, QkvBuffers, SamplerParams, Step, Store, UpRows,
};

use super::family::{BlockShape, Positions};
use super::state::{PENALTY_WINDOW, State, cache_len, conv_shape, delta_shape};
use super::weights::{LayerWeights, NormWeights, PerLayerWeights};
use super::{LayerKind, ModelConfig, ModelWeights};

/// Where a step's token ids come from.
#[derive(Clone, Copy)]
pub enum Tokens {
    /// The sampled token (decode).
    Sampled,
    /// The prompt buffer (prefill).
    Prompt,
}

/// What a step computes after the last layer.
pub enum Head<'a> {
    /// Logits of the step's last token into `State::logits`.
    Last,
    /// Logits of every token into this (T, V) buffer (teacher-forced evaluation).
    All(&'a wgpu::Buffer),
}

pub(super) fn attn_shape(cfg: &ModelConfig, l: u32, n_ctx: u32, max_chunk: u32) -> AttnShape {
    let dims = cfg.attn_dims(l);
    AttnShape {
        n_head: cfg.n_head,
        n_kv: dims.n_kv_head,
        head_dim: dims.head_dim,
        cache_len: cache_len(cfg, cfg.kv_layer(l), n_ctx, max_chunk),
        window: if cfg.is_local_layer(l) { cfg.sliding_window } else { 0 },
        scale: cfg.attn_scale,
        alibi: if cfg.family.positions == Positions::Alibi { cfg.family.alibi_max_bias } else { 0.0 },
    }
}

/// Builds the dispatches of one forward step over `n_tokens` tokens (positions from the step
/// uniform), ending with `head`.
pub fn forward(
    ctx: &GpuContext,
    k: &mut Kernels,
    cfg: &ModelConfig,
    w: &ModelWeights,
    s: &State,
    n_tokens: u32,
    tokens: Tokens,
    head: Head<'_>,
) -> Result<Vec<Dispatch>, KernelError> {
    let mut f = StepBuilder { ctx, cfg, s, t: n_tokens, decode: n_tokens == 1, out: Vec::new() };
    // x (T, D) f32 = token_embd[tokens] · embed_scale (+ position_embd[positions]), then
    // LayerNorm'd (bloom)
    f.embed(k, w, tokens)?;
    for (l, lw) in w.layers.iter().enumerate() {
        match cfg.family.block {
            // x += mix(norm(x)) (attention, or LFM2's conv, or Qwen3.5's delta net);
            // x += ffn(norm(x))
            BlockShape::Sequential => {
                match cfg.layer_kind(l as u32) {
                    LayerKind::ShortConv => {
                        let [b, c, xx, _] = s.conv.as_ref().ok_or_else(|| no_state("conv", l))?;
                        // b, c, xx (T, D) = norm(x) W_in^T
                        f.project_in(k, &lw.qkv, &lw.attn_norm, &[b, c, xx])?;
                        // x += (c · conv(b · xx)) W_out^T
                        f.convolve(k, l, lw)?;
                    }
                    LayerKind::DeltaNet => {
                        let dn = s.delta.as_ref().ok_or_else(|| no_state("delta-net", l))?;
                        // qkv (T, 2·Hk·S + Hv·S), z (T, Hv·S), beta, alpha (T, Hv) = norm(x) W^T
                        f.project_in(k, &lw.qkv, &lw.attn_norm, &[&dn.mixed, &dn.z, &dn.beta, &dn.alpha])?;
                        // x += (rms_norm(delta_rule(silu(conv(qkv)))) · silu(z)) W_out^T
                        f.delta_rule(k, l, lw)?;
                    }
                    LayerKind::Attention => {
                        // q (T, H·hd) (and its gate), k, v (T, KV·hd) = norm(x) W_qkv^T (+ b); q
                        // alone in a layer reading another's KV cache (Gemma 4)
                        match &s.q_gate {
                            Some(g) => f.project_in(k, &lw.qkv, &lw.attn_norm, &[&s.q, g, &s.k, &s.v])?,
                            None if !cfg.has_own_kv(l as u32) => f.project_in(k, &lw.qkv, &lw.attn_norm, &[&s.q])?,
                            None => f.project_in(k, &lw.qkv, &lw.attn_norm, &[&s.q, &s.k, &s.v])?,
                        }
                        // x += softmax(rope(q) rope(k)^T · scale + mask) v (· sigmoid(gate)) W_o^T (+ b)
                        f.attend(k, l, lw)?;
                    }
                }
                // gate, up (T, F) = norm(x) W^T (+ b)  (a plain FFN: up alone, into gate)
                let ffn_norm = lw.ffn_norm.as_ref().unwrap_or(&lw.attn_norm);
                f.project_in(k, &lw.ffn_in, ffn_norm, &[&s.gate, &s.up])?;
                // x += (act(gate) · up) W_down^T (+ b)  (· the layer's scalar, Gemma 4's without
                // per-layer inputs)
                f.ffn_out(k, l, lw, lw.out_scale.as_ref().filter(|_| lw.per_layer.is_none()))?;
                // Gemma 4: x = (x + rms_norm((gelu(x W_gate^T) · inputs[l]) W_proj^T) · norm) · scalar
                if let Some(pl) = &lw.per_layer {
                    f.per_layer_input(k, l, pl, lw.out_scale.as_ref())?;
                }
            }
            // x += attn(norm2(x)) + ffn(norm(x)): the FFN's input is projected before attention
            // adds to x (Falcon; attention has its own norm on Falcon-40B)
            BlockShape::Parallel => {
                f.project_in(k, &lw.ffn_in, &lw.attn_norm, &[&s.gate, &s.up])?;
                f.project_in(k, &lw.qkv, lw.attn_norm_2.as_ref().unwrap_or(&lw.attn_norm), &[&s.q, &s.k, &s.v])?;
                f.attend(k, l, lw)?;
                f.ffn_out(k, l, lw, None)?;
            }
        }
    }
    // logits = norm(x) · W_out^T (+ b)
    f.head(k, w, head)?;
    Ok(f.out)
}

fn no_state(what: &str, l: usize) -> KernelError {
    KernelError::Shape { kernel: "forward", why: format!("layer {l} has no {what} state") }
}

/// One forward step being built: its shapes and the dispatches so far.
struct StepBuilder<'a> {
    ctx: &'a GpuContext,
    cfg: &'a ModelConfig,
    s: &'a State,
    /// Tokens in the step.
    t: u32,
    /// One token: matvecs with the norms and GLUs folded in; else matmuls over the chunk.
    decode: bool,
    out: Vec<Dispatch>,
}

impl StepBuilder<'_> {
    /// x (T, D) f32 = token_embd[tokens] · embed_scale (+ position_embd[pos0 + t]), then the
    /// embedding norm where the family has one.
    fn embed(&mut self, k: &mut Kernels, w: &ModelWeights, tokens: Tokens) -> Result<(), KernelError> {
        let (s, t) = (self.s, self.t);
        let ids = if matches!(tokens, Tokens::Sampled) { &s.token } else { &s.prompt };
        self.out.extend(k.embed(self.ctx, &w.token_embd, ids, 0, &s.x, t, self.cfg.embed_scale())?);
        if let Some(table) = &w.position_embd {
            self.out.extend(k.embed_positions(self.ctx, table, &s.step, &s.x, t)?);
        }
        if let Some(norm) = &w.embd_norm {
            self.out.push(k.norm(self.ctx, norm.norm(self.cfg.norm_eps), &s.x, true, None, t, self.cfg.d_model)?);
        }
        if let (Some(pe), Some(acts)) = (&w.per_layer_embd, &s.per_layer) {
            let cfg = self.cfg;
            let p = cfg.per_layer_dim;
            // rows (T, L·P) f32 = per_layer_token_embd[tokens] · sqrt(P)
            self.out.extend(k.embed(self.ctx, &pe.table, ids, 0, &acts.rows, t, (p as f32).sqrt())?);
            // inputs (T, L·P) = x0 W_proj^T, then (rms_norm(· / sqrt(D)) · norm + rows) / sqrt(2)
            self.project_x(k, &pe.proj, &acts.inputs)?;
            let shape = PerLayerShape { n_layer: cfg.n_layer, dim: p, d_model: cfg.d_model, eps: cfg.norm_eps };
            self.out.push(k.per_layer_inputs(self.ctx, &shape, &acts.rows, &pe.norm, &acts.inputs, t)?);
        }
        Ok(())
    }

    /// y = input W^T: a matvec when decoding, a matmul over the chunk otherwise.
    fn project(
        &mut self,
        k: &mut Kernels,
        w: &GpuWeight,
        input: &wgpu::Buffer,
        y: &wgpu::Buffer,
        store: Store,
    ) -> Result<(), KernelError> {
        let v = if self.decode {
            k.matvec(self.ctx, w, input, y, store)?
        } else {
            k.matmul(self.ctx, w, input, y, self.t, store)?
        };
        self.out.extend(v);
        Ok(())
    }

    /// y (T, rows) act = x W^T of the residual stream x itself (no norm): the matvec reads x
    /// as f32 when decoding; a prefill casts x into h for the matmul.
    fn project_x(&mut self, k: &mut Kernels, w: &GpuWeight, y: &wgpu::Buffer) -> Result<(), KernelError> {
        let s = self.s;
        if self.decode {
            self.out.extend(k.matvec_into(self.ctx, w, MatvecX::F32 { x: &s.x, row: 0 }, &[y], Store::Act)?);
            return Ok(());
        }
        self.out.push(k.to_act(self.ctx, &s.x, &s.h, self.t * self.cfg.d_model)?);
        self.project(k, w, &s.h, y, Store::Act)
    }

    /// Gemma 4's per-layer input of layer `l` after its FFN: g (T, P) = gelu(x W_gate^T) ·
    /// inputs[:, l], then x = (x + rms_norm(g W_proj^T) · post_norm) · scale.
    fn per_layer_input(
        &mut self,
        k: &mut Kernels,
        l: usize,
        pl: &PerLayerWeights,
        scale: Option<&wgpu::Buffer>,
    ) -> Result<(), KernelError> {
        let (s, t, cfg) = (self.s, self.t, self.cfg);
        let acts = s.per_layer.as_ref().ok_or_else(|| no_state("per-layer", l))?;
        let p = cfg.per_layer_dim;
        self.project_x(k, &pl.gate, &acts.gate)?;
        let rows = UpRows { width: p, stride: p * cfg.n_layer, offset: l as u32 * p };
        self.out.push(k.glu_strided(self.ctx, GluKind::Gelu, &acts.gate, &acts.inputs, rows, t * p)?);
        self.add_to_residual(k, &pl.proj, &acts.gate, Some(&pl.post_norm), scale)
    }

    /// A sub-layer's input projections of h = norm(x) (one weight per stack of tensors, each
    /// tensor into its buffer of `outs`, biases added): the norm folded into the matvecs when
    /// decoding, a norm into h then matmuls when prefilling.
    fn project_in(
        &mut self,
        k: &mut Kernels,
        stacks: &[GpuWeight],
        norm: &NormWeights,
        outs: &[&wgpu::Buffer],
    ) -> Result<(), KernelError> {
        let (s, t, eps) = (self.s, self.t, self.cfg.norm_eps);
        if !self.decode {
            self.out.push(k.norm(self.ctx, norm.norm(eps), &s.x, true, Some(&s.h), t, self.cfg.d_model)?);
        }
        let mut outs = outs.iter().copied();
        for w in stacks {
            let ys: Vec<&wgpu::Buffer> = outs.by_ref().take(w.parts.len()).collect();
            self.out.extend(if self.decode {
                k.matvec_into(self.ctx, w, MatvecX::Normed { x: &s.x, row: 0, norm: norm.norm(eps) }, &ys, Store::Act)?
            } else {
                k.matmul_into(self.ctx, w, &s.h, &ys, t, Store::Act)?
            });
        }
        Ok(())
    }

    /// x += input W^T (+ b), or with a post-norm (gemma3) x += rms_norm(input W^T) · post_norm
    /// (then x · scale, Gemma 4's scalar of the layer, where given).
    fn add_to_residual(
        &mut self,
        k: &mut Kernels,
        w: &GpuWeight,
        input: &wgpu::Buffer,
        post_norm: Option<&wgpu::Buffer>,
        scale: Option<&wgpu::Buffer>,
    ) -> Result<(), KernelError> {
        let s = self.s;
        let Some(pn) = post_norm else {
            if scale.is_some() {
                return Err(KernelError::Shape { kernel: "forward", why: "a layer scalar without a post-norm".into() });
            }
            return self.project(k, w, input, &s.x, Store::AddF32);
        };
        self.project(k, w, input, &s.o, Store::F32)?;
        self.post_norm_add(k, pn, scale)
    }

    /// x += rms_norm(o) · post_norm (then x · scale, where given).
    fn post_norm_add(
        &mut self,
        k: &mut Kernels,
        post_norm: &wgpu::Buffer,
        scale: Option<&wgpu::Buffer>,
    ) -> Result<(), KernelError> {
        let (s, t, cfg) = (self.s, self.t, self.cfg);
        self.out.push(k.rms_norm_add(self.ctx, &s.o, post_norm, &s.x, scale, t, cfg.d_model, cfg.norm_eps)?);
        Ok(())
    }

    /// Attention of layer `l` over q, k, v (T, ·) as projected: the per-head q/k norms (qwen3,
    /// gemma3), RoPE and the cache append, attention, then x += att Wo^T (gemma3: through its
    /// post-norm).
    fn attend(&mut self, k: &mut Kernels, l: usize, lw: &LayerWeights) -> Result<(), KernelError> {
        let (s, t, cfg) = (self.s, self.t, self.cfg);
        let shape = attn_shape(cfg, l as u32, s.n_ctx, s.max_chunk);
        let local = shape.window > 0;
        let kv_layer = cfg.kv_layer(l as u32) as usize;
        let (k_cache, v_cache, _) =
            s.caches.get(kv_layer).and_then(Option::as_ref).ok_or_else(|| no_state("KV cache", l))?;
        let rope = if local { s.rope.1.as_ref().unwrap_or(&s.rope.0) } else { &s.rope.0 };
        // per-head q, k (Gemma 4: and v) norms; rotate q, k by position; append k, v to the
        // cache (a layer reading another's cache: q alone)
        let qk_norm = lw.qk_norm.as_ref().map(|[q, k]| QkNorm { q, k, eps: cfg.norm_eps });
        let qkv = QkvBuffers {
            q: &s.q,
            k: &s.k,
            v: &s.v,
            k_cache,
            v_cache,
            qk_norm,
            v_norm_eps: cfg.family.v_norm.then_some(cfg.norm_eps),
            q_only: kv_layer != l,
        };
        self.out.push(k.rope_kv(self.ctx, &qkv, rope, &s.step, cfg.family.rope_layout, &shape, t)?);
        // att (T, H·hd) = softmax(q k^T · scale + mask (+ ALiBi)) v
        if self.decode {
            let scratch = if local { s.scratch.1.as_ref().unwrap_or(&s.scratch.0) } else { &s.scratch.0 };
            self.out.extend(k.attn_decode(self.ctx, &shape, &s.q, k_cache, v_cache, &s.att, &s.step, scratch)?);
        } else {
            self.out.push(k.attn_prefill(self.ctx, &shape, &s.q, k_cache, v_cache, &s.att, &s.step, t)?);
        }
        match &s.q_gate {
            // Qwen3.5: x += (att · sigmoid(gate)) Wo^T, the gate folded into the projection's input
            // when decoding.
            Some(gate) if self.decode => {
                let gated =
                    k.matvec_glu(self.ctx, &lw.wo, GluKind::Sigmoid, gate, Some(&s.att), &s.x, Store::AddF32)?;
                self.out.extend(gated);
                Ok(())
            }
            Some(gate) => {
                self.out.push(k.glu(
                    self.ctx,
                    GluKind::Sigmoid,
                    gate,
                    Some(&s.att),
                    None,
                    t * cfg.n_head * shape.head_dim,
                )?);
                self.add_to_residual(k, &lw.wo, gate, None, None)
            }
            None => self.add_to_residual(k, &lw.wo, &s.att, lw.post_attn_norm.as_ref(), None),
        }
    }

    /// A conv layer after its input projection (b, c, xx in `State::conv`): the gated short
    /// convolution over the step's tokens (its past inputs in the layer's ring), then
    /// x += y W_out^T.
    fn convolve(&mut self, k: &mut Kernels, l: usize, lw: &LayerWeights) -> Result<(), KernelError> {
        let s = self.s;
        let [b, c, xx, y] = s.conv.as_ref().ok_or_else(|| no_state("conv", l))?;
        let ring = s.conv_rings[l].as_ref().ok_or_else(|| no_state("conv", l))?;
        let kernel = lw.conv.as_ref().ok_or_else(|| no_state("conv kernel", l))?;
        let bufs = ConvBuffers { gates: Some([b, c]), x: xx, kernel, ring, y };
        self.out.push(k.short_conv(self.ctx, &conv_shape(self.cfg, s.max_chunk), &bufs, &s.step)?);
        self.add_to_residual(k, &lw.wo, y, None, None)
    }

    /// A delta-net layer after its input projections (in `State::delta`): the causal
    /// convolution through SiLU over the step's tokens (its past inputs in the layer's ring),
    /// the gated delta rule from the state of the step's first position with the gated output
    /// norm, then x += y W_out^T.
    fn delta_rule(&mut self, k: &mut Kernels, l: usize, lw: &LayerWeights) -> Result<(), KernelError> {
        let s = self.s;
        let dn = s.delta.as_ref().ok_or_else(|| no_state("delta-net", l))?;
        let ring = s.conv_rings[l].as_ref().ok_or_else(|| no_state("conv", l))?;
        let state = s.delta_states[l].as_ref().ok_or_else(|| no_state("delta-net", l))?;
        let kernel = lw.conv.as_ref().ok_or_else(|| no_state("conv kernel", l))?;
        let dw = lw.delta.as_ref().ok_or_else(|| no_state("delta-net weights", l))?;
        let shape = delta_shape(self.cfg).ok_or_else(|| no_state("delta-net", l))?;
        // qkv (T, channels) = silu(conv(mixed))
        let conv = ConvBuffers { gates: None, x: &dn.mixed, kernel, ring, y: &dn.conv };
        self.out.push(k.short_conv(self.ctx, &conv_shape(self.cfg, s.max_chunk), &conv, &s.step)?);
        // y (T, Hv·S) = rms_norm(delta_rule(q, k, v, alpha, beta)) · norm · silu(z)
        let bufs = DeltaNetBuffers {
            qkv: &dn.conv,
            z: &dn.z,
            beta: &dn.beta,
            alpha: &dn.alpha,
            dt_bias: &dw.dt_bias,
            a: &dw.a,
            norm: &dw.norm,
            state,
            y: &dn.y,
        };
        let walk = if self.decode { DeltaNetWalk::TokenByToken } else { DeltaNetWalk::Chunked };
        self.out.push(k.delta_net(self.ctx, &shape, &bufs, &s.step, walk)?);
        self.add_to_residual(k, &lw.wo, &dn.y, None, None)
    }

    /// The FFN after its input projections (gate, up in their buffers; a plain FFN's up in
    /// `gate`): x += act(gate) (· up) Wd^T (gemma3: through its post-norm). When decoding, the
    /// activation is made as the down projection loads its input.
    fn ffn_out(
        &mut self,
        k: &mut Kernels,
        l: usize,
        lw: &LayerWeights,
        scale: Option<&wgpu::Buffer>,
    ) -> Result<(), KernelError> {
        let (s, t, cfg) = (self.s, self.t, self.cfg);
        let up = cfg.family.gated_ffn.then_some(&s.up);
        let act = cfg.family.act;
        match (self.decode, lw.post_ffn_norm.as_ref()) {
            (true, None) => self.out.extend(k.matvec_glu(self.ctx, &lw.down, act, &s.gate, up, &s.x, Store::AddF32)?),
            (true, Some(pn)) => {
                self.out.extend(k.matvec_glu(self.ctx, &lw.down, act, &s.gate, up, &s.o, Store::F32)?);
                self.post_norm_add(k, pn, scale)?;
            }
            (false, post_norm) => {
                self.out.push(k.glu(self.ctx, act, &s.gate, up, None, t * cfg.ff_width(l as u32))?);
                self.add_to_residual(k, &lw.down, &s.gate, post_norm, scale)?;
            }
        }
        Ok(())
    }

    /// logits = norm(x) · W_out^T (+ b): of the last token (the norm folded into the head's
    /// matvec), or of every token.
    fn head(&mut self, k: &mut Kernels, w: &ModelWeights, head: Head<'_>) -> Result<(), KernelError> {
        let (s, t, cfg) = (self.s, self.t, self.cfg);
        let norm = w.output_norm.norm(cfg.norm_eps);
        let (logits, n) = match head {
            Head::Last => {
                let x = MatvecX::Normed { x: &s.x, row: t - 1, norm };
                self.out.extend(k.matvec_into(self.ctx, w.lm_head(), x, &[&s.logits], Store::Act)?);
                (&s.logits, cfg.n_vocab)
            }
            Head::All(all) => {
                self.out.push(k.norm(self.ctx, norm, &s.x, true, Some(&s.h), t, cfg.d_model)?);
                self.out.extend(k.matmul(self.ctx, w.lm_head(), &s.h, all, t, Store::Act)?);
                (all, t * cfg.n_vocab)
            }
        };
        // logits = cap · tanh(logits / cap) (Gemma 4)
        if cfg.final_softcap > 0.0 {
            self.out.push(k.softcap(self.ctx, logits, n, cfg.final_softcap)?);
        }
        Ok(())
    }
}

/// Dispatches per transformer layer in a forward list of `n_dispatches` for one token: those
/// besides the embeddings (one per page of their tables, and the embedding norm; Gemma 4's
/// per-layer inputs) and the LM head (one per page; the final norm is folded into it; the
/// soft-capping), over the number of layers.
pub fn layer_dispatches(n_dispatches: usize, w: &ModelWeights, cfg: &ModelConfig) -> f64 {
    let positions = w.position_embd.as_ref().map_or(0, |p| p.pages.len());
    // Gemma 4's per-layer inputs: the table's gather, the projection, the norm.
    let per_layer = w.per_layer_embd.as_ref().map_or(0, |pe| pe.table.pages.len() + pe.proj.pages.len() + 1);
    let softcap = usize::from(cfg.final_softcap > 0.0);
    let outside = w.token_embd.pages.len()
        + positions
        + usize::from(w.embd_norm.is_some())
        + w.lm_head().pages.len()
        + per_layer
        + softcap;
    n_dispatches.saturating_sub(outside) as f64 / f64::from(cfg.n_layer)
}

/// The sampling dispatches: write the next token into `State::token` and append it to
/// `State::hist`, the penalties' window, so that steps submitted ahead of the CPU see it.
/// `masked`: only the tokens `State::mask` allows may be drawn (constrained decoding).
/// `logprobs`: around the draw, its log-probability and the `k` most likely tokens' go to
/// `State::logprobs`.
pub fn sampler(
    ctx: &GpuContext,
    k: &mut Kernels,
    cfg: &ModelConfig,
    s: &State,
    params: &SamplerParams,
    masked: bool,
    logprobs: Option<u32>,
) -> Result<Vec<Dispatch>, KernelError> {
    let hist = History { buffer: &s.hist, len: PENALTY_WINDOW, push: true };
    let sample =
        k.sample(ctx, &s.logits, &s.token, 0, cfg.n_vocab, &s.step, &hist, params, masked.then_some(&s.mask))?;
    Ok(match logprobs {
        None => vec![sample],
        Some(top) => {
            let (before, after) =
                k.logprobs(ctx, &s.logits, &s.token, 0, cfg.n_vocab, &hist, top, &s.logprobs, &s.logprob_saved)?;
            vec![before, sample, after]
        }
    })
}

/// Records and submits one step.
pub fn submit(ctx: &GpuContext, s: &State, step: Step, dispatches: &[&[Dispatch]]) {
    s.step.write(ctx, step);
    let mut r = Recorder::new(ctx);
    for d in dispatches {
        r.record(d);
    }
    r.submit(ctx);
}

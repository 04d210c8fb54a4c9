//! Choosing the next token on the GPU (`shaders/sample.wgsl`): `argmax` and `sample`.

use crate::gpu::{Dispatch, GpuContext};

use super::{KernelError, Kernels, StepBuffer, shaders};

/// Invocations of the (single) sampling workgroup.
const SAMPLE_WG: u32 = 256;

/// Most top log-probabilities per token (OpenAI's `top_logprobs` limit).
pub const MAX_TOP_LOGPROBS: u32 = 20;

/// u32 words of the log-probabilities' output ([`Kernels::logprobs`]): the drawn id, its
/// logprob, the log-sum-exp, k, then up to [`MAX_TOP_LOGPROBS`] (id, logprob) pairs.
pub const LOGPROB_WORDS: u64 = 4 + 2 * MAX_TOP_LOGPROBS as u64;

/// A drawn token's log-probability and the most likely tokens', in the model's distribution
/// before penalties, filters and masks.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprobs {
    /// The drawn token.
    pub id: u32,
    /// Its log-probability.
    pub logprob: f32,
    /// The k most likely tokens and their log-probabilities, most likely first.
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprobs {
    /// Reads [`Kernels::logprobs`]'s output words.
    pub fn from_words(w: &[u32]) -> TokenLogprobs {
        let word = |i: usize| w.get(i).copied().unwrap_or(0);
        let k = (word(3) as usize).min(MAX_TOP_LOGPROBS as usize);
        let top = (0..k).map(|j| (word(4 + 2 * j), f32::from_bits(word(5 + 2 * j)))).collect();
        TokenLogprobs { id: word(0), logprob: f32::from_bits(word(1)), top }
    }
}

/// Sampling settings, as llama.cpp names them. `temperature <= 0` means greedy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SamplerParams {
    /// Divides logits before the draw (after the filters, as llama.cpp does).
    pub temperature: f32,
    /// Keep the k most likely tokens (0: off).
    pub top_k: u32,
    /// Keep the smallest set holding this much probability (1: off).
    pub top_p: f32,
    /// Drop tokens below min_p × the most likely one's probability (0: off).
    pub min_p: f32,
    /// Divides positive (multiplies negative) logits of tokens in the history (1: off).
    pub repeat_penalty: f32,
    /// Subtracted per occurrence in the history.
    pub frequency_penalty: f32,
    /// Subtracted once for tokens present in the history.
    pub presence_penalty: f32,
    /// RNG seed.
    pub seed: u32,
}

impl Default for SamplerParams {
    fn default() -> Self {
        SamplerParams {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
        }
    }
}

/// The recent tokens the penalties look at: `buffer[..len]` (u32 ids; `u32::MAX` is none).
pub struct History<'a> {
    /// The ids.
    pub buffer: &'a wgpu::Buffer,
    /// How many.
    pub len: u32,
    /// Whether the drawn id then enters the history: the ids shift forward by one and it goes
    /// last (so a short history is padded with `u32::MAX` at the front).
    pub push: bool,
}

crate::uniform_struct! {
    /// The uniform this kernel's shader declares as `Params` (tests/contract.rs checks the two match).
    pub(super) struct Params {
        n_vocab: u32,
        out_index: u32,
        top_k: u32,
        n_hist: u32,
        temperature: f32,
        top_p: f32,
        min_p: f32,
        repeat_penalty: f32,
        frequency_penalty: f32,
        presence_penalty: f32,
        seed: u32,
        push_hist: u32,
    }
}

impl Params {
    /// No sampling settings: the parameters of the dispatches that only read the logits
    /// (argmax, the log-probabilities).
    fn neutral(n_vocab: u32, out_index: u32) -> Params {
        Params {
            n_vocab,
            out_index,
            top_k: 0,
            n_hist: 0,
            temperature: 0.0,
            top_p: 1.0,
            min_p: 0.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 0,
            push_hist: 0,
        }
    }
}

impl Kernels {
    /// `ids[out_index] = argmax(logits (n_vocab,))` (the first index among equal maxima), over
    /// the tokens whose bit is set in `mask` ((n_vocab / 32,) u32, bit `id % 32` of word
    /// `id / 32`) when there is one.
    pub fn argmax(
        &mut self,
        ctx: &GpuContext,
        logits: &wgpu::Buffer,
        ids: &wgpu::Buffer,
        out_index: u32,
        n_vocab: u32,
        mask: Option<&wgpu::Buffer>,
    ) -> Result<Dispatch, KernelError> {
        let defines: &[&str] = if mask.is_some() { &["MASK"] } else { &[] };
        let pipeline = self.pipeline(ctx, &shaders::ARGMAX, defines, &[("WG", SAMPLE_WG)])?;
        let slot = self.uniforms.push(ctx, &Params::neutral(n_vocab, out_index))?;
        let mut bindings =
            vec![(0, logits.as_entire_binding()), (1, ids.as_entire_binding()), (2, self.uniforms.binding(slot))];
        bindings.extend(mask.map(|m| (5, m.as_entire_binding())));
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, [1, 1, 1]))
    }

    /// `ids[out_index]` = a token drawn from `logits (n_vocab,)` with `params`, after applying
    /// the penalties for the ids of `hist` (in place on `logits`). The draw is seeded by
    /// `(params.seed, step.counter)`. With `mask` (see [`Kernels::argmax`]) only the tokens it
    /// allows enter the filters and the draw. Temperature <= 0 gives [`Kernels::argmax`].
    pub fn sample(
        &mut self,
        ctx: &GpuContext,
        logits: &wgpu::Buffer,
        ids: &wgpu::Buffer,
        out_index: u32,
        n_vocab: u32,
        step: &StepBuffer,
        hist: &History<'_>,
        params: &SamplerParams,
        mask: Option<&wgpu::Buffer>,
    ) -> Result<Dispatch, KernelError> {
        if params.temperature <= 0.0 {
            return self.argmax(ctx, logits, ids, out_index, n_vocab, mask);
        }
        let defines: &[&str] = if mask.is_some() { &["MASK"] } else { &[] };
        let pipeline = self.pipeline(ctx, &shaders::SAMPLE, defines, &[("WG", SAMPLE_WG)])?;
        let p = Params {
            n_vocab,
            out_index,
            top_k: params.top_k,
            n_hist: hist.len,
            temperature: params.temperature,
            top_p: params.top_p,
            min_p: params.min_p,
            repeat_penalty: params.repeat_penalty,
            frequency_penalty: params.frequency_penalty,
            presence_penalty: params.presence_penalty,
            seed: params.seed,
            push_hist: u32::from(hist.push),
        };
        let slot = self.uniforms.push(ctx, &p)?;
        let mut bindings = vec![
            (0, logits.as_entire_binding()),
            (1, ids.as_entire_binding()),
            (2, self.uniforms.binding(slot)),
            (3, step.buffer.as_entire_binding()),
            (4, hist.buffer.as_entire_binding()),
        ];
        bindings.extend(mask.map(|m| (5, m.as_entire_binding())));
        Ok(Dispatch::with_bindings(ctx, pipeline, &bindings, [1, 1, 1]))
    }
}

impl Kernels {
    /// The two dispatches around a sampling dispatch that give the log-probabilities of
    /// `logits (n_vocab,)` as they are before it: `top` (before the sampler, which applies its
    /// penalties in place) computes the log-sum-exp, the `k` most likely tokens and saves the
    /// logits of `hist`'s ids; `chosen` (after it) the logprob of the drawn `ids[out_index]`.
    /// Both write `out` ([`LOGPROB_WORDS`] words, read with [`TokenLogprobs::from_words`]);
    /// `saved` holds 2 words per id of `hist`.
    pub fn logprobs(
        &mut self,
        ctx: &GpuContext,
        logits: &wgpu::Buffer,
        ids: &wgpu::Buffer,
        out_index: u32,
        n_vocab: u32,
        hist: &History<'_>,
        k: u32,
        out: &wgpu::Buffer,
        saved: &wgpu::Buffer,
    ) -> Result<(Dispatch, Dispatch), KernelError> {
        let params = Params {
            top_k: k.min(MAX_TOP_LOGPROBS).min(n_vocab),
            n_hist: hist.len,
            ..Params::neutral(n_vocab, out_index)
        };
        let slot = self.uniforms.push(ctx, &params)?;
        let top = self.pipeline(ctx, &shaders::LOGPROBS_TOP, &[], &[("WG", SAMPLE_WG)])?;
        let top = Dispatch::with_bindings(
            ctx,
            top,
            &[
                (0, logits.as_entire_binding()),
                (2, self.uniforms.binding(slot)),
                (4, hist.buffer.as_entire_binding()),
                (6, out.as_entire_binding()),
                (7, saved.as_entire_binding()),
            ],
            [1, 1, 1],
        );
        let chosen = self.pipeline(ctx, &shaders::LOGPROBS_CHOSEN, &[], &[("WG", SAMPLE_WG)])?;
        let chosen = Dispatch::with_bindings(
            ctx,
            chosen,
            &[
                (0, logits.as_entire_binding()),
                (1, ids.as_entire_binding()),
                (2, self.uniforms.binding(slot)),
                (6, out.as_entire_binding()),
                (7, saved.as_entire_binding()),
            ],
            [1, 1, 1],
        );
        Ok((top, chosen))
    }
}

/// CPU reference of [`Kernels::logprobs`]: the log-sum-exp of `logits` and the `k` most likely
/// tokens with their log-probabilities (ties: the lower id first).
pub fn logprobs_ref(logits: &[f32], k: usize) -> (f32, Vec<(u32, f32)>) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + logits.iter().map(|&l| f64::from(l - max).exp()).sum::<f64>().ln() as f32;
    let mut order: Vec<u32> = (0..logits.len() as u32).collect();
    order.sort_by(|&a, &b| logits[b as usize].total_cmp(&logits[a as usize]).then(a.cmp(&b)));
    (lse, order.iter().take(k).map(|&i| (i, logits[i as usize] - lse)).collect())
}

/// CPU reference of [`Kernels::argmax`].
pub fn argmax_ref(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// CPU reference of the penalties [`Kernels::sample`] applies before filtering.
pub fn penalize_ref(logits: &mut [f32], hist: &[u32], p: &SamplerParams) {
    let mut seen = std::collections::BTreeMap::new();
    for &id in hist {
        *seen.entry(id).or_insert(0u32) += 1;
    }
    for (id, count) in seen {
        if let Some(l) = logits.get_mut(id as usize) {
            *l = if *l > 0.0 { *l / p.repeat_penalty } else { *l * p.repeat_penalty };
            *l -= count as f32 * p.frequency_penalty + p.presence_penalty;
        }
    }
}

/// Whether bit `id % 32` of word `id / 32` of `mask` is set (the layout of a grammar's mask).
pub fn mask_allows(mask: &[u32], id: usize) -> bool {
    mask.get(id / 32).is_some_and(|w| (w >> (id % 32)) & 1 != 0)
}

/// CPU reference of which tokens may be drawn: top-k (ties at the k-th value kept), then
/// min-p and top-p on softmax(logits), as [`Kernels::sample`] filters them.
pub fn allowed_ref(logits: &[f32], p: &SamplerParams) -> Vec<bool> {
    allowed_masked_ref(logits, p, None)
}

/// [`allowed_ref`] with a grammar's mask: the filters see only the tokens `mask` allows, as
/// if the others' logits were -inf.
pub fn allowed_masked_ref(logits: &[f32], p: &SamplerParams, mask: Option<&[u32]>) -> Vec<bool> {
    let permitted = |i: usize| mask.is_none_or(|m| mask_allows(m, i));
    let logits: Vec<f32> =
        logits.iter().enumerate().map(|(i, &l)| if permitted(i) { l } else { f32::NEG_INFINITY }).collect();
    let mut sorted: Vec<f32> = logits.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let kth =
        if p.top_k > 0 && (p.top_k as usize) < logits.len() { sorted[p.top_k as usize - 1] } else { f32::NEG_INFINITY };
    let max = sorted[0];
    let e: Vec<f64> = logits.iter().map(|&l| f64::from(l - max).exp()).collect();
    let mut keep: Vec<bool> = logits
        .iter()
        .zip(&e)
        .enumerate()
        .map(|(i, (&l, &e))| permitted(i) && l >= kth && e >= f64::from(p.min_p))
        .collect();
    if p.top_p < 1.0 {
        let mass: f64 = e.iter().zip(&keep).filter(|(_, k)| **k).map(|(e, _)| e).sum();
        let mut order: Vec<usize> = (0..logits.len()).filter(|&i| keep[i]).collect();
        order.sort_by(|&a, &b| e[b].total_cmp(&e[a]));
        let mut acc = 0.0;
        let mut threshold = 0.0;
        for &i in &order {
            acc += e[i];
            threshold = e[i];
            if acc >= f64::from(p.top_p) * mass {
                break;
            }
        }
        keep.iter_mut().zip(&e).for_each(|(k, &e)| *k = *k && e >= threshold);
    }
    keep
}

//! The generation loop: prefill the prompt (reusing the cached prefix), then decode token by
//! token, turning tokens into text as soon as it is valid UTF-8 and no stop string can start
//! in it, until an end token, a stop string, the token limit, a full context or a cancel.
//!
//! Under a grammar (constrained decoding) each draw is masked to the tokens the grammar
//! allows, the mask computed on the CPU while the GPU runs the model; tokens the grammar
//! forces run as one prefill chunk; the reply ends when the grammar is complete.

use super::response::{FinishReason, PromptDetails, Usage, UsageExtra};
use super::stop::StopMatcher;
use super::{Error, Generation};
use crate::clock::now_ms;
use crate::engine::{Cancel, Engine, EngineError, Sampling};
use crate::grammar::Constraint;
use crate::kernels::TokenLogprobs;
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// Hears each piece of new text, the token ids generated since the previous call and their
/// log-probabilities (empty unless asked for).
pub type OnDelta<'a> = dyn FnMut(&str, &[u32], &[TokenLogprobs]) + 'a;

/// What a generation produced.
pub struct Outcome {
    /// The text (stop strings excluded).
    pub text: String,
    /// Every generated token id, end tokens included.
    pub token_ids: Vec<u32>,
    /// Each one's log-probabilities, when the request asked for them (else empty).
    pub logprobs: Vec<TokenLogprobs>,
    /// Why it ended.
    pub finish: FinishReason,
    /// Counts and timings.
    pub usage: Usage,
}

/// Generates after `prompt_ids` (the whole conversation; the cached prefix is reused),
/// calling `on_delta` with each piece of new text, the token ids generated since the previous
/// call and their log-probabilities (when `g.logprobs` asks for them). Text and ids arrive in
/// order; their concatenation is the [`Outcome`]'s. With `constraint` (compiled from
/// `g.grammar`), every token is one the grammar allows.
pub async fn generate(
    engine: &mut Engine,
    tokenizer: &Tokenizer,
    prompt_ids: &[u32],
    g: &Generation,
    mut constraint: Option<&mut Constraint>,
    cancel: &Cancel,
    on_delta: &mut OnDelta<'_>,
) -> Result<Outcome, Error> {
    let t0 = now_ms();
    let n_ctx = engine.n_ctx() as usize;
    if prompt_ids.len() >= n_ctx {
        return Err(Error::ContextLength { prompt_tokens: prompt_ids.len(), context_length: n_ctx });
    }
    engine.set_sampler(&Sampling { params: g.sampler, masked: constraint.is_some(), logprobs: g.logprobs })?;
    // Forced tokens are not drawn, so they have no log-probabilities: with `logprobs` each
    // token is drawn (under a mask that allows only it).
    let fast_forward = g.logprobs.is_none();
    if g.seeded {
        engine.restart_random();
    }
    let limit = g.max_tokens.map_or(usize::MAX, |m| m as usize);

    let mut usage = Usage { prompt_tokens: prompt_ids.len(), ..Default::default() };
    if limit == 0 {
        // Nothing to generate: the prompt is not even run (the cache stays as it was).
        usage.total_tokens = usage.prompt_tokens;
        return Ok(Outcome::empty(FinishReason::Length, usage));
    }
    // The tokens a grammar forces at the start (a schema's `{"` and first key) join the
    // prompt's prefill; the first draw is masked. A grammar that forces the whole reply (a
    // literal) leaves nothing to draw: the prefill's draw is then not used.
    let mut queue = Vec::new();
    let mut forced_whole = false;
    if let Some(c) = constraint.as_deref_mut() {
        if fast_forward {
            queue = c.forced();
        }
        forced_whole = c.is_complete();
        engine.write_mask(&if forced_whole { c.allow_all() } else { c.mask()? });
    }
    let prompt: Vec<u32> = prompt_ids.iter().chain(&queue).copied().collect();
    let (first, prefilled) = match engine.prefill(&prompt, cancel).await {
        Ok(first) => first,
        Err(EngineError::Cancelled) => return Ok(Outcome::empty(FinishReason::Abort, usage)),
        Err(e) => return Err(e.into()),
    };
    let prefilled = prefilled.saturating_sub(queue.len());
    let mut forced = queue.len();
    let mut queue: Vec<(u32, Option<TokenLogprobs>)> = queue.into_iter().map(|t| (t, None)).collect();
    if !forced_whole {
        if let Some(c) = constraint.as_deref_mut() {
            c.consume(first)?;
        }
        queue.push((first, engine.take_logprobs()));
    }
    let t_first = now_ms();
    let stats0 = engine.stats;

    let mut decoder = StreamDecoder::new();
    let mut stops = StopMatcher::new(&g.stop);
    let (mut text, mut ids, mut sent) = (String::new(), Vec::new(), 0usize);
    let mut lps: Vec<TokenLogprobs> = Vec::new();
    let mut stopped_by_string = false;
    let mut queue = queue.into_iter();
    let finish = loop {
        // The next token: one already run (forced) or sampled, else a new step.
        let (token, lp) = match queue.next() {
            Some(t) => t,
            None => {
                let Some(&last) = ids.last() else { break FinishReason::Stop };
                let next = match constraint.as_deref_mut() {
                    None => match engine.step().await {
                        Ok(t) => Ok(vec![(t, engine.take_logprobs())]),
                        Err(e) => Err(e.into()),
                    },
                    Some(c) => constrained_step(engine, c, last, fast_forward, cancel).await,
                };
                let next = match next {
                    Ok(next) => next,
                    Err(Error::Engine(EngineError::ContextFull { .. })) => break FinishReason::Length,
                    Err(Error::Engine(EngineError::Cancelled)) => break FinishReason::Abort,
                    Err(e) => return Err(e),
                };
                forced += next.len() - 1;
                queue = next.into_iter();
                continue;
            }
        };
        ids.push(token);
        if g.logprobs.is_some() {
            // Every token was drawn (no fast-forward), so each has its log-probabilities.
            lps.push(lp.unwrap_or(TokenLogprobs { id: token, logprob: 0.0, top: Vec::new() }));
        }
        if tokenizer.end_of_generation.contains(&token) && !g.ignore_eos {
            break FinishReason::Stop;
        }
        let (piece, hit) = stops.push(&decoder.push(tokenizer.token_bytes(token)));
        if !piece.is_empty() {
            text.push_str(&piece);
            on_delta(&piece, &ids[sent..], lps.get(sent..).unwrap_or_default());
            sent = ids.len();
        }
        if hit {
            stopped_by_string = true;
            break FinishReason::Stop;
        }
        if constraint.as_deref().is_some_and(|c| c.is_complete()) && queue.len() == 0 {
            break FinishReason::Stop;
        }
        if ids.len() >= limit || engine.cached().len() + 1 >= n_ctx {
            break FinishReason::Length;
        }
        if cancel.is_cancelled() {
            break FinishReason::Abort;
        }
    };
    // What is left: bytes of an unfinished character, text held back for a stop string that
    // never completed, ids not yet sent.
    let mut rest = String::new();
    if !stopped_by_string {
        rest = stops.push(&decoder.finish()).0;
        rest.push_str(&stops.finish());
    }
    if !rest.is_empty() || sent < ids.len() {
        text.push_str(&rest);
        on_delta(&rest, &ids[sent..], lps.get(sent..).unwrap_or_default());
    }

    let t_end = now_ms();
    let decoded = ids.len().saturating_sub(1);
    let stats = engine.stats;
    let per_token = |n: u64| if decoded > 0 { n as f64 / decoded as f64 } else { 0.0 };
    let decode_s = (t_end - t_first) / 1e3;
    usage.completion_tokens = ids.len();
    usage.total_tokens = usage.prompt_tokens + ids.len();
    usage.prompt_tokens_details = PromptDetails { cached_tokens: prompt_ids.len() - prefilled };
    usage.extra = UsageExtra {
        time_to_first_token_s: (t_first - t0) / 1e3,
        prefill_tokens_per_s: prefilled as f64 / ((t_first - t0) / 1e3).max(1e-9),
        decode_tokens_per_s: if decoded > 0 { decoded as f64 / decode_s.max(1e-9) } else { 0.0 },
        time_per_output_token_s: if decoded > 0 { decode_s / decoded as f64 } else { 0.0 },
        e2e_latency_s: (t_end - t0) / 1e3,
        submits_per_token: per_token(stats.decode_submits - stats0.decode_submits),
        dispatches_per_token: per_token(stats.decode_dispatches - stats0.decode_dispatches),
        gpu_idle_waits_per_token: per_token(stats.decode_stalls - stats0.decode_stalls),
        grammar_mask_ms_per_token: constraint.as_deref().map(|c| c.mask_ms / ids.len().max(1) as f64),
        grammar_forced_tokens: constraint.as_deref().map(|_| forced),
    };
    Ok(Outcome { text, token_ids: ids, logprobs: lps, finish, usage })
}

impl Outcome {
    fn empty(finish: FinishReason, usage: Usage) -> Outcome {
        Outcome { text: String::new(), token_ids: Vec::new(), logprobs: Vec::new(), finish, usage }
    }
}

/// One step under a grammar after `last` (sampled, consumed by the grammar, not yet run):
/// the tokens the grammar forces next (with `fast_forward`) run with `last` as one prefill
/// chunk, or `last` alone runs while the CPU computes the mask; then a masked draw. Returns the
/// forced tokens and the drawn one (with its log-probabilities, if asked for), or only the
/// forced ones where they complete the grammar (they need not run).
async fn constrained_step(
    engine: &mut Engine,
    c: &mut Constraint,
    last: u32,
    fast_forward: bool,
    cancel: &Cancel,
) -> Result<Vec<(u32, Option<TokenLogprobs>)>, Error> {
    let forced = if fast_forward { c.forced() } else { Vec::new() };
    let mut out: Vec<(u32, Option<TokenLogprobs>)> = forced.iter().map(|&t| (t, None)).collect();
    if c.is_complete() {
        return Ok(out);
    }
    let next = if forced.is_empty() {
        engine.run_pending()?;
        engine.write_mask(&c.mask()?);
        engine.sample_next().await?
    } else {
        engine.write_mask(&c.mask()?);
        let conversation: Vec<u32> = engine.cached().iter().chain([&last]).chain(&forced).copied().collect();
        engine.prefill(&conversation, cancel).await?.0
    };
    c.consume(next)?;
    out.push((next, engine.take_logprobs()));
    Ok(out)
}

//! The generation loop: prefill the prompt (reusing the cached prefix), then decode token by
//! token, turning tokens into text as soon as it is valid UTF-8 and no stop string can start
//! in it, until an end token, a stop string, the token limit, a full context or a cancel.

use super::response::{FinishReason, PromptDetails, Usage, UsageExtra};
use super::stop::StopMatcher;
use super::{Error, Generation};
use crate::clock::now_ms;
use crate::engine::{Cancel, Engine, EngineError};
use crate::tokenizer::{StreamDecoder, Tokenizer};

/// What a generation produced.
pub struct Outcome {
    /// The text (stop strings excluded).
    pub text: String,
    /// Every generated token id, end tokens included.
    pub token_ids: Vec<u32>,
    /// Why it ended.
    pub finish: FinishReason,
    /// Counts and timings.
    pub usage: Usage,
}

/// Generates after `prompt_ids` (the whole conversation; the cached prefix is reused),
/// calling `on_delta` with each piece of new text and the token ids generated since the
/// previous call. Text and ids arrive in order; their concatenation is the [`Outcome`]'s.
pub async fn generate(
    engine: &mut Engine,
    tokenizer: &Tokenizer,
    prompt_ids: &[u32],
    g: &Generation,
    cancel: &Cancel,
    on_delta: &mut dyn FnMut(&str, &[u32]),
) -> Result<Outcome, Error> {
    let t0 = now_ms();
    let n_ctx = engine.n_ctx() as usize;
    if prompt_ids.len() >= n_ctx {
        return Err(Error::Request(format!(
            "the prompt has {} tokens but the context holds {n_ctx}: shorten the conversation or load the model with a longer context",
            prompt_ids.len()
        )));
    }
    engine.set_sampler(&g.sampler)?;
    if g.seeded {
        engine.restart_random();
    }
    let limit = g.max_tokens.map_or(usize::MAX, |m| m as usize);

    let mut usage = Usage { prompt_tokens: prompt_ids.len(), ..Default::default() };
    if limit == 0 {
        // Nothing to generate: the prompt is not even run (the cache stays as it was).
        usage.total_tokens = usage.prompt_tokens;
        return Ok(Outcome { text: String::new(), token_ids: Vec::new(), finish: FinishReason::Length, usage });
    }
    let (mut token, prefilled) = match engine.prefill(prompt_ids, cancel).await {
        Ok(first) => first,
        Err(EngineError::Cancelled) => {
            return Ok(Outcome { text: String::new(), token_ids: Vec::new(), finish: FinishReason::Abort, usage });
        }
        Err(e) => return Err(e.into()),
    };
    let t_first = now_ms();
    let stats0 = engine.stats;

    let mut decoder = StreamDecoder::new();
    let mut stops = StopMatcher::new(&g.stop);
    let (mut text, mut ids, mut sent) = (String::new(), Vec::new(), 0usize);
    let mut stopped_by_string = false;
    let finish = loop {
        ids.push(token);
        if tokenizer.end_of_generation.contains(&token) && !g.ignore_eos {
            break FinishReason::Stop;
        }
        let (piece, hit) = stops.push(&decoder.push(tokenizer.token_bytes(token)));
        if !piece.is_empty() {
            text.push_str(&piece);
            on_delta(&piece, &ids[sent..]);
            sent = ids.len();
        }
        if hit {
            stopped_by_string = true;
            break FinishReason::Stop;
        }
        if ids.len() >= limit || engine.cached().len() + 1 >= n_ctx {
            break FinishReason::Length;
        }
        if cancel.is_cancelled() {
            break FinishReason::Abort;
        }
        token = match engine.step().await {
            Ok(t) => t,
            Err(EngineError::ContextFull { .. }) => break FinishReason::Length,
            Err(e) => return Err(e.into()),
        };
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
        on_delta(&rest, &ids[sent..]);
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
    };
    Ok(Outcome { text, token_ids: ids, finish, usage })
}

// Generation in the browser through the public JS API (www/hearth.js), on SwiftShader's
// WebGPU, against llama.cpp's references (the f32 path, asked for where the ids are compared).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CASE1_MESSAGES, MiB, inPage, ok, openPage, reference, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

test(
  "SmolLM2 F16 gives llama.cpp's greedy ids of both reference cases, whole (16) and streamed (all 32)",
  { timeout: 900_000 },
  async (t) => {
    const page = await openPage(t, env);
    const [c0, c1] = reference("smollm2-F16");
    const r = ok(
      await inPage(
        page,
        async ({ c0, messages }) => {
          const engine = await Hearth.load("/models/SmolLM2-135M-Instruct.F16.gguf", { f16: false });
          const info = await engine.info();
          const greedy = { temperature: 0, max_tokens: 32, ignore_eos: true, return_token_ids: true };
          // The page stays responsive while the worker computes: a 20 ms timer keeps ticking.
          let last = performance.now();
          let longestGap = 0;
          const timer = setInterval(() => {
            const now = performance.now();
            longestGap = Math.max(longestGap, now - last);
            last = now;
          }, 20);
          // Case 0: a text completion, whole (16 tokens: SwiftShader decodes ~1 token/s).
          const text = await engine.completions.create({ prompt: c0.prompt, ...greedy, max_tokens: 16 });
          clearInterval(timer);
          // Case 1: the chat, streamed (the template renders case 1's prompt from the messages).
          const chunks = [];
          const stream = await engine.chat.completions.create({
            messages,
            stream: true,
            stream_options: { include_usage: true },
            ...greedy,
          });
          for await (const chunk of stream) chunks.push(chunk);
          await engine.unload();
          return { info, text, chunks, longestGap };
        },
        { c0, messages: CASE1_MESSAGES },
      ),
    );
    assert.equal(r.info.precision, "f32", "f16: false takes the f32 path on any adapter");
    assert.equal(r.info.adapter.backend, "BrowserWebGpu");
    assert.ok(r.longestGap < 250, `the page froze for ${r.longestGap} ms while the model ran`);

    assert.deepEqual(r.text.prompt_token_ids, c0.prompt_ids);
    assert.deepEqual(r.text.choices[0].token_ids, c0.greedy_ids.slice(0, 16));
    assert.ok(c0.text.startsWith(r.text.choices[0].text) && r.text.choices[0].text.length > 0);
    assert.equal(r.text.choices[0].finish_reason, "length");
    assert.equal(r.text.usage.completion_tokens, 16);

    const first = r.chunks[0];
    assert.equal(first.object, "chat.completion.chunk");
    assert.equal(first.choices[0].delta.role, "assistant");
    assert.deepEqual(first.prompt_token_ids, c1.prompt_ids);
    const ids = r.chunks.flatMap((c) => c.choices[0]?.token_ids ?? []);
    assert.deepEqual(ids, c1.greedy_ids);
    const content = r.chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    assert.ok(content.startsWith("The capital of France is Paris."), content);
    const finish = r.chunks.find((c) => c.choices[0]?.finish_reason);
    assert.equal(finish.choices[0].finish_reason, "length");
    const usage = r.chunks.at(-1).usage;
    assert.equal(usage.prompt_tokens, c1.prompt_ids.length);
    assert.equal(usage.completion_tokens, 32);
    assert.ok(usage.extra.decode_tokens_per_s > 0 && usage.extra.time_to_first_token_s > 0);
    // Tokens in flight in the browser too: each step is submitted before the previous token is
    // read, so the CPU never waits on an idle GPU; 31 decoded tokens take 32 submits (one
    // step runs ahead past the last).
    assert.equal(usage.extra.gpu_idle_waits_per_token, 0);
    assert.ok(
      Math.abs(usage.extra.submits_per_token - 32 / 31) < 1e-9,
      `${usage.extra.submits_per_token} submits per token`,
    );
    console.log(
      `F16 in the browser: load ${r.info.load.total_ms.toFixed(0)} ms, decode ${usage.extra.decode_tokens_per_s.toFixed(2)} tok/s, ` +
        `prefill ${usage.extra.prefill_tokens_per_s.toFixed(2)} tok/s, per token ${usage.extra.submits_per_token.toFixed(2)} submits, ` +
        `${usage.extra.dispatches_per_token.toFixed(0)} dispatches, ${usage.extra.gpu_idle_waits_per_token} idle-GPU waits`,
    );
  },
);

test(
  "SmolLM2 Q8_0: reference ids, flat wasm memory, progress, abort within one token, leaving a stream, signals, cached turns",
  { timeout: 900_000 },
  async (t) => {
    const page = await openPage(t, env);
    const [c0] = reference("smollm2-Q8_0");
    const n = Math.min(16, c0.fp32_agrees_until);
    const r = ok(
      await inPage(
        page,
        async ({ c0, n, messages }) => {
          const progress = [];
          const engine = await Hearth.load("/models/SmolLM2-135M-Instruct.Q8_0.gguf", {
            f16: false,
            onProgress: (p) => progress.push(p),
          });
          const info = await engine.info();
          const text = await engine.completions.create({
            prompt: c0.prompt,
            temperature: 0,
            max_tokens: n,
            return_token_ids: true,
          });

          // Abort a sampled chat after three tokens have streamed in.
          let seen = 0;
          let atAbort = null;
          const chunks = [];
          const stream = await engine.chat.completions.create({
            messages: [{ role: "user", content: "Tell me a long story about a lighthouse keeper." }],
            stream: true,
            max_tokens: 64,
            ignore_eos: true,
            return_token_ids: true,
            stream_options: { include_usage: true },
            seed: 7,
          });
          for await (const chunk of stream) {
            chunks.push(chunk);
            seen += chunk.choices[0]?.token_ids?.length ?? 0;
            if (seen >= 3 && atAbort === null) {
              atAbort = seen;
              engine.interruptGenerate(); // WebLLM's name for abort()
            }
          }
          const story = {
            messages: [{ role: "user", content: "Tell me a long story." }],
            stream: true,
            max_tokens: 200,
            ignore_eos: true,
            return_token_ids: true,
            seed: 5,
          };
          const leave = async (after) => {
            let n = 0;
            for await (const chunk of await engine.chat.completions.create(story)) {
              n += chunk.choices[0]?.token_ids?.length ?? 0;
              if (n >= after) break;
            }
            return n;
          };
          // Leaving a stream stops its decoding: the counter stands still afterwards.
          const left = await leave(4);
          const afterLeave = await engine.info();
          await new Promise((r) => setTimeout(r, 1000));
          const later = await engine.info();
          // ... and the next request starts at once.
          await leave(4);
          const broke = performance.now();
          let firstToken = null;
          const next = [];
          for await (const chunk of await engine.chat.completions.create({
            ...story,
            max_tokens: 2,
            stream_options: { include_usage: true },
          })) {
            next.push(chunk);
            if (firstToken === null && chunk.choices[0]?.token_ids?.length) firstToken = performance.now();
          }
          const waited = (firstToken - broke) / 1000;

          // A signal aborts its own request: running, queued, or streaming.
          const outcome = (p) =>
            p.then(
              (v) => ({ finish: v.choices[0].finish_reason, tokens: v.usage.completion_tokens }),
              (e) => ({ code: e.code }),
            );
          const plain = { messages: story.messages, max_tokens: 3, ignore_eos: true };
          const running = new AbortController();
          setTimeout(() => running.abort(), 300);
          const signalled = await outcome(
            engine.chat.completions.create({ ...plain, max_tokens: 200 }, { signal: running.signal }),
          );
          const queuedSignal = new AbortController();
          const first = outcome(engine.chat.completions.create(plain));
          const second = outcome(engine.chat.completions.create(plain, { signal: queuedSignal.signal }));
          queuedSignal.abort();
          const [firstDone, secondDone] = await Promise.all([first, second]);
          const streamSignal = new AbortController();
          let streamed = 0;
          let streamError = null;
          try {
            const s = await engine.chat.completions.create(story, { signal: streamSignal.signal });
            for await (const chunk of s) {
              streamed += chunk.choices[0]?.token_ids?.length ?? 0;
              if (streamed >= 2) streamSignal.abort();
            }
          } catch (e) {
            streamError = e.code;
          }

          // A conversation over the context: its own code, with both sizes.
          let overflow = null;
          try {
            await engine.chat.completions.create({ messages: [{ role: "user", content: "word ".repeat(2100) }] });
          } catch (e) {
            overflow = { code: e.code, details: e.details, message: e.message };
          }

          // The engine goes on: a first turn, then a second one that extends it.
          const turn1 = [{ role: "user", content: "Name a colour." }];
          const a1 = await engine.chat.completions.create({ messages: turn1, temperature: 0, max_tokens: 4 });
          const turn2 = [...turn1, a1.choices[0].message, { role: "user", content: "And another one?" }];
          const a2 = await engine.chat.completions.create({ messages: turn2, temperature: 0, max_tokens: 4 });
          const stats = await engine.runtimeStatsText();
          // WebLLM's resetChat: the cache is forgotten, the reply is the same.
          await engine.resetChat();
          const a2again = await engine.chat.completions.create({ messages: turn2, temperature: 0, max_tokens: 4 });
          const infoEnd = await engine.info();
          return {
            progress,
            info,
            text,
            chunks,
            atAbort,
            left,
            afterLeave,
            later,
            next,
            waited,
            signalled,
            firstDone,
            secondDone,
            streamed,
            streamError,
            overflow,
            a1,
            a2,
            stats,
            a2again,
            infoEnd,
          };
        },
        { c0, n, messages: CASE1_MESSAGES },
      ),
    );
    // Reference ids.
    assert.deepEqual(r.text.choices[0].token_ids, c0.greedy_ids.slice(0, n));

    // Progress: the download, the upload and the kernels, each to its end.
    for (const phase of ["download", "load", "compile"]) {
      const last = r.progress.filter((p) => p.phase === phase).at(-1);
      assert.ok(last, `a ${phase} progress event`);
      assert.equal(last.done, last.total, `${phase} reaches its total`);
    }
    const load = r.progress.filter((p) => p.phase === "load").at(-1);
    assert.ok(load.bytes > 140e6 && load.rate > 0, JSON.stringify(load));
    // ... with WebLLM's fields: progress (0..1 of the phase), time elapsed, a line of text.
    assert.ok(r.progress.every((p) => p.progress >= 0 && p.progress <= 1 && p.timeElapsed >= 0));
    assert.equal(load.progress, 1);
    assert.match(load.text, /^Loading it onto the GPU: 100%, 1\d\d\.\d MB of 1\d\d\.\d MB/);

    // Wasm memory: the 145 MB of weights stream through; memory stays under 64 MiB plus what
    // the header and the tokenizer took, and the weights add only the bounded upload buffer.
    const [start, beforeWeights, end] = r.info.load.wasm_memory;
    const tokenizerShare = beforeWeights - start;
    console.log(
      `wasm memory: ${(start / MiB).toFixed(1)} MiB at start, ${(beforeWeights / MiB).toFixed(1)} after header+tokenizer, ` +
        `${(end / MiB).toFixed(1)} after loading 145 MB of weights (now ${(r.info.wasm_memory_bytes / MiB).toFixed(1)})`,
    );
    assert.ok(end <= 64 * MiB + tokenizerShare, `wasm memory ${end} > 64 MiB + tokenizer ${tokenizerShare}`);
    assert.ok(end - beforeWeights <= 16 * MiB, `the weights grew wasm memory by ${end - beforeWeights} bytes`);
    assert.ok(r.info.wasm_memory_bytes < r.info.file_size / 2);

    // Abort: at most one token after the abort, then finish_reason "abort".
    const total = r.chunks.flatMap((c) => c.choices[0]?.token_ids ?? []).length;
    assert.ok(total <= r.atAbort + 1, `${total} tokens, ${r.atAbort} when aborted`);
    assert.equal(r.chunks.find((c) => c.choices[0]?.finish_reason).choices[0].finish_reason, "abort");
    assert.equal(r.chunks.at(-1).usage.completion_tokens, total);

    // Leaving a stream: the request ended within a token of the break, and nothing was
    // decoded after it.
    assert.ok(r.afterLeave.last_usage.completion_tokens <= r.left + 1, JSON.stringify(r.afterLeave.last_usage));
    assert.equal(r.later.stats.decoded, r.afterLeave.stats.decoded, "decoding went on after the break");
    assert.equal(r.later.stats.decode_submits, r.afterLeave.stats.decode_submits);
    // The next request's first token came within one decode step of its own prefill.
    const nextUsage = r.next.at(-1).usage;
    const step = 1 / r.afterLeave.last_usage.extra.decode_tokens_per_s;
    const held = r.waited - nextUsage.extra.time_to_first_token_s;
    console.log(
      `after a break: first token ${r.waited.toFixed(3)} s, its own prefill ${nextUsage.extra.time_to_first_token_s.toFixed(3)} s, a decode step ${step.toFixed(3)} s`,
    );
    // (0.25 s for the messages between the page and the worker on a busy 2-core machine.)
    assert.ok(
      held <= step + 0.25,
      `the next request waited ${held.toFixed(3)} s behind the one left (a step: ${step.toFixed(3)} s)`,
    );

    // Signals: a running request rejects at once; a queued one never runs and the one before
    // it is untouched; a stream's next read rejects.
    assert.deepEqual(r.signalled, { code: "aborted" });
    assert.deepEqual(r.firstDone, { finish: "length", tokens: 3 });
    assert.deepEqual(r.secondDone, { code: "aborted" });
    assert.equal(r.streamError, "aborted");
    assert.ok(r.streamed >= 2 && r.streamed <= 3, `${r.streamed} tokens streamed`);

    // Over the context: its own code and both sizes, for an app to trim and retry.
    assert.equal(r.overflow?.code, "context-length-exceeded", JSON.stringify(r.overflow));
    assert.equal(r.overflow.details.context_length, 2048);
    assert.ok(r.overflow.details.prompt_tokens > 2048, JSON.stringify(r.overflow.details));

    // The requests after the abort work, and the second turn reuses the first one's cache.
    assert.equal(r.a1.choices[0].finish_reason, "length");
    assert.equal(r.a1.usage.completion_tokens, 4);
    assert.ok(r.a2.usage.prompt_tokens_details.cached_tokens >= r.a1.usage.prompt_tokens, JSON.stringify(r.a2.usage));
    // Random ids; one fingerprint, the engine's.
    assert.match(r.a1.id, /^chatcmpl-[A-Za-z0-9]{24}$/);
    assert.notEqual(r.a1.id, r.a2.id);
    assert.match(r.a1.system_fingerprint, /^fp_[0-9a-f]{16}$/);
    assert.equal(r.a2.system_fingerprint, r.a1.system_fingerprint);
    assert.equal(r.infoEnd.system_fingerprint, r.a1.system_fingerprint);
    // WebLLM's runtimeStatsText and resetChat.
    assert.match(r.stats, /^prefill: \d+\.\d tokens\/s, decoding: \d+\.\d tokens\/s$/);
    assert.equal(r.a2again.usage.prompt_tokens_details.cached_tokens, 0);
    assert.equal(r.a2again.choices[0].message.content, r.a2.choices[0].message.content);
  },
);

test("Gemma-3-270M Q4_K_M with its token table paged at a lowered binding limit", { timeout: 900_000 }, async (t) => {
  const page = await openPage(t, env);
  const [c0] = reference("gemma3-270m-Q4_K_M");
  const n = c0.fp32_agrees_until;
  const r = ok(
    await inPage(
      page,
      async ({ c0, n }) => {
        const engine = await Hearth.load("/models/gemma-3-270m-Q4_K_M.gguf", {
          f16: false,
          contextLength: 256,
          limits: { maxStorageBufferBindingSize: 64 << 20 },
        });
        const info = await engine.info();
        const out = await engine.completions.create({
          prompt: c0.prompt,
          temperature: 0,
          max_tokens: n,
          return_token_ids: true,
        });
        return { info, out };
      },
      { c0, n },
    ),
  );
  assert.equal(r.info.adapter.max_storage_binding, 64 * MiB);
  assert.deepEqual(r.out.prompt_token_ids, c0.prompt_ids, "BOS added as the file asks");
  assert.deepEqual(r.out.choices[0].token_ids, c0.greedy_ids.slice(0, n));
  assert.equal(r.info.chat_template, "built-in gemma");
});

test("a local File loads like a URL and is never fetched again", { timeout: 600_000 }, async (t) => {
  const page = await openPage(t, env);
  const [c0] = reference("smollm2-Q4_0");
  await fetch(`${env.server.url}/__reset`);
  const r = ok(
    await inPage(
      page,
      async ({ c0 }) => {
        const blob = await (await fetch("/models/SmolLM2-135M-Instruct.Q4_0.gguf")).blob();
        const file = new File([blob], "SmolLM2-135M-Instruct.Q4_0.gguf");
        const engine = await Hearth.load(file);
        const out = await engine.completions.create({
          prompt: c0.prompt,
          temperature: 0,
          max_tokens: 6,
          return_token_ids: true,
        });
        return { out };
      },
      { c0 },
    ),
  );
  assert.deepEqual(r.out.choices[0].token_ids, c0.greedy_ids.slice(0, 6));
  const stats = await (await fetch(`${env.server.url}/__stats`)).json();
  assert.equal(stats["/models/SmolLM2-135M-Instruct.Q4_0.gguf"].requests, 1, "only the page's own fetch");
});

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
  "SmolLM2 F16 gives all 32 greedy ids of both reference cases, whole and streamed",
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
          // Case 0: a text completion, whole.
          const text = await engine.completions.create({ prompt: c0.prompt, ...greedy });
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
    assert.deepEqual(r.text.choices[0].token_ids, c0.greedy_ids);
    assert.equal(r.text.choices[0].text, c0.text);
    assert.equal(r.text.choices[0].finish_reason, "length");
    assert.equal(r.text.usage.completion_tokens, 32);

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
  "SmolLM2 Q8_0: reference ids, flat wasm memory, progress, abort within one token, cached turns",
  { timeout: 900_000 },
  async (t) => {
    const page = await openPage(t, env);
    const [c0] = reference("smollm2-Q8_0");
    const n = c0.fp32_agrees_until;
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
              engine.abort();
            }
          }
          // The engine goes on: a first turn, then a second one that extends it.
          const turn1 = [{ role: "user", content: "Name a colour." }];
          const a1 = await engine.chat.completions.create({ messages: turn1, temperature: 0, max_tokens: 4 });
          const turn2 = [...turn1, a1.choices[0].message, { role: "user", content: "And another one?" }];
          const a2 = await engine.chat.completions.create({ messages: turn2, temperature: 0, max_tokens: 4 });
          return { progress, info, text, chunks, atAbort, a1, a2 };
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

    // The requests after the abort work, and the second turn reuses the first one's cache.
    assert.equal(r.a1.choices[0].finish_reason, "length");
    assert.equal(r.a1.usage.completion_tokens, 4);
    assert.ok(r.a2.usage.prompt_tokens_details.cached_tokens >= r.a1.usage.prompt_tokens, JSON.stringify(r.a2.usage));
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

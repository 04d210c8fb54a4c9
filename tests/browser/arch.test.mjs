// Every architecture family through the public JS API in the browser (WebGPU on SwiftShader,
// the f32 path), against llama.cpp: one random-weight file per family (tests/arch), its prompt
// tokenized as llama.cpp does and its greedy ids (16; 32 for LFM2 and Qwen3.5, whose conv layers
// and delta nets carry state from step to step).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { inPage, ok, openPage, repo, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

/** llama.cpp's cases for fixture `name` (tests/arch/reference). */
function archReference(name) {
  return JSON.parse(readFileSync(path.join(repo, "tests/arch/reference", `${name}.json`), "utf8")).cases;
}

const FILES = [
  "llama3-tied-f32",
  "qwen2-nobias-tied-f32",
  "phi4-mini-longrope-tied-f32",
  "gpt2-tied-f32",
  "falcon-7b-tied-f32",
  "bloom-tied-f32",
  "lfm2-tied-f32",
  "qwen35-tied-f32",
  "gemma4-e2b-tied-f32",
];

test("one file per architecture family gives llama.cpp's greedy ids", { timeout: 900_000 }, async (t) => {
  const page = await openPage(t, env);
  for (const name of FILES) {
    for (const c of archReference(name)) {
      const r = ok(
        await inPage(
          page,
          async ({ url, c }) => {
            const engine = await Hearth.load(url, { contextLength: c.n_ctx, store: false, f16: false });
            const info = await engine.info();
            const reply = await engine.completions.create({
              prompt: c.prompt,
              temperature: 0,
              max_tokens: c.greedy_ids.length,
              ignore_eos: true,
              return_token_ids: true,
            });
            await engine.unload();
            return { info, reply };
          },
          { url: `/models/arch/${name}.gguf`, c },
        ),
      );
      const what = `${name} (context ${c.n_ctx})`;
      assert.equal(r.info.precision, "f32", what);
      assert.deepEqual(r.reply.prompt_token_ids, c.prompt_ids, `${what}: prompt ids`);
      assert.deepEqual(r.reply.choices[0].token_ids, c.greedy_ids, `${what}: greedy ids`);
      console.log(`${what}: ${c.greedy_ids.length} greedy ids equal llama.cpp's in the browser`);
    }
  }
});

test("the chat page offers only architectures verified against llama.cpp", async () => {
  const { CATALOG } = await import("../../www/catalog.js");
  // Real weights (tests/model.rs, generation.test.mjs) and random weights (tests/arch.rs, above).
  const verified = new Set([
    "llama",
    "gemma3",
    "qwen2",
    "qwen3",
    "phi3",
    "gpt2",
    "falcon",
    "bloom",
    "lfm2",
    "qwen35",
    "gemma4",
  ]);
  for (const preset of CATALOG) {
    assert.ok(verified.has(preset.arch), `${preset.id}: architecture ${preset.arch} is not verified`);
  }
  for (const arch of ["phi3", "qwen3"]) {
    assert.ok(
      CATALOG.some((p) => p.arch === arch),
      `no ${arch} preset`,
    );
  }
});

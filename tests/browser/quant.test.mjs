// Files llama.cpp's own quantizer made (tests/quant: SmolLM2 Q5_K_M, which is mostly Q5_1 with
// Q5_K, Q6_K and Q8_0; IQ4_XS, mostly IQ4_NL; and BF16) through the public JS API on SwiftShader's WebGPU: llama.cpp's
// prompt ids and its greedy ids for as long as the fp32 forward pass agrees with them (up to
// 16), on both reference prompts (the f32 path; the native suite checks the logits).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { CASE1_MESSAGES, inPage, ok, openPage, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

const reference = (ty) =>
  JSON.parse(readFileSync(new URL(`../quant/reference/smollm2-${ty}.json`, import.meta.url), "utf8")).cases;

for (const ty of ["Q5_K_M", "IQ4_XS", "BF16"]) {
  test(`SmolLM2 ${ty} from llama.cpp's quantizer gives llama.cpp's greedy ids`, { timeout: 900_000 }, async (t) => {
    const page = await openPage(t, env);
    const [c0, c1] = reference(ty);
    // At least one id per case: the first is llama.cpp's pick even where fp32 disagrees later.
    // At most 16: SwiftShader decodes about a token a second, and the native suite compares
    // every id and the logits of both cases.
    const n = [c0, c1].map((c) => Math.min(16, Math.max(1, c.fp32_agrees_until)));
    const r = ok(
      await inPage(
        page,
        async ({ url, c0, messages, n }) => {
          const engine = await Hearth.load(url, { f16: false, store: false });
          const greedy = { temperature: 0, ignore_eos: true, return_token_ids: true };
          const text = await engine.completions.create({ prompt: c0.prompt, max_tokens: n[0], ...greedy });
          const chat = await engine.chat.completions.create({ messages, max_tokens: n[1], ...greedy });
          const info = await engine.info();
          await engine.unload();
          return { text, chat, info };
        },
        { url: `/models/SmolLM2-135M-Instruct.${ty}.gguf`, c0, messages: CASE1_MESSAGES, n },
      ),
    );
    console.log(`${ty}: ${r.info.weight_types.join(", ")}; ${n[0]} and ${n[1]} greedy ids compared`);
    assert.deepEqual(r.text.prompt_token_ids, c0.prompt_ids);
    assert.deepEqual(r.text.choices[0].token_ids, c0.greedy_ids.slice(0, n[0]));
    assert.deepEqual(r.chat.prompt_token_ids, c1.prompt_ids);
    assert.deepEqual(r.chat.choices[0].token_ids, c1.greedy_ids.slice(0, n[1]));
  });
}

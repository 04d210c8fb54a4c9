// One request layer: the same request gives the same tokens from the native CLI (wgpu on
// Vulkan) and from the page (WebGPU in Chromium), both on the f32 path.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { inPage, nativeResponses, ok, openPage, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

test("the CLI and the browser give the same ids for the same sampled request", { timeout: 600_000 }, async (t) => {
  const model = "SmolLM2-135M-Instruct.Q4_0.gguf";
  const request = {
    messages: [
      { role: "system", content: "You are a poet." },
      { role: "user", content: "Write a haiku about the sea." },
    ],
    temperature: 0.9,
    top_k: 40,
    top_p: 0.95,
    min_p: 0.05,
    seed: 42,
    max_tokens: 12,
    return_token_ids: true,
  };
  const [native] = await nativeResponses(model, [request]);

  const page = await openPage(t, env);
  const web = ok(
    await inPage(
      page,
      async ({ url, request }) => {
        const engine = await Hearth.load(url);
        return engine.chat.completions.create(request);
      },
      { url: `/models/${model}`, request },
    ),
  );
  assert.deepEqual(web.prompt_token_ids, native.prompt_token_ids);
  assert.deepEqual(web.choices[0].token_ids, native.choices[0].token_ids);
  assert.equal(web.choices[0].message.content, native.choices[0].message.content);
  assert.equal(web.choices[0].token_ids.length, 12);
  console.log(
    `CLI and browser: ${JSON.stringify(web.choices[0].message.content)} (${web.choices[0].token_ids.length} ids equal)`,
  );
});

// One request layer: the same request gives the same tokens from the native CLI (wgpu on
// Vulkan) and from the page (WebGPU in Chromium), both on the f32 path.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";

import { inPage, modelsDir, ok, openPage, repo, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

function hearthBinary() {
  const candidates = [
    process.env.HEARTH_BIN,
    path.join(repo, "target/debug/hearth"),
    path.join(repo, "target/release/hearth"),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  assert.ok(found, "the hearth CLI is not built: run cargo build --bin hearth (./build.sh test does)");
  return found;
}

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
  const dir = mkdtempSync(path.join(os.tmpdir(), "hearth-cli-"));
  const file = path.join(dir, "request.json");
  writeFileSync(file, JSON.stringify(request));
  const { stdout } = await promisify(execFile)(
    hearthBinary(),
    ["run", "-m", path.join(modelsDir, model), "--request", file, "--json", "--f32", "--ctx", "2048"],
    { maxBuffer: 16 << 20 },
  );
  const native = JSON.parse(stdout.trim().split("\n").at(-1));

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

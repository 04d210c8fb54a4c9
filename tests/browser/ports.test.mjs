// Drop-in for code people already have: an app written for WebLLM (its get-started flow) and
// one written against the openai npm client, each ported by changing two lines — the import and
// the engine's creation — and nothing else. The originals type-check against their own
// libraries' declarations (so they are real WebLLM and openai code); the ports type-check against
// the npm package's, are bundled by esbuild and run in Chromium, and every reply they show is the
// native engine's (`hearth run`) for the same request and seed.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import { after, before, test } from "node:test";

import { installPackage, loggedPage, nativeResponses, setUp } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const MODEL = "SmolLM2-135M-Instruct.Q4_0.gguf";
const LOAD = `const engine = await Hearth.load("/models/${MODEL}", { initProgressCallback });`;

/** Each app, and the two lines its port replaces (the whole line each). */
const PORTS = {
  webllm: {
    file: "webllm-app.ts",
    lines: [
      ['import { CreateMLCEngine } from "@mlc-ai/web-llm";', 'import { Hearth } from "hearth-webgpu";'],
      ["const engine = await CreateMLCEngine(selectedModel, { initProgressCallback });", LOAD],
    ],
  },
  openai: {
    file: "openai-app.ts",
    lines: [
      ['import OpenAI from "openai";', 'import { Hearth } from "hearth-webgpu";'],
      [
        'const client = new OpenAI({ baseURL: "http://127.0.0.1:8000/v1", apiKey: "unused", dangerouslyAllowBrowser: true });',
        `const client = await Hearth.load("/models/${MODEL}");`,
      ],
    ],
  },
};

let app; // the fresh folder the package is installed in, with the apps and their ports
let env;

before(async () => {
  app = installPackage();
  // The originals' libraries, for their declarations only (the ports import their types too).
  mkdirSync(path.join(app, "node_modules/@mlc-ai"), { recursive: true });
  for (const lib of ["openai", "@mlc-ai/web-llm"]) {
    symlinkSync(path.join(here, "node_modules", lib), path.join(app, "node_modules", lib));
  }
  for (const [name, { file, lines }] of Object.entries(PORTS)) {
    const original = readFileSync(path.join(here, "ports", file), "utf8");
    copyFileSync(path.join(here, "ports", file), path.join(app, file));
    let port = original.split("\n");
    for (const [from, to] of lines) {
      const at = port.indexOf(from);
      assert.ok(at >= 0, `${file} has no line ${from}`);
      port[at] = to;
    }
    writeFileSync(path.join(app, `${name}-port.ts`), port.join("\n"));
  }
  env = await setUp({ root: app });
});
after(async () => {
  await env?.browser.close();
  await env?.server.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

const tsc = (file, ...flags) =>
  spawnSync(
    path.join(here, "node_modules/.bin/tsc"),
    ["--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"].concat([
      "--lib",
      "es2022,dom,dom.asynciterable",
      ...flags,
      file,
    ]),
    { cwd: app, encoding: "utf8" },
  );

test("the originals type-check against WebLLM's and openai's declarations, their ports against hearth's", () => {
  for (const [name, { file }] of Object.entries(PORTS)) {
    // The libraries' own declarations are theirs to check (--skipLibCheck); hearth's are
    // checked whole by package.test.mjs.
    const original = tsc(file, "--skipLibCheck");
    assert.equal(original.status, 0, `${file}: ${original.stdout}${original.stderr}`);
    const port = tsc(`${name}-port.ts`, "--skipLibCheck");
    assert.equal(port.status, 0, `${name}-port.ts: ${port.stdout}${port.stderr}`);
    // The port is the original with two lines changed.
    const a = readFileSync(path.join(app, file), "utf8").split("\n");
    const b = readFileSync(path.join(app, `${name}-port.ts`), "utf8").split("\n");
    assert.equal(a.length, b.length);
    assert.equal(a.filter((line, i) => line !== b[i]).length, 2);
  }
});

/** Bundles the port `name` with esbuild, opens it, and returns what it showed (label → text)
 *  and the requests it sent to the engine, as the worker received them. */
async function runPort(t, name) {
  const out = path.join(app, `dist-${name}`);
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: { app: `${name}-port.ts`, worker: "node_modules/hearth-webgpu/worker.js" },
    bundle: true,
    format: "esm",
    target: "es2022",
    outdir: out,
    logLevel: "error",
  });
  copyFileSync(path.join(app, "node_modules/hearth-webgpu/pkg/hearth_bg.wasm"), path.join(out, "hearth_bg.wasm"));
  writeFileSync(path.join(out, "index.html"), `<!doctype html><script type="module" src="./app.js"></script>`);

  const page = await loggedPage(t, env.browser);
  // What the engine was asked: every chat or completion request posted to its worker.
  await page.addInitScript(() => {
    window.sentRequests = [];
    const post = Worker.prototype.postMessage;
    Worker.prototype.postMessage = function (message, ...rest) {
      if (message?.op === "chat" || message?.op === "complete")
        window.sentRequests.push(structuredClone(message.request));
      return post.call(this, message, ...rest);
    };
  });
  // The app's own failure ends the wait at once (it would show nothing more).
  const failed = new Promise((_, reject) => page.on("pageerror", (e) => reject(new Error(`${name}: ${e.message}`))));
  await page.goto(`${env.server.url}/dist-${name}/index.html`);
  await Promise.race([page.waitForSelector('[data-label="done"]', { timeout: 600_000 }), failed]);
  const shown = await page.$$eval("[data-label]", (els) =>
    Object.fromEntries(els.map((e) => [e.dataset.label, e.textContent])),
  );
  const requests = await page.evaluate(() => window.sentRequests);
  return { shown, requests };
}

const usageLine = (r) => `${r.usage.prompt_tokens} + ${r.usage.completion_tokens} tokens`;

test("WebLLM's get-started flow, ported: each reply is the native engine's", { timeout: 900_000 }, async (t) => {
  const { shown, requests } = await runPort(t, "webllm");
  assert.equal(requests.length, 4, JSON.stringify(requests));
  const native = await nativeResponses(MODEL, requests);
  const text = native.map((r) => r.choices[0].message.content);
  console.log(JSON.stringify({ shown, native: text }));

  // The reply at once, and its usage.
  assert.equal(shown.reply, text[0]);
  assert.equal(shown["reply-usage"], usageLine(native[0]));
  // The next turn: getMessage() gave the first reply back into the history; streamed, with
  // usage in the last chunk; getMessage() then gives the streamed text.
  assert.deepEqual(requests[1].messages[2], { role: "assistant", content: text[0] });
  assert.equal(shown.stream, text[1]);
  assert.equal(shown["get-message"], text[1]);
  assert.equal(shown["stream-usage"], usageLine(native[1]));
  assert.match(shown.stats, /^prefill: \d+\.\d tokens\/s, decoding: \d+\.\d tokens\/s$/);
  // interruptGenerate() after the third chunk: the reply stops there, a prefix of the native
  // engine's 16 tokens, with WebLLM's finish reason.
  assert.equal(native[2].usage.completion_tokens, 16);
  assert.ok(shown.interrupted.length > 0 && text[2].startsWith(shown.interrupted), shown.interrupted);
  assert.ok(shown.interrupted.length < text[2].length, "the story was not interrupted");
  assert.equal(shown["interrupted-finish"], "abort");
  // resetChat(), then the first question again: the first reply again.
  assert.deepEqual(requests[3], requests[0]);
  assert.equal(shown["after-reset"], text[0]);
  assert.match(shown.init, /^Compiling kernels: (\d+) of \1$/);
});

test(
  "an app written against the openai client, ported: each reply is the native engine's",
  { timeout: 900_000 },
  async (t) => {
    const { shown, requests } = await runPort(t, "openai");
    assert.equal(requests.length, 3, JSON.stringify(requests));
    const native = await nativeResponses(MODEL, requests);
    console.log(
      JSON.stringify({ shown, native: native.map((r) => r.choices[0].message?.content ?? r.choices[0].text) }),
    );

    assert.equal(shown.completion, native[0].choices[0].message.content);
    assert.equal(shown["completion-usage"], usageLine(native[0]));
    // The reply went back into the history as it came (with OpenAI's `refusal: null`).
    assert.deepEqual(requests[1].messages[2], native[0].choices[0].message);
    assert.equal(shown.stream, native[1].choices[0].message.content);
    assert.equal(shown["stream-usage"], usageLine(native[1]));
    assert.equal(shown.legacy, native[2].choices[0].text);
  },
);

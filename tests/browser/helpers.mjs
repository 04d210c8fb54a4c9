// Shared set-up of the browser tests: the server, headless Chromium with WebGPU on
// SwiftShader (flags from ../shared/BROWSER.md), pages with the public JS API, references.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { chromium } from "playwright-core";

import { startServer } from "./server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
export const repo = path.resolve(here, "../..");
export const modelsDir = process.env.HEARTH_MODELS ?? path.join(repo, "models");
const referenceDir = process.env.HEARTH_REFERENCE ?? path.join(repo, "../shared/reference");

export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu-sandbox",
  "--enable-unsafe-webgpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-quic",
];

/** The server (serving `root`, www/ by default) and the browser, for one test file. */
export async function setUp({ root } = {}) {
  const server = await startServer({ root, models: modelsDir });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS,
  });
  return { server, browser };
}

/** A new page of `browser` (Playwright `options`), closed after test `t`; its console is
 *  kept and printed if the test fails. */
export async function loggedPage(t, browser, options = {}) {
  const page = await browser.newPage(options);
  const log = [];
  page.on("console", (m) => log.push(`[console.${m.type()}] ${m.text()}`));
  page.on("pageerror", (e) => log.push(`[pageerror] ${e.message}`));
  t.after(async () => {
    if (!t.passed) for (const line of log) console.error(line);
    await page.close();
  });
  return page;
}

/** A fresh page with `window.Hearth`; its console is kept and printed if the test fails. */
export async function openPage(t, { server, browser }) {
  const page = await loggedPage(t, browser);
  await page.goto(`${server.url}/test/page.html`);
  await page.waitForFunction(() => window.hearthReady === true);
  return page;
}

/** The cases of a reference file of ../shared/reference (MODELS.md). */
export function reference(name) {
  return JSON.parse(readFileSync(path.join(referenceDir, `${name}.json`), "utf8")).cases;
}

/** Reference case 1's system and user messages (SmolLM2's ChatML prompt). */
export const CASE1_MESSAGES = [
  { role: "system", content: "You are a helpful AI assistant named SmolLM, trained by Hugging Face" },
  { role: "user", content: "What is the capital of France?" },
];

/** Runs `fn(args)` in the page and returns its result; errors come back as {code, message}. */
export async function inPage(page, fn, args) {
  return page.evaluate(
    async ({ src, args }) => {
      // eslint-disable-next-line no-new-func
      const f = new Function(`return (${src})`)();
      try {
        return { ok: await f(args) };
      } catch (e) {
        return { error: { code: e.code, message: e.message, name: e.name } };
      }
    },
    { src: fn.toString(), args },
  );
}

/** The value of an `inPage` result, or a failure with the page's error. */
export function ok(result) {
  if (result.error) throw new Error(`in the page: ${result.error.code}: ${result.error.message}`);
  return result.ok;
}

export const MiB = 1 << 20;

/** A fresh folder with the npm package (`HEARTH_PACKAGE`, the tarball `./build.sh package`
 *  makes) installed from its tarball as an app would install it. A missing package is a
 *  failure, never a skip. */
export function installPackage() {
  const tarball = process.env.HEARTH_PACKAGE;
  assert.ok(tarball, "HEARTH_PACKAGE names the tarball (./build.sh package makes it)");
  const app = mkdtempSync(path.join(tmpdir(), "hearth-package-"));
  writeFileSync(path.join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  const npm = spawnSync("npm", ["install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", tarball], {
    cwd: app,
    encoding: "utf8",
  });
  assert.equal(npm.status, 0, npm.stderr);
  return app;
}

/** The `hearth` CLI's path (HEARTH_BIN, or a cargo build of it). */
export function hearthBinary() {
  const candidates = [
    process.env.HEARTH_BIN,
    path.join(repo, "target/debug/hearth"),
    path.join(repo, "target/release/hearth"),
  ];
  const found = candidates.find((p) => p && existsSync(p));
  assert.ok(found, "the hearth CLI is not built: run cargo build --bin hearth (./build.sh test does)");
  return found;
}

/** The native engine's responses to `requests`, one after another on one load of `model` (a
 *  file of the models folder): `hearth run --request … --json --f32`, as the browser's
 *  SwiftShader runs f32. */
export async function nativeResponses(model, requests, { contextLength = 2048 } = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), "hearth-native-"));
  try {
    const args = ["run", "-m", path.join(modelsDir, model), "--json", "--f32", "--ctx", String(contextLength)];
    requests.forEach((r, i) => {
      const file = path.join(dir, `request-${i}.json`);
      writeFileSync(file, JSON.stringify(r));
      args.push("--request", file);
    });
    const { stdout } = await promisify(execFile)(hearthBinary(), args, { maxBuffer: 16 << 20 });
    const responses = stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    assert.equal(responses.length, requests.length, stdout);
    return responses;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

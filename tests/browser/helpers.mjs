// Shared set-up of the browser tests: the server, headless Chromium with WebGPU on
// SwiftShader (flags from ../shared/BROWSER.md), pages with the public JS API, references.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

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

// <hearth-chat> (www/hearth-chat.js): a page with only the script and the tag
// (tests/browser/hearth-chat.html) checks the GPU, loads the model, streams replies, stops one,
// and keeps a hostile reply — HTML the model itself writes, forced by a grammar — as text; at
// 360 px and 1280 px. Screenshots go to target/screenshots/.
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { loggedPage, repo, setUp } from "./helpers.mjs";

const SHOTS = path.join(repo, "target", "screenshots");
let env;
before(async () => {
  env = await setUp();
  mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

const state = (page) => page.locator("hearth-chat").getAttribute("data-state");

// Sends `text` with Enter and waits for the reply to end; returns the last reply's text.
async function ask(page, text, request) {
  await page.locator("hearth-chat").evaluate((el, r) => (el.request = r), request);
  await page.locator("hearth-chat textarea").fill(text);
  await page.locator("hearth-chat textarea").press("Enter");
  await page.waitForFunction(() => document.querySelector("hearth-chat").dataset.state === "replying");
  await page.waitForFunction(() => document.querySelector("hearth-chat").dataset.state !== "replying", null, {
    timeout: 300_000,
  });
  return page.locator("hearth-chat .msg.assistant").last().textContent();
}

test(
  "<hearth-chat>: one script and one tag, streamed replies, stop, hostile text, 360 px",
  { timeout: 900_000 },
  async (t) => {
    const page = await loggedPage(t, env.browser, { viewport: { width: 360, height: 740 } });
    await page.goto(`${env.server.url}/test/hearth-chat.html`);
    // The GPU check passes, then the load shows its progress.
    await page.waitForFunction(() =>
      document.querySelector("hearth-chat")?.shadowRoot?.querySelector(".status progress"),
    );
    await page.screenshot({ path: path.join(SHOTS, "hearth-chat-loading.png") });
    await page.waitForFunction(() => document.querySelector("hearth-chat")?.dataset.state === "ready", null, {
      timeout: 300_000,
    });
    assert.match(await page.locator("hearth-chat .status").textContent(), /runs in this browser/);
    assert.equal(await page.locator("hearth-chat textarea").getAttribute("placeholder"), "Ask SmolLM2 anything");

    // A streamed reply.
    const first = await ask(page, "What is the capital of France?", { temperature: 0, max_tokens: 6 });
    assert.equal(await state(page), "ready");
    assert.ok(first.trim().length > 0, first);

    // Stop: a long reply ends early and the box takes the next message.
    await page.locator("hearth-chat").evaluate((el) => (el.request = { max_tokens: 300, ignore_eos: true }));
    await page.locator("hearth-chat textarea").fill("Tell me a long story.");
    await page.locator("hearth-chat textarea").press("Enter");
    await page.waitForFunction(
      () =>
        (document.querySelector("hearth-chat").shadowRoot.querySelector(".msg.assistant:last-child")?.textContent ?? "")
          .length > 10,
      null,
      { timeout: 300_000 },
    );
    assert.equal(await page.locator("hearth-chat button").textContent(), "Stop");
    await page.locator("hearth-chat button").click();
    await page.waitForFunction(() => document.querySelector("hearth-chat").dataset.state === "ready", null, {
      timeout: 60_000,
    });
    assert.equal(await page.locator("hearth-chat button").textContent(), "Send");
    assert.equal(await page.locator("hearth-chat .msg.assistant .note").last().textContent(), "stopped");

    // The model's own reply is HTML (a grammar holds it to these characters): it stays text, as
    // does a user's message with HTML in it.
    const hostile = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> <b>bold</b>';
    const grammar = `start: ${JSON.stringify(hostile)}`;
    const reply = await ask(page, 'What does <img src=x onerror="window.__xss=3"> do?', {
      response_format: { type: "grammar", grammar },
      max_tokens: 80,
    });
    assert.equal(reply, hostile, `${await state(page)}: ${await page.locator("hearth-chat .status").textContent()}`);
    const dom = await page.evaluate(() => ({
      xss: window.__xss ?? null,
      elements: document
        .querySelector("hearth-chat")
        .shadowRoot.querySelectorAll(".messages img, .messages script, .messages b").length,
    }));
    assert.deepEqual(dom, { xss: null, elements: 0 });

    // 360 px: nothing wider than the screen.
    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      chat: document.querySelector("hearth-chat").getBoundingClientRect().width,
    }));
    assert.ok(widths.page <= 360 && widths.chat <= 360, JSON.stringify(widths));
    await page.screenshot({ path: path.join(SHOTS, "hearth-chat-360.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
    await page.screenshot({ path: path.join(SHOTS, "hearth-chat-1280.png"), fullPage: true });
  },
);

// The chat page end to end, as `./build.sh serve` serves it, driven through its UI: the default
// model gives llama.cpp's reply, stop interrupts and the chat goes on, model text is never
// HTML, the inspector, an error, a reload that loads from storage, and a browser without
// WebGPU. Screenshots go to target/screenshots/.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { chromium } from "playwright-core";

import { CASE1_MESSAGES, CHROMIUM_ARGS, loggedPage, reference, repo, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

const MODEL = "/models/SmolLM2-135M-Instruct.Q4_0.gguf";
const SHOTS = path.join(repo, "target", "screenshots");
mkdirSync(SHOTS, { recursive: true });
const shot = (page, name) => page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });

/** A page of the site at `width` px, its console kept and printed if the test fails. */
async function openSite(t, browser, { width = 1280, height = 860 } = {}) {
  const page = await loggedPage(t, browser, { viewport: { width, height } });
  await page.goto(`${env.server.url}/`);
  return page;
}

/** Types `text` into the composer, sends it with Enter, and waits for the reply to finish. */
async function send(page, text) {
  const before = await page.locator(".msg.assistant").count();
  await page.fill("#input", text);
  await page.press("#input", "Enter");
  await page.waitForFunction((n) => document.querySelectorAll(".msg.assistant").length > n, before);
  const reply = page.locator(".msg.assistant").last();
  await page.waitForFunction(() => !document.querySelector(".msg.streaming"), null, { timeout: 300_000 });
  return reply;
}

async function settings(page, values) {
  await page.locator("#settings summary").click();
  for (const [id, value] of Object.entries(values)) await page.fill(`#${id}`, String(value));
  await page.locator("#settings summary").click();
}

test("the chat page: the default model, llama.cpp's reply, stop, regenerate, safe text, inspector, reload", async (t) => {
  const page = await openSite(t, env.browser);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  assert.match(await page.textContent("#verdict"), /77\.6 MB · llama · 135M parameters · needs .* GPU memory/);

  // Load the default model through the UI.
  env.server.resetStats();
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  assert.match(await page.textContent("#loaded"), /from the network/);

  // Reference case 1: its system and user messages, temperature 0.
  const [system, user] = CASE1_MESSAGES;
  // 16 tokens (SwiftShader decodes ~1 token/s): the reply is a prefix of llama.cpp's 32.
  await settings(page, { system: system.content, temperature: 0, "max-tokens": 16 });
  const ref = reference("smollm2-Q4_0")[1];
  assert.equal(ref.fp32_agrees_until, 32);
  const first = await send(page, user.content);
  const text = await first.getAttribute("data-raw");
  console.log(`reply: ${JSON.stringify(text)}`);
  assert.ok(
    ref.text.startsWith(text) && text.length > 40,
    `the reply is the start of llama.cpp's 32 greedy tokens: ${JSON.stringify(ref.text)}`,
  );
  assert.match(await first.locator(".stats").textContent(), /\d+ tokens · first after [\d.]+ s · [\d.]+ tok\/s/);
  await shot(page, "reply-desktop");
  await page.setViewportSize({ width: 390, height: 844 });
  await shot(page, "reply-phone");
  await page.setViewportSize({ width: 1280, height: 860 });

  // Continue: the cut reply goes on in its bubble, still llama.cpp's greedy text.
  await settings(page, { "max-tokens": 8 });
  assert.equal(await first.getAttribute("data-finish"), "length");
  await first.locator('[data-action="continue"]').click();
  await page.waitForFunction(
    (before) => {
      const reply = document.querySelector(".msg.assistant");
      return reply.dataset.raw.length > before && !reply.classList.contains("streaming");
    },
    text.length,
    { timeout: 300_000 },
  );
  const continued = await first.getAttribute("data-raw");
  console.log(`continued: ${JSON.stringify(continued)}`);
  assert.equal(await page.locator(".msg.assistant").count(), 1, "the same reply went on");
  assert.ok(continued.length > text.length && ref.text.startsWith(continued), JSON.stringify(continued));

  // Regenerate at temperature 0 gives the same reply again.
  await page.click("#regenerate");
  await page.waitForFunction(() =>
    document.querySelector(".msg.assistant:last-child .stats")?.textContent.includes("tok/s"),
  );
  const again = await page.locator(".msg.assistant").last().getAttribute("data-raw");
  assert.equal(await page.locator(".msg.assistant").count(), 1, "the reply was replaced");
  assert.ok(ref.text.startsWith(again) && again.length > 10, JSON.stringify(again));

  // Stop (Esc) interrupts a long reply; the next message works.
  await settings(page, { "max-tokens": 400, temperature: 0.7 });
  await page.fill("#input", "Tell me a long story about a dragon who learns to bake bread.");
  await page.press("#input", "Enter");
  // (Its prompt's prefill alone takes ~20 s on SwiftShader, more on a busy machine.)
  await page.waitForFunction(() => (document.querySelector(".msg.streaming")?.dataset.raw ?? "").length > 20, null, {
    timeout: 180_000,
  });
  await page.keyboard.press("Escape"); // Esc stops, as the Stop button does
  await page.waitForFunction(() => !document.querySelector(".msg.streaming"));
  const stopped = page.locator(".msg.assistant").last();
  assert.equal(await stopped.getAttribute("data-finish"), "abort");
  assert.match(await stopped.locator(".stats").textContent(), /stopped/);
  await settings(page, { "max-tokens": 6 });
  const next = await send(page, "Thanks! Now say hello.");
  assert.ok((await next.getAttribute("data-raw")).length > 0);
  assert.match(await next.locator(".stats").textContent(), /\d+ tokens/);

  // Model text is text: a reply with HTML in it creates no element and runs nothing.
  const hostile =
    'Try <img src=x onerror="window.__xss=1"> and <script>window.__xss=2</script> and ```\n<b>code</b>\n```';
  await page.evaluate((text) => {
    const bubble = window.hearthPage.addBubble("assistant", "");
    window.hearthPage.showText(bubble, text);
  }, hostile);
  await settings(page, { "max-tokens": 2 });
  await send(page, 'What does <img src=x onerror="window.__xss=3"> do?');
  await page.waitForTimeout(500);
  const dom = await page.evaluate(() => ({
    xss: window.__xss ?? null,
    img: document.querySelectorAll("#messages img, #messages script, #messages b").length,
    text: document.getElementById("messages").textContent,
  }));
  assert.deepEqual([dom.xss, dom.img], [null, 0]);
  assert.ok(dom.text.includes('<img src=x onerror="window.__xss=1">') && dom.text.includes("<script>"));
  assert.ok(dom.text.includes("<b>code</b>"), "code blocks show their text");

  // "Reply in JSON": the reply follows the schema in the settings; a box that is not JSON is
  // refused with a sentence, before anything is generated.
  const schema = {
    type: "object",
    properties: { city: { type: "string", maxLength: 20 } },
    required: ["city"],
    additionalProperties: false,
  };
  await page.locator("#settings summary").click();
  await page.check("#json-mode");
  await page.fill("#json-schema", JSON.stringify(schema));
  await page.fill("#max-tokens", "40");
  await shot(page, "settings-json");
  await page.locator("#settings summary").click();
  const json = await send(page, "What is the capital of France?");
  const jsonText = await json.getAttribute("data-raw");
  console.log(`JSON reply: ${jsonText}`);
  assert.equal(await json.getAttribute("data-finish"), "stop");
  assert.deepEqual(Object.keys(JSON.parse(jsonText)), ["city"]);
  await shot(page, "reply-json");
  await settings(page, { "json-schema": "{not json" });
  await page.fill("#input", "And of Spain?");
  await page.press("#input", "Enter");
  await page.waitForSelector("#banner:not([hidden])");
  assert.equal(await page.getAttribute("#banner", "data-code"), "bad-request");
  assert.match(await page.textContent("#banner"), /JSON schema in the settings is not valid JSON/);
  await page.locator("#settings summary").click();
  await page.uncheck("#json-mode");
  await page.locator("#settings summary").click();

  // Tools: with "required" the reply is a call, shown as a card with its arguments; the
  // result typed under it goes back as a tool message and the model answers.
  await page.click("#clear");
  await page.locator("#settings summary").click();
  await page.check("#tools-mode");
  await page.selectOption("#tool-choice", "required");
  await page.fill("#max-tokens", "100");
  await page.fill("#temperature", "0");
  await page.locator("#settings summary").click();
  const called = await send(page, "What is the weather in Paris?");
  const cards = called.locator(".tool-call");
  console.log(`tool calls: ${await cards.count()}, ${await called.getAttribute("data-finish")}`);
  assert.equal(await called.getAttribute("data-finish"), "tool_calls");
  assert.equal(await cards.count(), 1);
  const card = cards.first();
  assert.match(await card.locator(".tool-name").textContent(), /get_weather/);
  const args = JSON.parse(await card.locator("pre").textContent());
  console.log(`tool call: get_weather(${JSON.stringify(args)})`);
  assert.equal(typeof args.city, "string");
  await shot(page, "reply-tool-call");
  await settings(page, { "max-tokens": 4 });
  await page.locator("#settings summary").click();
  await page.selectOption("#tool-choice", "auto");
  await page.locator("#settings summary").click();
  const before = await page.locator(".msg.assistant").count();
  await card.locator("input").fill('{"temperature": 18, "sky": "cloudy"}');
  await card.locator("button").click();
  await page.waitForFunction((n) => document.querySelectorAll(".msg.assistant").length > n, before);
  await page.waitForFunction(() => !document.querySelector(".msg.streaming"), null, { timeout: 300_000 });
  const answer = page.locator(".msg.assistant").last();
  console.log(`after the result: ${await answer.getAttribute("data-finish")} ${await answer.getAttribute("data-raw")}`);
  assert.equal(await page.locator(".msg.tool").count(), 1);
  assert.ok(["stop", "tool_calls", "length"].includes(await answer.getAttribute("data-finish")));
  await shot(page, "reply-after-tool-result");
  await page.locator("#settings summary").click();
  await page.uncheck("#tools-mode");
  await page.locator("#settings summary").click();

  // Clear empties the conversation.
  await page.click("#clear");
  assert.equal(await page.locator(".msg").count(), 0);

  // The inspector, from the header.
  await page.click("#inspect");
  await page.waitForSelector("#inspector-body section:nth-of-type(7)");
  const inspector = await page.textContent("#inspector-body");
  for (const want of ["llama.block_count", "gpt2", "<|im_start|>system", "Q4_0", "token_embd.weight", "KV cache"]) {
    assert.ok(inspector.includes(want), `the inspector shows ${want}`);
  }
  await shot(page, "inspector");
  await page.locator("#inspector-body section:nth-of-type(5)").scrollIntoViewIfNeeded();
  await shot(page, "inspector-template");
  await page.click("#inspector-close");

  // An error, as a sentence with what to do.
  await page.selectOption("#preset", "custom");
  await page.fill("#custom-url", `${env.server.url}/models/no-such-model.gguf`);
  await page.dispatchEvent("#custom-url", "change");
  await page.click("#load");
  await page.waitForSelector("#banner:not([hidden])");
  assert.equal(await page.getAttribute("#banner", "data-code"), "network");
  assert.match(await page.textContent("#banner"), /HTTP 404.*Check the connection and the URL/s);
  await shot(page, "error");

  // After a reload the model loads from storage: no request for the file.
  await page.reload();
  env.server.resetStats();
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  assert.match(await page.textContent("#stored"), /SmolLM2-135M-Instruct\.Q4_0\.gguf/);
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  assert.match(await page.textContent("#loaded"), /from browser storage/);
  assert.equal(env.server.stats()[MODEL]?.requests ?? 0, 0, JSON.stringify(env.server.stats()[MODEL]));
});

test("chats are kept in the browser: two chats, a reload, rename, export, delete; copy, regenerate, edit, delete a message", async (t) => {
  const page = await openSite(t, env.browser);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  // Two chats, each with its own settings and one exchange.
  await page.click("#new-chat");
  await settings(page, { system: "You are brief.", temperature: 0, "max-tokens": 4 });
  const firstReply = await send(page, "Hello there");
  const first = await firstReply.getAttribute("data-raw");
  assert.equal(await firstReply.getAttribute("data-finish"), "length", "4 greedy tokens cut the greeting");
  await page.click("#new-chat");
  assert.equal(await page.locator(".msg").count(), 0, "a new chat starts empty");
  await settings(page, { system: "You are terse.", temperature: 0.9, "max-tokens": 3, seed: 7, "min-p": 0.1 });
  await send(page, "Name a fruit.");

  // Per message: copy, regenerate a reply, edit a question and send it again.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: env.server.url });
  const reply = page.locator(".msg.assistant").last();
  await reply.locator('[data-action="copy"]').click();
  await page.waitForFunction(
    () => document.querySelector('.msg.assistant [data-action="copy"]').textContent === "Copied",
  );
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), await reply.getAttribute("data-raw"));
  await reply.locator('[data-action="regenerate"]').click();
  // The old reply left at the click; a reply with its stats is the new one.
  await page.waitForFunction(() => /\d+ tokens/.test(document.querySelector(".msg.assistant .stats")?.textContent));
  assert.equal(await page.locator(".msg").count(), 2, "the reply was replaced");
  await page.locator('.msg.user [data-action="edit"]').click();
  assert.equal(await page.inputValue("#input"), "Name a fruit.", "the question is back in the composer");
  assert.equal(await page.locator(".msg").count(), 0, "it and its reply left the chat");
  const second = await (await send(page, "Name a fruit.")).getAttribute("data-raw");
  const titles = () => page.locator("#chats .chat-title").allTextContents();
  await page.waitForFunction(
    () =>
      [...document.querySelectorAll("#chats .chat-title")]
        .slice(0, 2)
        .map((e) => e.textContent)
        .join("|") === "Name a fruit.|Hello there",
  );

  // After a reload both are there; the latest is open with its messages and settings.
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll("#chats li").length >= 2);
  await page.waitForFunction(() => document.querySelectorAll(".msg").length === 2);
  const shown = async () => ({
    texts: await page.locator(".msg").evaluateAll((els) => els.map((e) => e.dataset.raw)),
    system: await page.inputValue("#system"),
    temperature: await page.inputValue("#temperature"),
    maxTokens: await page.inputValue("#max-tokens"),
    seed: await page.inputValue("#seed"),
    minP: await page.inputValue("#min-p"),
  });
  assert.deepEqual(await shown(), {
    texts: ["Name a fruit.", second],
    system: "You are terse.",
    temperature: "0.9",
    maxTokens: "3",
    seed: "7",
    minP: "0.1",
  });
  await page.locator("#chats .chat-title", { hasText: "Hello there" }).click();
  assert.deepEqual(await shown(), {
    texts: ["Hello there", first],
    system: "You are brief.",
    temperature: "0",
    maxTokens: "4",
    seed: "",
    minP: "0.05",
  });
  // Its reply was cut by max tokens: Continue is offered after the reload too.
  assert.equal(await page.locator(".msg.assistant").last().getAttribute("data-finish"), "length");
  assert.ok(await page.locator('.msg.assistant [data-action="continue"]').isVisible(), "Continue is offered");
  assert.match(await page.textContent("#storage-use"), /conversations take \d+ kB/);

  // Rename, then export it as Markdown.
  await page.locator("#chats li.current button", { hasText: "Rename" }).click();
  await page.fill("#chats input.rename", "Greetings");
  await page.press("#chats input.rename", "Enter");
  await page.waitForFunction(
    () => document.querySelector("#chats li.current .chat-title")?.textContent === "Greetings",
  );
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-md")]);
  assert.equal(download.suggestedFilename(), "Greetings.md");
  const markdown = readFileSync(await download.path(), "utf8");
  console.log(markdown);
  assert.equal(
    markdown,
    `# Greetings\n\n**System:** You are brief.\n\n**User:**\n\nHello there\n\n**Assistant:**\n\n${first.trim()}\n`,
  );
  await shot(page, "chats");

  // Delete: the other chat opens.
  await page.locator("#chats li.current button", { hasText: "Delete" }).click();
  await page.waitForFunction(
    () => document.querySelector("#chats li.current .chat-title")?.textContent === "Name a fruit.",
  );
  assert.ok(!(await titles()).includes("Greetings"));
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll("#chats li").length >= 1);
  assert.ok(!(await titles()).includes("Greetings"), "deleted for good");

  // Deleting a message keeps the rest of its chat, across a reload too.
  await page.waitForFunction(() => document.querySelectorAll(".msg").length === 2);
  await page.locator('.msg.assistant [data-action="delete"]').click();
  assert.equal(await page.locator(".msg").count(), 1);
  await page.reload();
  await page.waitForFunction(() => document.querySelectorAll(".msg.user").length === 1);
  assert.equal(await page.locator(".msg").count(), 1, "the reply stays deleted");
  await shot(page, "message-actions");
});

test("offline after the first visit: the service worker serves the page, storage the model", async (t) => {
  const page = await openSite(t, env.browser);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  // The worker installed (the page's files cached) and controls the page.
  await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 60_000 });
  const manifest = await page.evaluate(async () => (await fetch("manifest.webmanifest")).json());
  assert.equal(manifest.start_url, "./");

  // No network: the page, its scripts and the wasm come from the worker's cache, the model
  // from browser storage, and nothing reaches the server.
  await page.context().setOffline(true); // the page's own context, closed with it
  env.server.resetStats();
  await page.reload();
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  assert.match(await page.textContent("#loaded"), /from browser storage/);
  await settings(page, { temperature: 0, "max-tokens": 2 });
  const reply = await send(page, "Hello?");
  assert.ok((await reply.getAttribute("data-raw")).length > 0, "a reply");
  // All but the browser's own update check of the worker's script, which Chromium makes outside
  // the page's network emulation (with the network really off it fails, and the registered
  // worker stays): the page's files were the worker's network-first fetches, so they too would
  // be listed had emulation let them through.
  const reached = Object.keys(env.server.stats()).filter((p) => p !== "/sw.js");
  assert.deepEqual(reached, [], "no request of the page reached the server");
  await shot(page, "offline");
});

test("a chat longer than a 256-token context keeps answering: the meter, the oldest turns left out", async (t) => {
  const page = await openSite(t, env.browser);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  await settings(page, { context: 256, temperature: 0, "max-tokens": 4 });
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  assert.match(await page.textContent("#loaded"), /256 tokens of context/);
  await page.click("#new-chat");
  console.log(`${(performance.now() / 1000).toFixed(1)} s: ${await page.textContent("#loaded")}`);
  // Earlier turns, as a saved chat would bring them back: a long first one, a short second;
  // with the next question more than the context holds. (SwiftShader prefills ~2 tokens/s:
  // what stays is kept short.)
  const long = Array.from({ length: 14 }, (_, i) => `Day ${i + 1}: I walk by the sea and look at the boats.`);
  await page.evaluate(
    (turns) => turns.forEach(([role, text]) => window.hearthPage.addMessage(role, text)),
    [
      ["user", `Here is my travel diary. ${long.join(" ")} What do you think of it?`],
      ["assistant", "It sounds like a calm and happy trip."],
      ["user", "Where should I go next?"],
      ["assistant", "Try the mountains."],
    ],
  );
  // The next question leaves out the oldest turn and is answered; so is the one after it.
  const used = [];
  for (const text of ["Why the mountains?", "Thanks!"]) {
    const reply = await send(page, text);
    assert.equal(await page.isVisible("#banner"), false, await page.textContent("#banner"));
    assert.ok((await reply.getAttribute("data-raw")).length > 0, `a reply to ${text}`);
    const line = await page.textContent("#context-text");
    const [, n, of] = line.match(/^(\d+) of (\d+) tokens of context/) ?? [];
    assert.equal(Number(of), 256, line);
    assert.ok(Number(n) <= 256, line);
    used.push(Number(n));
    console.log(`${(performance.now() / 1000).toFixed(1)} s: ${await reply.locator(".stats").textContent()}`);
  }
  console.log(`context used after each reply: ${used.join(", ")}; ${await page.textContent("#context-text")}`);
  const notices = await page.locator(".notice").allTextContents();
  assert.ok(notices.length >= 1, "the page says that turns were left out");
  assert.match(
    notices[0],
    /^\d+ earlier messages? (is|are) left out so that the conversation fits the 256-token context/,
  );
  const dropped = await page.locator(".msg.dropped").count();
  assert.ok(dropped >= 2, `${dropped} messages marked as left out`);
  assert.match(await page.textContent("#context-text"), new RegExp(`· ${dropped} earliest messages left out$`));
  assert.equal(await page.evaluate(() => document.getElementById("context-meter").max), 256);
  await shot(page, "long-chat");
  await page.setViewportSize({ width: 360, height: 780 });
  await shot(page, "long-chat-360");
});

test("a thinking model: its reasoning collapsed above the answer, never HTML", async (t) => {
  // SmolLM2 with a template that thinks as Qwen3's does (./build.sh models); a grammar in the
  // format setting makes it write what a thinking model writes, HTML inside its reasoning.
  const page = await loggedPage(t, env.browser, { viewport: { width: 1280, height: 860 } });
  await page.goto(`${env.server.url}/?model=models/SmolLM2-135M-Instruct.Q4_0.thinking.gguf`);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
  await page.click("#load");
  await page.waitForSelector("#loaded[data-ready]", { timeout: 300_000 });
  await page.click("#new-chat");
  const grammar = String.raw`start: "<think>\n<b>" /[a-z][a-z ]{2,23}/ "</b>\n</think>\n\n" /[A-Z][a-z ]{2,24}/ "."`;
  await page.locator("#settings summary").click();
  await page.check("#json-mode");
  await page.fill("#json-schema", grammar);
  await page.fill("#max-tokens", "48");
  await page.fill("#temperature", "0");
  await page.locator("#settings summary").click();
  const reply = await send(page, "What is 2+2?");
  assert.equal(await page.isVisible("#banner"), false, await page.textContent("#banner"));
  const box = reply.locator("details.reasoning");
  const [answer, thought, summary, open, elements] = await Promise.all([
    reply.getAttribute("data-raw"),
    box.locator(".text").textContent(),
    box.locator("summary").textContent(),
    box.evaluate((d) => d.open),
    page.evaluate(() => document.querySelectorAll("#messages b").length),
  ]);
  console.log(`reasoning ${JSON.stringify(thought)} (${summary}), answer ${JSON.stringify(answer)}`);
  assert.match(thought, /^<b>[a-z][a-z ]{2,23}<\/b>$/);
  assert.equal(elements, 0, "the reasoning's HTML stays text");
  assert.match(answer, /^[A-Z][a-z ]{2,24}\.$/);
  assert.equal(open, false, "collapsed");
  const words = thought.split(/\s+/).filter(Boolean).length;
  assert.match(summary, new RegExp(`^Reasoning · ${words} words? · \\d+\\.\\d s$`));
  await box.locator("summary").click();
  await shot(page, "reply-reasoning");
  await page.setViewportSize({ width: 360, height: 780 });
  await shot(page, "reply-reasoning-360");
});

test("a reply's Markdown: a table, lists, links, code with its language and Copy; no HTML, no script link, no image fetched", async (t) => {
  const page = await loggedPage(t, env.browser, { viewport: { width: 1280, height: 860 } });
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: env.server.url });
  await page.goto(`${env.server.url}/`);
  await page.waitForSelector("#verdict .fits", { timeout: 60_000 }); // the saved chats are shown by then
  const reply = [
    "## Tide tables",
    "",
    "| Port | High | Low |",
    "|:-----|-----:|:---:|",
    "| Brest | **6.1 m** | `0.9 m` |",
    "",
    "- spring tides",
    "- neap tides",
    "",
    "3. third",
    "4. fourth",
    "",
    "> Read the [tide guide](https://example.com/tides) first, or https://example.org/x.",
    "",
    "Do *not* [click](javascript:window.__xss=1) or [this](data:text/html,<script>alert(1)</script>) or [home](/).",
    'Raw <img src=x onerror="window.__xss=2"> and <script>window.__xss=3</script> and',
    '<a href="javascript:window.__xss=4">a tag</a> and <iframe src="/"></iframe>.',
    "",
    '<div onclick="window.__xss=5">a block of HTML</div>',
    "",
    "A chart: ![tide chart](https://example.com/chart.png) and ![x](javascript:window.__xss=6)",
    "",
    "```python",
    "print('high tide')",
    "```",
  ].join("\n");
  await page.evaluate((text) => window.hearthPage.showText(window.hearthPage.addBubble("assistant", ""), text), reply);
  const body = page.locator(".msg.assistant .body").last();
  const dom = await body.evaluate((el) => ({
    tags: [...new Set([...el.querySelectorAll("*")].map((e) => e.tagName.toLowerCase()))].sort(),
    attributes: [...new Set([...el.querySelectorAll("*")].flatMap((e) => e.getAttributeNames()))].sort(),
    heading: el.querySelector("h2")?.textContent,
    cells: [...el.querySelectorAll("tr")].map((tr) => [...tr.children].map((c) => c.textContent)),
    align: [...el.querySelectorAll("th")].map((th) => th.style.textAlign),
    bullets: [...el.querySelectorAll("ul > li")].map((li) => li.textContent),
    start: el.querySelector("ol")?.start,
    links: [...el.querySelectorAll("a")].map((a) => [a.textContent, a.href, a.rel, a.target]),
    text: el.textContent,
    language: el.querySelector(".code-block .code-lang")?.textContent,
    code: el.querySelector(".code-block pre code")?.textContent,
  }));
  console.log(`elements: ${dom.tags.join(" ")}; attributes: ${dom.attributes.join(" ")}`);
  // Only the elements and attributes the renderer makes: none of the reply's HTML.
  const made = "a blockquote br button code div em h2 li ol p pre span strong table tbody td th thead tr ul";
  assert.deepEqual(
    dom.tags.filter((tag) => !made.split(" ").includes(tag)),
    [],
  );
  assert.deepEqual(
    dom.attributes.filter(
      (a) => !["aria-label", "class", "href", "rel", "start", "style", "target", "title", "type"].includes(a),
    ),
    [],
  );
  assert.equal(dom.heading, "Tide tables");
  assert.deepEqual(dom.cells, [
    ["Port", "High", "Low"],
    ["Brest", "6.1 m", "0.9 m"],
  ]);
  assert.deepEqual(dom.align, ["left", "right", "center"]);
  assert.deepEqual(dom.bullets, ["spring tides", "neap tides"]);
  assert.equal(dom.start, 3);
  // http(s) links open in a new tab without an opener or a referrer; the script, data: and
  // relative links stay text; the picture is a link, never fetched.
  const web = ["noopener noreferrer", "_blank"];
  assert.deepEqual(dom.links, [
    ["tide guide", "https://example.com/tides", ...web],
    ["https://example.org/x", "https://example.org/x", ...web],
    ["Image: tide chart", "https://example.com/chart.png", ...web],
  ]);
  for (const literal of [
    "[click](javascript:window.__xss=1)",
    "[this](data:text/html,<script>alert(1)</script>)",
    "[home](/)",
    '<img src=x onerror="window.__xss=2">',
    "<script>window.__xss=3</script>",
    '<a href="javascript:window.__xss=4">a tag</a>',
    '<iframe src="/"></iframe>',
    '<div onclick="window.__xss=5">a block of HTML</div>',
    "![x](javascript:window.__xss=6)",
  ])
    assert.ok(dom.text.includes(literal), `shown as text: ${literal}`);
  assert.equal(dom.language, "python");
  assert.equal(dom.code, "print('high tide')");
  await body.locator(".code-copy").click();
  await page.waitForFunction(() => document.querySelector(".code-copy")?.textContent === "Copied");
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), "print('high tide')");
  for (const el of await body.locator("a, div, span, p").all()) await el.hover().catch(() => {});
  await page.waitForTimeout(300);
  assert.equal(await page.evaluate(() => window.__xss ?? null), null, "nothing in the reply ran");
  assert.equal(
    await page.evaluate(() => performance.getEntriesByType("resource").some((r) => r.name.includes("example"))),
    false,
  );
  await shot(page, "markdown-1280");
  await page.setViewportSize({ width: 360, height: 800 });
  await page.emulateMedia({ colorScheme: "dark" });
  await shot(page, "markdown-360-dark");
});

test("a browser without WebGPU shows the no-WebGPU message", async (t) => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: CHROMIUM_ARGS.filter((a) => a !== "--enable-unsafe-webgpu"),
  });
  t.after(() => browser.close());
  const page = await openSite(t, browser);
  await page.waitForSelector("#banner:not([hidden])", { timeout: 60_000 });
  assert.equal(await page.getAttribute("#banner", "data-code"), "no-webgpu");
  assert.match(
    await page.textContent("#banner"),
    /offers no GPU adapter.*Chrome or Edge \(113\+\).*enable-unsafe-webgpu/s,
  );
  assert.equal(await page.isDisabled("#load"), true);
  await shot(page, "no-webgpu");
});

test("light and dark follow the system; axe-core finds nothing serious or critical in either", async (t) => {
  const axe = path.join(repo, "tests/browser/node_modules/axe-core/axe.min.js");
  const colours = {};
  for (const scheme of ["light", "dark"]) {
    for (const width of [1280, 360]) {
      const page = await loggedPage(t, env.browser, { viewport: { width, height: 860 }, colorScheme: scheme });
      await page.goto(`${env.server.url}/`);
      await page.waitForSelector("#verdict .fits", { timeout: 60_000 });
      // A conversation on screen (no model needed): a question, a reply with code.
      await page.evaluate(() => {
        window.hearthPage.showText(window.hearthPage.addBubble("user", ""), "What is a lighthouse?");
        const reply = window.hearthPage.addBubble("assistant", "");
        window.hearthPage.showText(
          reply,
          "A **tower** with a [light](https://example.com).\n\n| Part | Use |\n|-|-|\n| lamp | light |\n\n" +
            "- lens\n- lamp\n\n```js\nconst beam = 1;\n```",
        );
      });
      await page.evaluate(() =>
        ["settings", "adapter-panel"].forEach((id) => (document.getElementById(id).open = true)),
      );
      colours[scheme] = await page.evaluate(() => getComputedStyle(document.documentElement).backgroundColor);
      await shot(page, `theme-${scheme}-${width}`);
      if (width !== 1280) continue;
      await page.addScriptTag({ path: axe });
      const found = await page.evaluate(async () => {
        const r = await window.axe.run(document, { resultTypes: ["violations"] });
        return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
      });
      console.log(`axe-core, ${scheme}: ${found.map((v) => `${v.id} (${v.impact})`).join(", ") || "no violations"}`);
      const serious = found.filter((v) => v.impact === "serious" || v.impact === "critical");
      assert.deepEqual(serious, [], `${scheme}: ${JSON.stringify(serious)}`);
    }
  }
  assert.equal(colours.light, "rgb(246, 244, 239)");
  assert.equal(colours.dark, "rgb(27, 26, 24)");
});

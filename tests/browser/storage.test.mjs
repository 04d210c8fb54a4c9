// Models kept in browser storage (OPFS): downloads resumed with Range requests after cuts and
// reloads, verified by SHA-256, refused before the first byte when the quota is too small;
// later loads read storage, not the network; inspect reads only the header.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import path from "node:path";
import { after, before, test } from "node:test";

import { inPage, MiB, modelsDir, ok, openPage, setUp } from "./helpers.mjs";
import { startServer } from "./server.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

// A 9.8 MB random-weight Phi-3 (tests/arch): what storage does is the same for any model, and
// a small one keeps the downloads, digests and loads of these tests short.
const SMALL = "/models/arch/phi3-mini-q8_0.gguf";
const GEMMA = "/models/gemma-3-270m-Q4_K_M.gguf";
const file = (url) => path.join(modelsDir, url.replace(/^\/models\//, ""));
const SMALL_SIZE = statSync(file(SMALL)).size;
const SMALL_SHA = createHash("sha256")
  .update(readFileSync(file(SMALL)))
  .digest("hex");

/** Loads `url` in the page, generates 4 greedy tokens, unloads; the text and the stored list. */
function loadAndRun(page, url, options = {}) {
  return inPage(
    page,
    async ({ url, options }) => {
      const engine = await Hearth.load(url, { contextLength: 256, ...options });
      const out = await engine.completions.create({ prompt: "Once upon a time", temperature: 0, max_tokens: 4 });
      const { source } = await engine.info();
      await engine.unload();
      return { text: out.choices[0].text, list: await Hearth.models.list(), source };
    },
    { url, options },
  );
}

/** SHA-256 of a stored model's bytes, computed by the page from the OPFS file itself. */
async function storedSha(page, id) {
  return ok(
    await inPage(
      page,
      async ({ id }) => {
        const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("hearth-models");
        const bytes = await (await (await dir.getFileHandle(`${id}.gguf`)).getFile()).arrayBuffer();
        const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
        return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
      },
      { id },
    ),
  );
}

/** Flips one bit of byte `at` of a stored model, as a failing disk would. */
function flip(page, id, at) {
  return page.evaluate(
    async ({ id, at }) => {
      const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle("hearth-models");
      const handle = await dir.getFileHandle(`${id}.gguf`);
      const byte = new Uint8Array(await (await handle.getFile()).slice(at, at + 1).arrayBuffer());
      const w = await handle.createWritable({ keepExistingData: true });
      await w.write({ type: "write", position: at, data: new Uint8Array([byte[0] ^ 0x10]) });
      await w.close();
    },
    { id, at },
  );
}

/** Requests and bytes the server answered for `url` since the last reset. */
const served = (url) => env.server.stats()[url] ?? { requests: 0, bytes: 0, ranges: [] };

test("a download cut at three bytes resumes by Range requests; later loads read storage", async (t) => {
  const page = await openPage(t, env);
  const cuts = [1_000_000, 4_000_000, 7_000_000];
  const url = `/__cuts/${cuts.join(",")}${SMALL}`;
  env.server.resetStats();
  const first = ok(await loadAndRun(page, url));
  const s = served(SMALL);
  console.log(`cut download: ${s.requests} requests, ${s.bytes} bytes for ${SMALL_SIZE}: ${s.ranges.join(" ")}`);
  for (const at of cuts)
    assert.ok(
      s.ranges.some((r) => r.startsWith(`bytes=${at}-`)),
      `resumed at ${at}`,
    );
  // Each request starts where the stored bytes end: never over from the start. (A cut also
  // discards what the browser had received but not yet handed over, so a resume may start a
  // little before the cut, and the bytes served exceed the file's size by that much.)
  const starts = s.ranges.map((r) => Number(/^bytes=(\d+)-/.exec(r)[1]));
  assert.ok(
    starts.every((x, i) => i === 0 || x >= starts[i - 1]),
    `positions only move forward: ${starts}`,
  );
  assert.ok(s.bytes < 2 * SMALL_SIZE, `${s.bytes} bytes served`);
  assert.equal(first.list.length, 1);
  const [entry] = first.list;
  assert.deepEqual([entry.complete, entry.size, entry.bytes, entry.sha256], [true, SMALL_SIZE, SMALL_SIZE, SMALL_SHA]);
  assert.equal(await storedSha(page, entry.id), SMALL_SHA, "the stored bytes are the file's");

  env.server.resetStats();
  const second = ok(await loadAndRun(page, url));
  assert.equal(second.text, first.text);
  assert.equal(served(SMALL).requests, 0, "the second load reads storage");
  assert.deepEqual([first.source.kind, second.source.kind], ["download", "storage"]);

  await page.reload();
  await page.waitForFunction(() => window.hearthReady === true);
  const third = ok(await loadAndRun(page, url));
  assert.equal(third.text, first.text);
  assert.equal(served(SMALL).requests, 0, "a load after a reload reads storage");
  const byId = ok(await loadAndRun(page, entry.id));
  assert.equal(byId.text, first.text, "Hearth.load(id)");
  assert.equal(served(SMALL).requests, 0);
});

test("a reload in the middle of a download resumes from the stored prefix", async (t) => {
  const page = await openPage(t, env);
  const prefix = 5_000_000;
  env.server.resetStats();
  env.server.setStall(prefix, SMALL);
  t.after(() => env.server.setStall(undefined));
  await page.evaluate((url) => {
    window.pending = Hearth.load(url).catch((e) => e.code);
  }, SMALL);
  // Wait until the download stopped at the stall and retries there: the prefix is stored.
  const deadline = Date.now() + 120_000;
  while (!served(SMALL).ranges.some((r) => r.startsWith(`bytes=${prefix}-`))) {
    assert.ok(Date.now() < deadline, `no retry at ${prefix}: ${JSON.stringify(served(SMALL))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await page.reload();
  await page.waitForFunction(() => window.hearthReady === true);
  env.server.resetStats();
  env.server.setStall(undefined);
  const list = ok(await inPage(page, () => Hearth.models.list()));
  assert.deepEqual(
    list.map((m) => [m.complete, m.bytes, m.size]),
    [[false, prefix, SMALL_SIZE]],
  );

  const r = ok(await loadAndRun(page, SMALL));
  const s = served(SMALL);
  console.log(`resumed after a reload: ${s.bytes} bytes in ${s.requests} requests (${s.ranges.join(" ")})`);
  assert.ok(s.ranges[0].startsWith(`bytes=${prefix}-`), s.ranges[0]);
  assert.equal(s.bytes, SMALL_SIZE - prefix, "only the rest was downloaded");
  assert.equal(r.list[0].complete, true);
  assert.equal(r.list[0].sha256, SMALL_SHA);
  assert.equal(await storedSha(page, r.list[0].id), SMALL_SHA);
});

test("a stored copy with a flipped byte is detected and fetched again", async (t) => {
  const page = await openPage(t, env);
  const first = ok(await loadAndRun(page, SMALL, { sha256: SMALL_SHA }));
  const { id } = first.list[0];
  await flip(page, id, SMALL_SIZE - 1000);
  assert.notEqual(await storedSha(page, id), SMALL_SHA, "the byte was flipped");
  env.server.resetStats();
  const again = ok(await loadAndRun(page, SMALL, { sha256: SMALL_SHA }));
  assert.equal(again.text, first.text);
  assert.equal(served(SMALL).bytes, SMALL_SIZE, "fetched again, whole");
  assert.equal(await storedSha(page, id), SMALL_SHA);

  // Without a digest to compare with, `verify` checks the stored copy against the one
  // computed when it was downloaded.
  await flip(page, id, 1234567);
  env.server.resetStats();
  const verified = ok(await loadAndRun(page, SMALL, { verify: true }));
  assert.equal(verified.text, first.text);
  assert.equal(served(SMALL).bytes, SMALL_SIZE, "fetched again, whole");
  assert.equal(await storedSha(page, id), SMALL_SHA);

  const wrong = "0".repeat(64);
  env.server.resetStats();
  const r = await loadAndRun(page, SMALL, { sha256: wrong });
  assert.equal(r.error?.code, "network", JSON.stringify(r));
  assert.match(r.error.message, /damaged: its SHA-256 is [0-9a-f]{64}, not 0{64}/);
  assert.deepEqual(ok(await inPage(page, () => Hearth.models.list())), [], "nothing wrong is kept");
});

test("a quota smaller than the model is refused before the download, nothing kept", async (t) => {
  const page = await openPage(t, env);
  env.server.resetStats();
  const r = await inPage(page, async ({ url }) => Hearth.load(url, { quotaForTesting: 5e6 }).then(() => "loaded"), {
    url: SMALL,
  });
  assert.equal(r.error?.code, "quota", JSON.stringify(r));
  assert.match(r.error.message, /needs 9\.8 MB of browser storage but only 5\.0 MB is free/);
  const before = served(SMALL).bytes;
  console.log(`quota: [${r.error.code}] ${r.error.message} (${before} bytes of the model sent)`);
  assert.ok(before <= 512 * 1024, `${before} bytes sent before the refusal`);
  assert.deepEqual(ok(await inPage(page, () => Hearth.models.list())), []);

  // The browser's own quota (Chromium's DevTools protocol lowers what it enforces, not what
  // estimate() reports): the write that crosses it fails, and nothing partial is kept.
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Storage.overrideQuotaForOrigin", { origin: env.server.url, quotaSize: 5e6 });
  t.after(() => cdp.send("Storage.overrideQuotaForOrigin", { origin: env.server.url }).catch(() => {}));
  const enforced = await inPage(page, async ({ url }) => Hearth.load(url).then(() => "loaded"), { url: SMALL });
  assert.equal(enforced.error?.code, "quota", JSON.stringify(enforced));
  console.log(`quota enforced by the browser: [${enforced.error.code}] ${enforced.error.message}`);
  assert.deepEqual(ok(await inPage(page, () => Hearth.models.list())), []);
  const usage = ok(await inPage(page, async () => (await navigator.storage.estimate()).usage));
  assert.ok(usage < 1e6, `usage ${usage}`);
});

test("inspect reads only the header, and its estimate is what the load allocates", async (t) => {
  const page = await openPage(t, env);
  env.server.resetStats();
  const report = ok(await inPage(page, ({ url }) => Hearth.inspect(url), { url: GEMMA }));
  const s = served(GEMMA);
  console.log(`inspect: header ${report.header_bytes} bytes, ${s.bytes} served in ${s.requests} requests`);
  assert.equal(report.summary.architecture, "gemma3");
  assert.ok(report.header_bytes > 6e6 && s.bytes <= report.header_bytes + MiB, `${s.bytes} bytes served`);
  assert.equal(report.fits, true, report.reason);

  // The load, then a request of other settings than the load's (a new sampler and prefill list).
  const [info, after] = ok(
    await inPage(
      page,
      async ({ url }) => {
        const engine = await Hearth.load(url);
        const info = await engine.info();
        await engine.completions.create({ prompt: "Once upon a time", temperature: 0.7, seed: 3, max_tokens: 3 });
        const after = await engine.info();
        await engine.unload();
        return [info, after];
      },
      { url: GEMMA },
    ),
  );
  const [planned, used] = [report.memory.total, info.gpu_memory.total];
  console.log(`inspect planned ${planned} bytes of GPU memory; the load allocated ${used}`);
  assert.equal(info.precision, report.precision);
  assert.equal(info.context_length, report.memory.context_length);
  assert.deepEqual(
    [info.gpu_memory.weights, info.gpu_memory.kv_cache, used, after.gpu_memory.total],
    [report.memory.weights, report.memory.kv_cache, planned, planned],
    "planned and allocated GPU memory: weights, KV caches, total after the load and after a request",
  );

  // A stored model is inspected from storage; limits it does not fit give the reason.
  env.server.resetStats();
  const small = ok(
    await inPage(page, ({ url }) => Hearth.inspect(url, { limits: { maxBufferSize: 1 << 20 } }), { url: GEMMA }),
  );
  assert.equal(served(GEMMA).requests, 0);
  assert.equal(small.fits, false);
  assert.match(small.reason, /KV cache of one layer needs [\d.]+ MiB \(\d+ bytes\), over this GPU's maxBufferSize/);
});

test("models.list and delete; delete frees the space", async (t) => {
  const page = await openPage(t, env);
  const r = ok(
    await inPage(
      page,
      async ({ url }) => {
        const engine = await Hearth.load(url, { contextLength: 64 });
        await engine.unload();
        const listed = await Hearth.models.list();
        const before = (await navigator.storage.estimate()).usage;
        await Hearth.models.delete(listed[0].id);
        const after = (await navigator.storage.estimate()).usage;
        let again = null;
        try {
          await Hearth.models.delete(listed[0].id);
        } catch (e) {
          again = { code: e.code, message: e.message };
        }
        return { listed, before, after, left: await Hearth.models.list(), again };
      },
      { url: SMALL },
    ),
  );
  const [m] = r.listed;
  assert.equal(r.listed.length, 1);
  assert.match(m.id, /^phi3-mini-q8_0\.gguf-[0-9a-f]{8}$/);
  assert.equal(new URL(m.url).pathname, SMALL);
  assert.deepEqual([m.size, m.complete, m.sha256], [SMALL_SIZE, true, SMALL_SHA]);
  assert.ok(Date.now() - Date.parse(m.storedAt) < 600_000, m.storedAt);
  console.log(`storage used: ${r.before} bytes with the model, ${r.after} after delete`);
  assert.ok(r.before - r.after >= 0.95 * SMALL_SIZE, `freed ${r.before - r.after}`);
  assert.deepEqual(r.left, []);
  assert.equal(r.again?.code, "bad-request");
});

test("a model on another origin loads where it sends CORS headers, and says why where not", async (t) => {
  const page = await openPage(t, env);
  const open = await startServer({ models: modelsDir, cors: true });
  const closed = await startServer({ models: modelsDir });
  t.after(() => Promise.all([open.close(), closed.close()]));
  const r = ok(await loadAndRun(page, `${open.url}${SMALL}`));
  const s = open.stats()[SMALL];
  console.log(`cross-origin: ${s.requests} requests, ${s.bytes} bytes (${s.ranges.join(" ")})`);
  assert.equal(s.bytes, SMALL_SIZE);
  assert.deepEqual([r.list[0].complete, r.list[0].sha256], [true, SMALL_SHA]);
  const inspected = ok(await inPage(page, ({ url }) => Hearth.inspect(url), { url: `${open.url}${GEMMA}` }));
  assert.equal(inspected.summary.architecture, "gemma3");

  const refused = await inPage(page, ({ url }) => Hearth.load(url).then(() => "loaded"), {
    url: `${closed.url}${SMALL}`,
  });
  assert.equal(refused.error?.code, "network", JSON.stringify(refused));
  assert.match(refused.error.message, /CORS headers, Access-Control-Allow-Origin/);
  console.log(`no CORS: [${refused.error.code}] ${refused.error.message}`);
});

// What goes wrong in the browser comes back as an Error with a code and a sentence, and
// never leaves the engine unusable.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";

import { inPage, ok, openPage, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

const SMALL = "/models/SmolLM2-135M-Instruct.Q4_0.gguf";

/** A loopback port that nothing listens on. */
async function closedPort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, "127.0.0.1", r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

test("bad sources and models give their error codes, and a good load follows", { timeout: 600_000 }, async (t) => {
  const page = await openPage(t, env);
  const port = await closedPort();
  const cases = [
    ["a URL that is not there", "/models/no-such-model.gguf", {}, "network", /HTTP 404/],
    ["a server that is not there", `http://127.0.0.1:${port}/model.gguf`, {}, "network", /could not download/],
    ["an HTML page", "/test/page.html", {}, "bad-model", /web page \(HTML\), not a GGUF file/],
    [
      "a truncated GGUF",
      `/__truncate/20000000${SMALL}`,
      {},
      "bad-model",
      /past the end of the file \(20000000 bytes\)/,
    ],
    [
      "a download that stops for good",
      `/__stall/20000000${SMALL}`,
      {},
      "network",
      /stopped at byte 20000000 of 77571136 .*did not resume after 5 tries/,
    ],
    [
      "an unsupported architecture",
      "/models/vocab/ggml-vocab-mpt.gguf",
      {},
      "unsupported-model",
      /architecture 'mpt' is not supported/,
    ],
    [
      "a model too large for the adapter's limits",
      SMALL,
      { limits: { maxBufferSize: 1 << 20 } },
      "adapter-limits",
      /KV cache.*maxBufferSize.*shorter context/,
    ],
    ["f16 on an adapter without shader-f16", SMALL, { f16: true }, "adapter-limits", /no shader-f16/],
    ["an unknown load option", SMALL, { contextLenght: 10 }, "bad-request", /unknown field `contextLenght`/],
  ];
  for (const [what, url, options, code, message] of cases) {
    const r = await inPage(page, async ({ url, options }) => Hearth.load(url, options).then(() => "loaded"), {
      url,
      options,
    });
    assert.ok(r.error, `${what}: expected an error, got ${JSON.stringify(r)}`);
    assert.equal(r.error.name, "HearthError", what);
    assert.equal(r.error.code, code, `${what}: ${r.error.message}`);
    assert.match(r.error.message, message, what);
    console.log(`${what}: [${r.error.code}] ${r.error.message}`);
  }

  // A load aborted as soon as it starts, and one aborted in the middle of its download.
  for (const when of ["at once", "mid-way"]) {
    const aborted = await inPage(
      page,
      async ({ url, when }) => {
        const controller = new AbortController();
        if (when === "at once") setTimeout(() => controller.abort(), 0);
        const onProgress = (p) => p.phase === "download" && p.done > 8e6 && controller.abort();
        return Hearth.load(url, { signal: controller.signal, onProgress });
      },
      { url: SMALL, when },
    );
    assert.equal(aborted.error?.code, "aborted", `${when}: ${JSON.stringify(aborted)}`);
  }

  // After all of that, the same page loads and runs a model; a bad request is refused and
  // the next good one is served.
  const r = ok(
    await inPage(
      page,
      async ({ url }) => {
        const engine = await Hearth.load(url);
        let bad = null;
        try {
          await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], temperature: -1 });
        } catch (e) {
          bad = { code: e.code, message: e.message };
        }
        let typo = null;
        try {
          await engine.completions.create({ prompt: "Hi", max_token: 3 });
        } catch (e) {
          typo = { code: e.code, message: e.message };
        }
        const good = await engine.completions.create({ prompt: "Once upon a time", temperature: 0, max_tokens: 3 });
        return { bad, typo, good };
      },
      { url: SMALL },
    ),
  );
  assert.equal(r.bad.code, "bad-request");
  assert.match(r.bad.message, /temperature/);
  assert.equal(r.typo.code, "bad-request");
  assert.match(r.typo.message, /unknown field `max_token`/);
  assert.equal(r.good.usage.completion_tokens, 3);
});

test("a lost device is reported, and loading again works", { timeout: 600_000 }, async (t) => {
  const page = await openPage(t, env);
  const r = ok(
    await inPage(
      page,
      async ({ url }) => {
        const engine = await Hearth.load(url);
        await engine.loseDeviceForTesting();
        let lost = null;
        try {
          await engine.completions.create({ prompt: "Once upon a time", temperature: 0, max_tokens: 3 });
        } catch (e) {
          lost = { code: e.code, message: e.message };
        }
        await engine.unload();
        const again = await Hearth.load(url);
        const out = await again.completions.create({ prompt: "Once upon a time", temperature: 0, max_tokens: 3 });
        return { lost, out };
      },
      { url: SMALL },
    ),
  );
  assert.equal(r.lost?.code, "device-lost", JSON.stringify(r.lost));
  assert.match(r.lost.message, /load the model again/);
  console.log(`device lost: [${r.lost.code}] ${r.lost.message}`);
  assert.equal(r.out.usage.completion_tokens, 3);
});

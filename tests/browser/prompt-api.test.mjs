// The Prompt-API facade (www/prompt-api.js): code written for Chrome's built-in `LanguageModel`
// runs on hearth with only the import changed, on SwiftShader's WebGPU, against llama.cpp's
// reference for SmolLM2 F16 (case 1: greedy ids end with the end-of-turn token after the answer).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { CASE1_MESSAGES, inPage, ok, openPage, reference, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

test(
  "LanguageModel: availability, create with progress, llama.cpp's greedy reply, usage, clone, streaming, destroy",
  {
    timeout: 900_000,
  },
  async (t) => {
    const page = await openPage(t, env);
    const [, c1] = reference("smollm2-F16");
    const [system, user] = CASE1_MESSAGES;
    const r = ok(
      await inPage(
        page,
        async ({ system, user }) => {
          // Only the facade: what a page written for Chrome's built-in model does.
          const { LanguageModel } = await import("/prompt-api.js");
          const model = "/models/SmolLM2-135M-Instruct.F16.gguf";
          LanguageModel.configure({ model, limits: { memoryBudget: 1e6 } });
          const tooBig = await LanguageModel.availability();
          const tooBigReason = LanguageModel.unavailableReason;
          LanguageModel.configure({ model, f16: false, contextLength: 512 });
          const before = await LanguageModel.availability();
          const events = [];
          let during = null;
          const session = await LanguageModel.create({
            initialPrompts: [{ role: "system", content: system.content }],
            temperature: 1,
            topK: 1,
            monitor: (m) =>
              m.addEventListener("downloadprogress", (e) => {
                events.push(e.loaded);
                if (during === null) LanguageModel.availability().then((a) => (during = a));
              }),
          });
          const afterCreate = await LanguageModel.availability();
          const atStart = session.contextUsage;
          const measured = await session.measureContextUsage(user.content);
          const reply = await session.prompt(user.content);
          const afterReply = session.contextUsage;
          // A clone goes on alone; the original keeps its conversation.
          const copy = await session.clone();
          const pieces = [];
          const stream = copy.promptStreaming("And of Germany?");
          for await (const piece of stream) pieces.push(piece);
          const json = await copy.prompt("Give the two capitals.", {
            responseConstraint: {
              type: "object",
              properties: { capitals: { type: "array", items: { type: "string" }, maxItems: 2 } },
              required: ["capitals"],
            },
          });
          session.destroy();
          let destroyed = null;
          try {
            await session.prompt("Hello?");
          } catch (e) {
            destroyed = e.name;
          }
          let overflow = null;
          try {
            await copy.prompt("word ".repeat(600));
          } catch (e) {
            overflow = e.name;
          }
          return {
            tooBig,
            tooBigReason,
            before,
            during,
            afterCreate,
            events,
            window: session.contextWindow,
            atStart,
            measured,
            reply,
            afterReply,
            copyUsage: copy.contextUsage,
            pieces,
            json,
            destroyed,
            overflow,
          };
        },
        { system, user },
      ),
    );
    console.log(
      `facade: ${r.tooBigReason}; ${r.events.length} progress events; reply ${JSON.stringify(r.reply)}; ` +
        `clone streamed ${JSON.stringify(r.pieces.join(""))}; constrained ${r.json}`,
    );
    // Availability: the fit check's verdict and reason, then the three other states in turn.
    assert.equal(r.tooBig, "unavailable");
    assert.match(r.tooBigReason, /memory/, r.tooBigReason);
    assert.equal(r.before, "downloadable");
    assert.equal(r.during, "downloading");
    assert.equal(r.afterCreate, "available");
    assert.equal(r.events[0], 0);
    assert.equal(r.events.at(-1), 1);
    assert.ok(
      r.events.every((v, i) => i === 0 || v >= r.events[i - 1]),
      JSON.stringify(r.events),
    );

    // The prompt's tokens are llama.cpp's, and the greedy reply is its ids up to end-of-turn.
    assert.equal(r.window, 512);
    assert.equal(r.atStart + r.measured, c1.prompt_ids.length);
    const end = c1.greedy_ids.indexOf(2);
    assert.ok(end > 0, "the reference reply ends with <|im_end|>");
    assert.equal(r.reply, c1.text.split("\n")[0]);
    assert.equal(r.reply, "The capital of France is Paris.");
    assert.equal(r.afterReply, c1.prompt_ids.length + end + 1, "the prompt and the reply with its end token");

    // The clone streamed and answered on its own; a constraint held its reply to the schema.
    assert.ok(r.pieces.length > 1 && r.pieces.join("").length > 0, JSON.stringify(r.pieces));
    assert.ok(r.copyUsage > r.afterReply);
    const parsed = JSON.parse(r.json);
    assert.ok(Array.isArray(parsed.capitals) && parsed.capitals.length <= 2, r.json);
    assert.equal(r.destroyed, "InvalidStateError");
    assert.equal(r.overflow, "QuotaExceededError");
  },
);

// Structured output through the public JS API on SwiftShader's WebGPU: five schemas of the
// native suite (tests/structured/schemas.json), greedy and at temperature 1.0 with a seed each,
// each reply ending with `stop` and valid by an independent validator (ajv, JSON Schema 2020-12
// with formats); a schema hearth cannot enforce is refused with `unsupported-schema`.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

import { inPage, ok, openPage, setUp } from "./helpers.mjs";

let env;
before(async () => (env = await setUp()));
after(async () => {
  await env?.browser.close();
  await env?.server.close();
});

const suite = JSON.parse(readFileSync(new URL("../structured/schemas.json", import.meta.url), "utf8")).cases;
const pick = (name) => suite.find((c) => c.name === name);
// Short replies: SwiftShader decodes SmolLM2 at about 3 tokens a second.
const CASES = ["integer-range", "string-enum", "pattern-code", "exact-three-integers", "one-of-shapes"].map(pick);
/** Case `i`'s runs: greedy, and sampled with a seed of its own. */
const runsOf = (i) => [{ temperature: 0 }, { temperature: 1.0, seed: i + 1 }];

test(
  "five schemas of the suite give valid JSON in the browser, and one is refused",
  { timeout: 900_000 },
  async (t) => {
    const page = await openPage(t, env);
    const r = ok(
      await inPage(
        page,
        async ({ cases, refused }) => {
          const engine = await Hearth.load("/models/SmolLM2-135M-Instruct.Q8_0.gguf", {
            contextLength: 512,
            store: false,
          });
          const replies = [];
          for (const c of cases) {
            for (const sampling of c.runs) {
              const reply = await engine.chat.completions.create({
                messages: [{ role: "user", content: `${c.prompt} Answer in JSON.` }],
                max_tokens: 120,
                response_format: { type: "json_schema", json_schema: { name: c.name, schema: c.schema } },
                ...sampling,
              });
              const choice = reply.choices[0];
              replies.push({ name: c.name, sampling, text: choice.message.content, finish: choice.finish_reason });
            }
          }
          let refusal = null;
          try {
            await engine.chat.completions.create({
              messages: [{ role: "user", content: refused.prompt }],
              response_format: { type: "json_schema", json_schema: { name: refused.name, schema: refused.schema } },
            });
          } catch (e) {
            refusal = { code: e.code, message: e.message };
          }
          await engine.unload();
          return { replies, refusal };
        },
        { cases: CASES.map((c, i) => ({ ...c, runs: runsOf(i) })), refused: pick("not") },
      ),
    );
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats(ajv);
    for (const [i, c] of CASES.entries()) {
      const validate = ajv.compile(c.schema);
      const mine = r.replies.filter((x) => x.name === c.name);
      assert.equal(mine.length, runsOf(i).length, c.name);
      for (const reply of mine) {
        console.log(`${c.name} ${JSON.stringify(reply.sampling)}: ${reply.finish} ${reply.text}`);
        assert.equal(reply.finish, "stop", `${c.name}: ${reply.text}`);
        const value = JSON.parse(reply.text);
        assert.ok(validate(value), `${c.name}: ${reply.text}: ${ajv.errorsText(validate.errors)}`);
      }
    }
    console.log(`refused: [${r.refusal?.code}] ${r.refusal?.message}`);
    assert.equal(r.refusal?.code, "unsupported-schema");
    assert.match(r.refusal.message, /not/);
  },
);

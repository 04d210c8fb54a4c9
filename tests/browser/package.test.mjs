// The npm package (`./build.sh package`: target/package/hearth-webgpu-VERSION.tgz, handed over as
// HEARTH_PACKAGE by `./build.sh test`): installed from its tarball into a fresh folder as an
// app would, its declarations checked by TypeScript on a typed example and on a deliberately
// wrong one, and a page that imports it served unbundled from the installed files and bundled
// by esbuild: each generates llama.cpp's greedy ids on SwiftShader's WebGPU.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import { after, before, test } from "node:test";

import { inPage, installPackage, loggedPage, ok, reference, setUp } from "./helpers.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
let app; // the fresh folder the package is installed in
let env;

const run = (cmd, args, cwd) => spawnSync(cmd, args, { cwd, encoding: "utf8" });

before(async () => {
  app = installPackage();
  env = await setUp({ root: app });
});
after(async () => {
  await env?.browser.close();
  await env?.server.close();
  if (app) rmSync(app, { recursive: true, force: true });
});

test("the declarations accept a typed app and refuse a wrong one", () => {
  for (const file of ["example.ts", "wrong.ts"]) copyFileSync(path.join(here, "package", file), path.join(app, file));
  const tsc = (file) =>
    run(
      path.join(here, "node_modules/.bin/tsc"),
      ["--noEmit", "--strict", "--target", "es2022", "--module", "esnext", "--moduleResolution", "bundler"].concat([
        "--lib",
        "es2022,dom,dom.asynciterable",
        file,
      ]),
      app,
    );
  const good = tsc("example.ts");
  assert.equal(good.status, 0, good.stdout + good.stderr);
  const bad = tsc("wrong.ts");
  assert.notEqual(bad.status, 0, "tsc accepted wrong.ts");
  assert.match(bad.stdout, /wrong\.ts\(6,\d+\): error TS2769[\s\S]*'string' is not assignable to type 'number'/);
  assert.match(bad.stdout, /wrong\.ts\(7,\d+\): error TS2769[\s\S]*'"robot"' is not assignable/);
});

test("a page imports the package unbundled, and bundled by esbuild: both generate", { timeout: 900_000 }, async (t) => {
  const page0 = `<script type="module">import { Hearth } from "./node_modules/hearth-webgpu/hearth.js";
    Object.assign(window, { Hearth, hearthReady: true });</script>`;
  writeFileSync(path.join(app, "unbundled.html"), page0);
  // The bundle: the app, and the package's worker as its own entry point (esbuild leaves
  // `new Worker(new URL("./worker.js", import.meta.url))` as is), with the wasm beside them.
  writeFileSync(
    path.join(app, "app.js"),
    `import { Hearth } from "hearth-webgpu";\nObject.assign(window, { Hearth, hearthReady: true });\n`,
  );
  await esbuild.build({
    absWorkingDir: app,
    entryPoints: { app: "app.js", worker: "node_modules/hearth-webgpu/worker.js" },
    bundle: true,
    format: "esm",
    outdir: "dist",
    logLevel: "error",
  });
  copyFileSync(path.join(app, "node_modules/hearth-webgpu/pkg/hearth_bg.wasm"), path.join(app, "dist/hearth_bg.wasm"));
  writeFileSync(path.join(app, "dist/index.html"), `<script type="module" src="./app.js"></script>`);
  const files = readdirSync(path.join(app, "dist")).sort();
  assert.deepEqual(files, ["app.js", "hearth_bg.wasm", "index.html", "worker.js"]);

  const [c0] = reference("smollm2-Q4_0");
  const results = {};
  for (const url of ["/unbundled.html", "/dist/index.html"]) {
    await fetch(`${env.server.url}/__reset`);
    const page = await loggedPage(t, env.browser);
    await page.goto(env.server.url + url);
    await page.waitForFunction(() => window.hearthReady === true);
    const r = ok(
      await inPage(
        page,
        async ({ prompt }) => {
          const engine = await Hearth.load("/models/SmolLM2-135M-Instruct.Q4_0.gguf", { f16: false, store: false });
          const out = await engine.completions.create({
            prompt,
            temperature: 0,
            max_tokens: 4,
            return_token_ids: true,
          });
          await engine.unload();
          return out.choices[0].token_ids;
        },
        { prompt: c0.prompt },
      ),
    );
    const requested = Object.keys(env.server.stats());
    results[url] = { ids: r, fromPackage: requested.filter((p) => p.startsWith("/node_modules/")) };
  }
  console.log(JSON.stringify(results));
  for (const [url, { ids }] of Object.entries(results)) assert.deepEqual(ids, c0.greedy_ids.slice(0, 4), url);
  // Unbundled, the worker and the wasm come from the installed package; bundled, nothing does.
  assert.ok(results["/unbundled.html"].fromPackage.includes("/node_modules/hearth-webgpu/pkg/hearth_bg.wasm"));
  assert.deepEqual(results["/dist/index.html"].fromPackage, []);
});

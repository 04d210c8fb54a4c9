// hearth's engine worker: the wasm module runs here, off the page's thread, so a long prefill
// never freezes the page. It turns messages into calls of the wasm API and opens model
// sources (sources.js: browser storage, a download into it, a stream, a File/Blob); every
// decision about the model is the library's.
//
// Messages in:  {id, op: "load"|"inspect", source, options} where source is
//                 {url, sha256, store, verify, quota} | {id, verify} | {blob}
//               {id, op: "chat"|"complete", request}
//               {id, op: "profile", nTokens, reps}
//               {id, op: "info"|"reset"|"unload"|"loseDevice"|"adapter"}
//               {op: "abort", target?}: the load, the request `target` (running or queued), or
//                 without a target whatever runs
// Messages out: {id, type: "progress", phase, done, total, bytes, rate}
//               {id, type: "chunk", chunk} | {id, type: "result", value}
//               {id, type: "error", code, message, details?}
import init, { adapterInfo, defaults, errorCodes, inspect, loadEngine, Sha256 } from "./pkg/hearth.js";
import { aborted, blobSource, fail, headerSource, storedOrDownload, storedSource, urlSource } from "./sources.js";
import { canStore, deleteModel, modelId, readRecord } from "./storage.js";

const ready = init();
/** The error codes the library defines (ErrorCode in Rust), once the module is ready. */
let codes = null;
ready.then(() => (codes = errorCodes())).catch(() => {});
const PROGRESS_EVERY_MS = 100;

let engine = null;
let origin = null; // where the loaded model came from: {kind: "storage"|"download"|"stream"|"file", id}
let crashed = null;
let loading = new AbortController(); // aborts the load (a worker loads one model, first)
let queue = Promise.resolve(); // operations run one at a time, in order
let running = null; // the id of the operation running now
const queued = new Set(); // ids of operations waiting behind it
const cancelled = new Set(); // queued ids aborted before they ran

const noWebGpu = (why = "this browser has no WebGPU") =>
  fail(
    "no-webgpu",
    `${why}: use a recent Chrome or Edge (113+), Safari (26+) or Firefox (141+ on Windows); ` +
      "on Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu",
  );

/** Throws no-webgpu when the browser has no WebGPU, or gives no adapter (blocklisted, off). */
async function requireWebGpu() {
  if (!navigator.gpu) throw noWebGpu();
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" }).catch(() => null);
  if (!adapter)
    throw noWebGpu(
      "this browser has WebGPU but offers no GPU adapter (the GPU may be blocklisted or WebGPU turned off)",
    );
}

/** The stored model `id`, or a bad-request error naming it. */
async function storedModel(id, verify, signal) {
  const record = await readRecord(id);
  const hasher = verify ? new Sha256() : null;
  const source = record?.complete ? await storedSource(id, record, { signal, hasher }) : null;
  if (!source) {
    throw fail("bad-request", `there is no complete stored model '${id}' (Hearth.models.list() shows what is stored)`);
  }
  return source;
}

/** The source a load reads, from the page's description of it. */
async function openSource({ url, id, blob, sha256, store = true, verify, quota }, signal, onBytes) {
  if (blob) return blobSource(blob, signal, onBytes);
  if (id) return storedModel(id, verify, signal);
  if (!store || !(await canStore())) return urlSource(url, signal, onBytes);
  const opts = { sha256, verify: verify || !!sha256, hasher: new Sha256(), signal, onBytes, quota };
  return storedOrDownload(url, await modelId(url), opts);
}

// Reports progress at most every PROGRESS_EVERY_MS per phase, and always at a phase's end.
// `fresh` is what the rate counts (bytes transferred now, not those resumed from storage).
function progressReporter(id) {
  const phases = {};
  return (phase, done, total, fresh = done) => {
    const now = performance.now();
    const p = (phases[phase] ??= { start: now, last: -Infinity });
    if (now - p.last < PROGRESS_EVERY_MS && done !== total) return;
    p.last = now;
    const seconds = (now - p.start) / 1000;
    const bytes = phase === "compile" ? undefined : done;
    const rate = bytes !== undefined && seconds > 0 ? fresh / seconds : undefined;
    self.postMessage({ id, type: "progress", phase, done, total, bytes, rate });
  };
}

/**
 * Loads the engine from `source`. A source that is kept in storage is finished after the
 * load: the rest of the file read, its size and SHA-256 checked, the entry marked complete.
 * A stored model that turns out damaged is deleted and downloaded again, once; a fresh
 * download that is not a model is not kept.
 */
async function loadFrom(source, options, signal, progress, onBytes) {
  const json = JSON.stringify(options ?? {});
  for (let attempt = 0; ; attempt++) {
    const src = await openSource(source, signal, onBytes);
    let loaded = null;
    try {
      loaded = await loadEngine(src, json, progress);
      await src.finish?.();
      origin = {
        kind: source.blob ? "file" : src.fromStorage ? "storage" : src.id ? "download" : "stream",
        id: src.id ?? null,
      };
      // Aborted after the last byte was read (while the kernels compiled): still aborted.
      if (signal.aborted) throw aborted();
      return loaded;
    } catch (e) {
      loaded?.free();
      src.close?.();
      // A stored copy that fails as a model is damaged; a download that is no model (a web
      // page, a truncated or foreign file) is not kept. A cut or aborted download is, to resume.
      const damaged = src.fromStorage && (e.corrupt || e.code === "bad-model");
      const useless = !src.fromStorage && ["bad-model", "unsupported-model"].includes(e.code);
      if (src.id && (damaged || useless)) await deleteModel(src.id);
      if (damaged && src.url && attempt === 0) continue;
      throw e;
    }
  }
}

/** The engine's info, and where its model came from (`source`). */
function info() {
  return { ...JSON.parse(loaded().info()), source: origin };
}

function loaded() {
  if (crashed) throw fail("internal", `the engine crashed (${crashed}); load the model again`);
  if (!engine) throw fail("bad-request", "no model is loaded");
  return engine;
}

const ops = {
  async load(id, { source, options }) {
    await ready;
    await requireWebGpu();
    // An abort that came while the wasm module was still starting counts too.
    if (loading.signal.aborted) throw aborted();
    const progress = progressReporter(id);
    const onBytes = (done, total, fresh) => progress("download", done, total ?? 0, fresh);
    const { signal } = loading;
    try {
      engine = await loadFrom(source, options, signal, progress, onBytes);
    } finally {
      loading = null;
    }
    return info();
  },
  async defaults() {
    await ready;
    return JSON.parse(defaults());
  },
  async adapter() {
    await ready;
    await requireWebGpu();
    return JSON.parse(await adapterInfo());
  },
  async inspect(id, { source, options }) {
    await ready;
    const signal = new AbortController().signal;
    let src;
    if (source.blob) src = blobSource(source.blob, signal);
    else {
      const storedId = source.id ?? ((await canStore()) ? await modelId(source.url) : null);
      const record = storedId && (await readRecord(storedId));
      if (record?.complete) src = await storedSource(storedId, record, { signal });
      else if (source.id) throw fail("bad-request", `there is no complete stored model '${source.id}'`);
      src ??= await headerSource(source.url, signal);
    }
    try {
      return JSON.parse(await inspect(src, JSON.stringify(options ?? {})));
    } finally {
      src.close?.();
    }
  },
  async chat(id, { request }) {
    const send = (chunk) => self.postMessage({ id, type: "chunk", chunk: JSON.parse(chunk) });
    return JSON.parse(await loaded().chat(JSON.stringify(request), send));
  },
  async complete(id, { request }) {
    const send = (chunk) => self.postMessage({ id, type: "chunk", chunk: JSON.parse(chunk) });
    return JSON.parse(await loaded().complete(JSON.stringify(request), send));
  },
  async info() {
    return info();
  },
  async reset() {
    loaded().resetCache();
  },
  async profile(id, { nTokens, reps }) {
    return JSON.parse(await loaded().profile(nTokens, reps));
  },
  async loseDevice() {
    loaded().loseDevice();
  },
  async unload() {
    engine?.free();
    engine = null;
  },
};

async function run({ id, op, ...args }) {
  queued.delete(id);
  running = id;
  try {
    if (cancelled.delete(id)) throw fail("aborted", "the request was aborted before it started");
    if (!ops[op]) throw fail("internal", `unknown operation ${op}`);
    self.postMessage({ id, type: "result", value: await ops[op](id, args) });
  } catch (e) {
    // A Rust panic surfaces as a RuntimeError; the module is not safe to use after it.
    if (e instanceof WebAssembly.RuntimeError) crashed = e.message;
    // Only the codes the library defines reach the page (anything else is a bug: internal).
    const known = codes === null ? e.code !== undefined : codes.includes(e.code);
    const code = known ? e.code : "internal";
    self.postMessage({ id, type: "error", code, message: e.message ?? String(e), details: e.details });
  } finally {
    running = null;
  }
}

self.onmessage = ({ data }) => {
  if (data.op === "abort") {
    // Not queued: it must reach the running operation. A request aborted once it ended (a
    // late message) is no other request's business.
    if (loading) loading.abort();
    else if (data.target === undefined || data.target === running) engine?.abort();
    else if (queued.has(data.target)) cancelled.add(data.target);
    return;
  }
  queued.add(data.id);
  queue = queue.then(() => run(data));
};

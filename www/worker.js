// hearth's engine worker: the wasm module runs here, off the page's thread, so a long prefill
// never freezes the page. It only turns messages into calls of the wasm API and makes model
// sources (a streamed HTTP response, a File/Blob); every decision is the library's.
//
// Messages in:  {id, op: "load", source, options} | {id, op: "chat"|"complete", request}
//               {id, op: "profile", nTokens, reps} | {id, op: "info"|"unload"|"loseDevice"}
//               {op: "abort"}
// Messages out: {id, type: "progress", phase, done, total, bytes, rate}
//               {id, type: "chunk", chunk} | {id, type: "result", value}
//               {id, type: "error", code, message}
import init, { loadEngine } from "./pkg/hearth.js";

const ready = init();
const BLOB_CHUNK = 4 << 20; // bytes read from a File/Blob at a time
const PROGRESS_EVERY_MS = 100;

let engine = null;
let crashed = null;
let loading = new AbortController(); // aborts the load (a worker loads one model, first)
let queue = Promise.resolve(); // operations run one at a time, in order

function fail(code, message) {
  return Object.assign(new Error(message), { code });
}

const aborted = () => fail("aborted", "loading was aborted");

// A source over a streamed HTTP response: bytes reach the engine as they arrive.
async function urlSource(url, signal, onBytes) {
  let response;
  try {
    response = await fetch(url, { signal });
  } catch (e) {
    if (signal.aborted) throw aborted();
    throw fail(
      "network",
      `could not download ${url}: the server is unreachable, or it does not let this page read the file ` +
        `(a model on another site needs CORS headers) (${e.message})`,
    );
  }
  if (!response.ok) {
    throw fail(
      "network",
      `could not download ${url}: the server answered HTTP ${response.status} ${response.statusText}`.trim(),
    );
  }
  // A compressed body's Content-Length is not the file's size.
  const length = Number(response.headers.get("Content-Length"));
  const size = !response.headers.get("Content-Encoding") && length > 0 ? length : null;
  const reader = response.body.getReader();
  let received = 0;
  return {
    size,
    async read() {
      let r;
      try {
        r = await reader.read();
      } catch (e) {
        if (signal.aborted) throw aborted();
        throw fail("network", `the download of ${url} broke off after ${received} bytes (${e.message}); try again`);
      }
      if (r.done) return null;
      received += r.value.length;
      onBytes(received, size);
      return r.value;
    },
  };
}

// A source over a local File or Blob, read a slice at a time (never uploaded anywhere).
function blobSource(blob, signal, onBytes) {
  let pos = 0;
  return {
    size: blob.size,
    async read() {
      if (signal.aborted) throw aborted();
      if (pos >= blob.size) return null;
      const end = Math.min(pos + BLOB_CHUNK, blob.size);
      let bytes;
      try {
        bytes = new Uint8Array(await blob.slice(pos, end).arrayBuffer());
      } catch (e) {
        throw fail("network", `could not read the file (${e.message}); choose it again`);
      }
      pos = end;
      onBytes(pos, blob.size);
      return bytes;
    },
  };
}

// Reports progress at most every PROGRESS_EVERY_MS per phase, and always at a phase's end.
function progressReporter(id) {
  const phases = {};
  return (phase, done, total) => {
    const now = performance.now();
    const p = (phases[phase] ??= { start: now, last: -Infinity });
    if (now - p.last < PROGRESS_EVERY_MS && done !== total) return;
    p.last = now;
    const seconds = (now - p.start) / 1000;
    const bytes = phase === "compile" ? undefined : done;
    const rate = bytes !== undefined && seconds > 0 ? bytes / seconds : undefined;
    self.postMessage({ id, type: "progress", phase, done, total, bytes, rate });
  };
}

function loaded() {
  if (crashed) throw fail("internal", `the engine crashed (${crashed}); load the model again`);
  if (!engine) throw fail("bad-request", "no model is loaded");
  return engine;
}

const ops = {
  async load(id, { source, options }) {
    await ready;
    if (!navigator.gpu) {
      throw fail(
        "no-webgpu",
        "this browser has no WebGPU: use a recent Chrome or Edge (113+), Safari (26+) or Firefox (141+ on Windows); " +
          "on Linux, Chrome needs chrome://flags/#enable-unsafe-webgpu",
      );
    }
    // An abort that came while the wasm module was still starting counts too.
    if (loading.signal.aborted) throw aborted();
    const progress = progressReporter(id);
    const onBytes = (done, total) => progress("download", done, total ?? 0);
    const { signal } = loading;
    try {
      const src =
        typeof source === "string" ? await urlSource(source, signal, onBytes) : blobSource(source, signal, onBytes);
      engine = await loadEngine(src, JSON.stringify(options ?? {}), progress);
    } finally {
      loading = null;
    }
    // Aborted after the last byte was read (while the kernels compiled): still aborted.
    if (signal.aborted) {
      engine.free();
      engine = null;
      throw aborted();
    }
    return JSON.parse(engine.info());
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
    return JSON.parse(loaded().info());
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
  try {
    if (!ops[op]) throw fail("internal", `unknown operation ${op}`);
    self.postMessage({ id, type: "result", value: await ops[op](id, args) });
  } catch (e) {
    // A Rust panic surfaces as a RuntimeError; the module is not safe to use after it.
    if (e instanceof WebAssembly.RuntimeError) crashed = e.message;
    self.postMessage({ id, type: "error", code: e.code ?? "internal", message: e.message ?? String(e) });
  }
}

self.onmessage = ({ data }) => {
  if (data.op === "abort") {
    // Not queued: it must reach the running operation.
    if (loading) loading.abort();
    else engine?.abort();
    return;
  }
  queue = queue.then(() => run(data));
};

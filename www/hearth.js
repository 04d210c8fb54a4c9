// hearth's JS API: open-weight models from any GGUF, private in this browser, on WebGPU.
//
//   import { Hearth } from "./hearth.js";
//   const engine = await Hearth.load("https://…/model.gguf", { onProgress: (p) => console.log(p) });
//   const reply = await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi!" }] });
//   for await (const chunk of await engine.chat.completions.create({ messages, stream: true })) {
//     out.textContent += chunk.choices[0]?.delta.content ?? "";
//   }
//
// Requests and responses are shaped like OpenAI's (as in WebLLM). Each engine runs in its own
// Web Worker (worker.js): this module only posts messages, so the page never freezes. Models
// from a URL are kept in browser storage (storage.js): downloaded once, resumed if cut.
import { deleteModel, listModels, looksLikeId, readRecord, storageAvailable } from "./storage.js";

/** An error with a `code`: no-webgpu, adapter-limits, out-of-memory, device-lost, quota,
 *  network, bad-model, unsupported-model, aborted, bad-request, context-length-exceeded,
 *  unsupported-schema or internal. A context-length-exceeded error has `details:
 *  {prompt_tokens, context_length}`: drop earlier turns and retry; a load that found the model
 *  being downloaded by another tab has `details: {busy: true}`: retry when it is done. */
export class HearthError extends Error {
  constructor(code, message, details) {
    super(message);
    this.name = "HearthError";
    this.code = code;
    if (details !== undefined) this.details = details;
  }
}

const abortedRequest = () => new HearthError("aborted", "the request was aborted");

const PHASE_TEXT = { download: "Downloading the model", load: "Loading it onto the GPU", compile: "Compiling kernels" };

/** A load's progress as WebLLM's `initProgressCallback` hears it too: `progress` (0..1, of the
 *  current phase), `timeElapsed` (s) and a `text` line. */
function progressReport({ phase, done, total, bytes, rate }, started) {
  const progress = total > 0 ? Math.min(1, done / total) : 0;
  const percent = `${Math.floor(progress * 100)}%`;
  const mb = (n) => `${(n / 1e6).toFixed(1)} MB`;
  const detail =
    phase === "compile"
      ? `${done} of ${total}`
      : `${percent}, ${mb(bytes ?? done)} of ${mb(total)}${rate ? ` at ${mb(rate)}/s` : ""}`;
  const timeElapsed = (performance.now() - started) / 1000;
  return { phase, done, total, bytes, rate, progress, timeElapsed, text: `${PHASE_TEXT[phase] ?? phase}: ${detail}` };
}

/** `promise`, or a rejection with code "aborted" as soon as `signal` aborts (`onAbort` then
 *  tells the worker). */
function abortable(promise, signal, onAbort) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const stop = () => (onAbort(), reject(abortedRequest()));
    signal.addEventListener("abort", stop, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", stop));
  });
}

/** Where a model comes from, as the worker takes it: {url, sha256, store}, {id} or {blob}. */
async function describe(source, { sha256, store, verify, quota }) {
  if (source instanceof Blob) return { blob: source };
  if (typeof source !== "string" && !(source instanceof URL)) {
    throw new HearthError("bad-request", "Hearth.load takes a URL, a stored model's id or a File/Blob");
  }
  source = String(source);
  if (looksLikeId(source) && storageAvailable() && (await readRecord(source))) return { id: source, verify };
  // Relative to the page, not to the worker's script.
  const url = new URL(source, globalThis.document?.baseURI ?? globalThis.location?.href).href;
  if (sha256 !== undefined && !/^[0-9a-fA-F]{64}$/.test(sha256)) {
    throw new HearthError("bad-request", "sha256 must be 64 hexadecimal digits");
  }
  return { url, sha256, store, verify, quota };
}

/** A model loaded in a worker. */
export class Hearth {
  #worker;
  #pending = new Map(); // id → {resolve, reject, onProgress, onChunk}
  #next = 1;
  #closed = null; // why the engine can no longer be used
  #lastMessage = ""; // the last request's first choice, as getMessage() gives it

  /**
   * Loads a GGUF model.
   * @param {string | URL | Blob} source  a URL (any HTTP server that sends the file, e.g. a hub
   *   "resolve" link), the id of a stored model (`Hearth.models.list()`), or a local File/Blob
   *   (read in this browser, never uploaded). A URL's file is kept in browser storage: the
   *   next load reads it from there, and a cut download resumes where it stopped.
   * @param {object} [options]
   * @param {(p: {phase: "download"|"load"|"compile", done: number, total: number,
   *   bytes?: number, rate?: number, progress: number, timeElapsed: number, text: string})
   *   => void} [options.onProgress]  bytes and bytes/s for download and load, steps for
   *   compile; `progress` (0..1 of the phase), `timeElapsed` (s) and a `text` line as
   *   WebLLM's reports have them (`initProgressCallback` is taken as another name for it)
   * @param {string} [options.sha256]  the file's SHA-256 (hex): a download or a stored copy
   *   with another digest is discarded and fetched again
   * @param {boolean} [options.store=true]  keep the file in browser storage
   * @param {boolean} [options.verify=false]  hash a stored copy again as it loads (always done
   *   when `sha256` is given; a download is always hashed): a damaged copy is fetched again
   * @param {number} [options.contextLength=2048]  tokens of context (KV cache)
   * @param {"auto"|boolean} [options.f16="auto"]  f16 activations where the GPU has shader-f16
   * @param {{maxStorageBufferBindingSize?: number, maxBufferSize?: number,
   *   memoryBudget?: number}} [options.limits]  run as a GPU with these lower limits would;
   *   `memoryBudget` (bytes) refuses a model planned over it before anything is allocated
   * @param {number} [options.prefillChunk=128]  prompt tokens per GPU step
   * @param {AbortSignal} [options.signal]  aborts the load (error code "aborted"); a download
   *   stopped so resumes at the next load
   * @param {number} [options.quotaForTesting]  for tests: storage quota in bytes, lower than
   *   the browser's (browsers cannot be made to report a smaller one)
   * @returns {Promise<Hearth>}
   */
  static async load(source, options = {}) {
    const {
      onProgress: onReport,
      initProgressCallback,
      signal,
      sha256,
      store = true,
      verify = false,
      quotaForTesting,
      ...engineOptions
    } = options;
    const started = performance.now();
    const report = onReport ?? initProgressCallback;
    const onProgress = report && ((p) => report(progressReport(p, started)));
    const where = await describe(source, { sha256, store, verify, quota: quotaForTesting });
    if (where.url && store && storageAvailable()) {
      // Ask that the browser keep stored models under storage pressure (granted or not).
      await navigator.storage.persist?.().catch(() => false);
    }
    if (signal?.aborted) throw new HearthError("aborted", "loading was aborted");
    const engine = new Hearth(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
    const abort = () => engine.#worker.postMessage({ op: "abort" });
    signal?.addEventListener("abort", abort);
    try {
      await engine.#call("load", { source: where, options: engineOptions }, { onProgress });
      return engine;
    } catch (e) {
      engine.#close(e.message);
      throw e;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  /**
   * Reads only a model's header (a few Range requests for a URL; a stored model or a local
   * file as well) and says what it is, how much GPU memory it needs and whether this GPU can
   * run it, before a weight byte is downloaded.
   * @param {string | URL | Blob} source  as for `Hearth.load`
   * @param {object} [options]  `contextLength`, `f16`, `limits`, `prefillChunk`, as for load
   * @returns {Promise<{summary: object, header_bytes: number, adapter: object|null,
   *   precision: "f16"|"f32", memory: {weights: number, kv_cache: number,
   *   recurrent_state: number, activations: number, total: number, context_length: number}|null,
   *   fits: boolean, reason?: string}>}
   */
  static async inspect(source, options = {}) {
    const where = await describe(source, {});
    const worker = new Hearth(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
    try {
      return await worker.#call("inspect", { source: where, options });
    } finally {
      worker.#close("inspected");
    }
  }

  /** The settings hearth starts from, defined once in the library (the CLI's defaults too):
   *  `context_length`, `prefill_chunk`, `temperature`, `top_k`, `top_p`, `min_p`,
   *  `repeat_penalty`, `frequency_penalty`, `presence_penalty`, `max_tokens`. */
  static async defaults() {
    const worker = new Hearth(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
    try {
      return await worker.#call("defaults", {});
    } finally {
      worker.#close("done");
    }
  }

  /** The GPU adapter a load would use: its name, features (`shader_f16`, `subgroups`) and the
   *  limits that matter; a `no-webgpu` error where the browser has none. */
  static async adapter() {
    const worker = new Hearth(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
    try {
      return await worker.#call("adapter", {});
    } finally {
      worker.#close("done");
    }
  }

  /** Storage used and available to this site, in bytes (`navigator.storage.estimate()`), and
   *  whether stored models are kept under storage pressure. */
  static async storage() {
    const { usage = 0, quota = 0 } = (await navigator.storage?.estimate?.()) ?? {};
    const persisted = (await navigator.storage?.persisted?.()) ?? false;
    return { usage, quota, persisted };
  }

  /** Models kept in this browser's storage. */
  static models = {
    /** Every stored model: `{id, url, size, bytes, complete, sha256, storedAt}`; a partial
     *  one (`complete: false`) resumes at the next load of its URL. */
    list: () => listModels(),
    /** Deletes a stored model (complete or partial) and frees its space. */
    delete: async (id) => {
      if (!(await deleteModel(id))) throw new HearthError("bad-request", `there is no stored model '${id}'`);
    },
  };

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#fail(new HearthError("internal", `the engine's worker failed: ${e.message ?? "it could not start"}`));
    };
    /**
     * OpenAI-style chat completions: `create({messages, stream, temperature, …}, {signal})`.
     * `signal` (an AbortSignal, as the openai client takes it) aborts this request alone:
     * the promise, or the stream's next read, rejects with code "aborted". Leaving a stream's
     * `for await` early (break, return, throw) stops its generation too. Also
     * `response_format` (json_object, json_schema, grammar: enforced while decoding),
     * `logprobs`/`top_logprobs`, and `tools`/`tool_choice`/`parallel_tool_calls`: calls come
     * back in `message.tool_calls` (streamed as `delta.tool_calls` pieces) with
     * `finish_reason: "tool_calls"`; send each result as `{role: "tool", tool_call_id,
     * content}` after the assistant message that made the calls.
     */
    this.chat = { completions: { create: (request, options) => this.#create("chat", request, options) } };
    /** OpenAI-style text completions: `create({prompt, stream, …})`. */
    this.completions = { create: (request, options) => this.#create("complete", request, options) };
  }

  /** Stops the running generation before its next token (`finish_reason: "abort"`). */
  abort() {
    if (!this.#closed) this.#worker.postMessage({ op: "abort" });
  }

  /** WebLLM's name for `abort()`. */
  interruptGenerate() {
    this.abort();
  }

  /** Forgets the cached conversation (WebLLM's `resetChat`). Requests carry their whole
   *  history, so replies do not change: the next one computes its whole prompt. */
  resetChat() {
    return this.#call("reset", {});
  }

  /** The text of the last request's first choice (so far, while it streams), as WebLLM's
   *  `getMessage()`. */
  async getMessage() {
    return this.#lastMessage;
  }

  /** The last request's speeds, as WebLLM's `runtimeStatsText()`: "prefill: 120.5 tokens/s,
   *  decoding: 31.2 tokens/s" (numbers in `info().last_usage.extra`). */
  async runtimeStatsText() {
    const extra = (await this.info()).last_usage?.extra;
    if (!extra) return "no request has run yet";
    const f = (v) => v.toFixed(1);
    return `prefill: ${f(extra.prefill_tokens_per_s)} tokens/s, decoding: ${f(extra.decode_tokens_per_s)} tokens/s`;
  }

  /** Frees the model's GPU memory and ends the worker. */
  async unload() {
    if (this.#closed) return;
    try {
      await this.#call("unload", {});
    } finally {
      this.#close("the model was unloaded");
    }
  }

  /** The model, the GPU adapter, f16 or f32, the context, GPU memory, load timings, where
   *  the model came from (`source: {kind: "storage"|"download"|"stream"|"file", id}`), the
   *  `system_fingerprint` responses carry, `stats` (tokens prefilled and decoded since the
   *  load, decode steps and dispatches) and `last_usage` (the last request's usage). */
  info() {
    return this.#call("info", {});
  }

  /** Times one decode step (`nTokens` 1) or a prefill chunk of `nTokens`, and each kernel of
   *  it: where the time goes on this GPU ({n_tokens, dispatches, step_ms, kernels}). */
  profile(nTokens = 1, reps = 3) {
    return this.#call("profile", { nTokens, reps });
  }

  /** For tests: destroys the GPU device, as a driver reset would. */
  loseDeviceForTesting() {
    return this.#call("loseDevice", {});
  }

  // Chat and text completions: a response, or with `stream: true` an async iterator of chunks.
  async #create(op, request, { signal } = {}) {
    if (!request || typeof request !== "object")
      throw new HearthError("bad-request", "create() takes a request object");
    if (signal?.aborted) throw abortedRequest();
    const chunks = [];
    let wake = null;
    let finished = false;
    let failure = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    this.#lastMessage = "";
    const remember = (chunk) => {
      const first = chunk.choices.find((c) => c.index === 0);
      this.#lastMessage += first?.delta?.content ?? first?.text ?? "";
    };
    const handlers = request.stream ? { onChunk: (c) => (remember(c), chunks.push(c), notify()) } : {};
    const { id, done } = this.#send(op, { request }, handlers);
    const stop = () => this.#closed || this.#worker.postMessage({ op: "abort", target: id });
    if (!request.stream) {
      const reply = done.then((r) => {
        const first = r.choices.find((c) => c.index === 0);
        this.#lastMessage = first?.message?.content ?? first?.text ?? "";
        return r;
      });
      return abortable(reply, signal, stop);
    }
    const onAbort = () => {
      stop();
      failure = abortedRequest();
      notify();
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    done.then(
      () => ((finished = true), notify()),
      (e) => ((failure ??= e), (finished = true), notify()),
    );
    return (async function* () {
      try {
        for (;;) {
          if (signal?.aborted) throw failure ?? abortedRequest();
          if (chunks.length) yield chunks.shift();
          else if (failure) throw failure;
          else if (finished) return;
          else await new Promise((r) => (wake = r));
        }
      } finally {
        signal?.removeEventListener("abort", onAbort);
        // Left before the end (break, return, a throw in the loop, the signal): stop decoding.
        if (!finished) stop();
      }
    })();
  }

  #call(op, args, handlers = {}) {
    return this.#send(op, args, handlers).done;
  }

  // Posts an operation; `done` settles with its result.
  #send(op, args, handlers = {}) {
    const id = this.#next++;
    if (this.#closed)
      return {
        id,
        done: Promise.reject(new HearthError("bad-request", `this engine cannot be used: ${this.#closed}`)),
      };
    const done = new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, ...handlers });
      this.#worker.postMessage({ id, op, ...args });
    });
    return { id, done };
  }

  #receive(msg) {
    const p = this.#pending.get(msg.id);
    if (!p) return;
    switch (msg.type) {
      case "progress": {
        const { phase, done, total, bytes, rate } = msg;
        p.onProgress?.({ phase, done, total, bytes, rate });
        break;
      }
      case "chunk":
        p.onChunk?.(msg.chunk);
        break;
      case "result":
        this.#pending.delete(msg.id);
        p.resolve(msg.value);
        break;
      case "error":
        this.#pending.delete(msg.id);
        p.reject(new HearthError(msg.code, msg.message, msg.details));
        break;
    }
  }

  #fail(error) {
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    this.#close(error.message);
  }

  #close(why) {
    this.#closed ??= why;
    this.#worker.terminate();
  }
}

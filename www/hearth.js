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
// Web Worker (worker.js): this module only posts messages, so the page never freezes.

/** An error with a `code`: no-webgpu, adapter-limits, out-of-memory, device-lost, quota,
 *  network, bad-model, unsupported-model, aborted, bad-request or internal. */
export class HearthError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "HearthError";
    this.code = code;
  }
}

/** A model loaded in a worker. */
export class Hearth {
  #worker;
  #pending = new Map(); // id → {resolve, reject, onProgress, onChunk}
  #next = 1;
  #closed = null; // why the engine can no longer be used

  /**
   * Loads a GGUF model.
   * @param {string | URL | Blob} source  a URL (any HTTP server that sends the file, e.g. a hub
   *   "resolve" link) or a local File/Blob (read in this browser, never uploaded)
   * @param {object} [options]
   * @param {(p: {phase: "download"|"load"|"compile", done: number, total: number,
   *   bytes?: number, rate?: number}) => void} [options.onProgress]  bytes and bytes/s for
   *   download and load, steps for compile
   * @param {number} [options.contextLength=2048]  tokens of context (KV cache)
   * @param {"auto"|boolean} [options.f16="auto"]  f16 activations where the GPU has shader-f16
   * @param {{maxStorageBufferBindingSize?: number, maxBufferSize?: number}} [options.limits]
   *   run as a GPU with these lower limits would
   * @param {number} [options.prefillChunk=128]  prompt tokens per GPU step
   * @param {AbortSignal} [options.signal]  aborts the load (error code "aborted")
   * @returns {Promise<Hearth>}
   */
  static async load(source, options = {}) {
    const { onProgress, signal, ...engineOptions } = options;
    if (typeof source === "string" || source instanceof URL) {
      // Relative to the page, not to the worker's script.
      source = new URL(source, globalThis.document?.baseURI ?? globalThis.location?.href).href;
    } else if (!(source instanceof Blob)) {
      throw new HearthError("bad-request", "Hearth.load takes a URL or a File/Blob");
    }
    if (signal?.aborted) throw new HearthError("aborted", "loading was aborted");
    const engine = new Hearth(new Worker(new URL("./worker.js", import.meta.url), { type: "module" }));
    const abort = () => engine.#worker.postMessage({ op: "abort" });
    signal?.addEventListener("abort", abort);
    try {
      await engine.#call("load", { source, options: engineOptions }, { onProgress });
      return engine;
    } catch (e) {
      engine.#close(e.message);
      throw e;
    } finally {
      signal?.removeEventListener("abort", abort);
    }
  }

  constructor(worker) {
    this.#worker = worker;
    worker.onmessage = ({ data }) => this.#receive(data);
    worker.onerror = (e) => {
      e.preventDefault?.();
      this.#fail(new HearthError("internal", `the engine's worker failed: ${e.message ?? "it could not start"}`));
    };
    /** OpenAI-style chat completions: `create({messages, stream, temperature, …})`. */
    this.chat = { completions: { create: (request) => this.#create("chat", request) } };
    /** OpenAI-style text completions: `create({prompt, stream, …})`. */
    this.completions = { create: (request) => this.#create("complete", request) };
  }

  /** Stops the running generation before its next token (`finish_reason: "abort"`). */
  abort() {
    if (!this.#closed) this.#worker.postMessage({ op: "abort" });
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

  /** The model, the GPU adapter, f16 or f32, the context, GPU memory and load timings. */
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
  async #create(op, request) {
    if (!request || typeof request !== "object")
      throw new HearthError("bad-request", "create() takes a request object");
    if (!request.stream) return this.#call(op, { request });
    const chunks = [];
    let wake = null;
    let finished = false;
    let failure = null;
    const notify = () => {
      wake?.();
      wake = null;
    };
    this.#call(op, { request }, { onChunk: (c) => (chunks.push(c), notify()) }).then(
      () => ((finished = true), notify()),
      (e) => ((failure = e), (finished = true), notify()),
    );
    return (async function* () {
      for (;;) {
        if (chunks.length) yield chunks.shift();
        else if (failure) throw failure;
        else if (finished) return;
        else await new Promise((r) => (wake = r));
      }
    })();
  }

  #call(op, args, handlers = {}) {
    if (this.#closed)
      return Promise.reject(new HearthError("bad-request", `this engine cannot be used: ${this.#closed}`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, ...handlers });
      this.#worker.postMessage({ id, op, ...args });
    });
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
        p.reject(new HearthError(msg.code, msg.message));
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

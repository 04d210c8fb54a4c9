// A Prompt-API-shaped `LanguageModel` (the shape of Chrome's built-in model API,
// github.com/webmachinelearning/prompt-api) over hearth: a page written for Chrome's built-in
// model runs on any WebGPU browser, with any GGUF, by importing this module instead.
//
//   import { LanguageModel } from "./prompt-api.js";
//   LanguageModel.configure({ model: "https://…/model.gguf" }); // else the site's default model
//   if ((await LanguageModel.availability()) !== "unavailable") {
//     const session = await LanguageModel.create({
//       initialPrompts: [{ role: "system", content: "Answer in one sentence." }],
//       monitor: (m) => m.addEventListener("downloadprogress", (e) => console.log(e.loaded)),
//     });
//     console.log(await session.prompt("What is WebGPU?"));
//   }
//
// Sessions share one engine (the weights load once, in one worker); each keeps its own
// conversation and sends it whole with every prompt, so a clone's KV is rebuilt from its own
// history while the engine reuses whatever prefix it has cached. Errors are the DOMExceptions
// the API specifies where it names one (AbortError, QuotaExceededError for a conversation over
// the context, InvalidStateError after destroy(), NotSupportedError); the others are
// HearthErrors with their code.
import { DEFAULT_MODEL } from "./catalog.js";
import { Hearth } from "./hearth.js";

let settings = { model: DEFAULT_MODEL.url, contextLength: undefined, engineOptions: {} };
let engine = null; // Promise<Hearth> once a create() starts loading
let loading = false;
let unavailableReason = null;

const dom = (name, message) => new DOMException(message, name);

/** A HearthError as the API's DOMException where the API names one. */
function asApiError(e) {
  if (e?.code === "aborted") return dom("AbortError", e.message);
  if (e?.code === "context-length-exceeded") return dom("QuotaExceededError", e.message);
  return e;
}

/** The Prompt API's inputs (a string or a list of {role, content} messages) as chat messages. */
function toMessages(input, role = "user") {
  if (typeof input === "string") return [{ role, content: input }];
  if (!Array.isArray(input)) throw new TypeError("a prompt is a string or an array of messages");
  return input.map((m) => {
    if (!["system", "user", "assistant"].includes(m?.role)) throw new TypeError(`unknown role ${m?.role}`);
    const content = Array.isArray(m.content)
      ? m.content.map((part) => {
          if (typeof part === "string") return part;
          if (part?.type !== "text") throw dom("NotSupportedError", `hearth's models take text, not ${part?.type}`);
          return part.value;
        })
      : [m.content];
    if (content.some((c) => typeof c !== "string")) throw new TypeError("message content must be text");
    return { role: m.role, content: content.join("") };
  });
}

function load(target, signal) {
  if (engine) return engine;
  loading = true;
  let furthest = 0;
  // downloadprogress: 0 first, 1 last, growing in between (the download, then the upload).
  const report = (loaded) => {
    furthest = Math.max(furthest, loaded);
    target?.dispatchEvent(new ProgressEvent("downloadprogress", { loaded: furthest, total: 1 }));
  };
  report(0);
  const onProgress = ({ phase, progress }) => {
    if (phase === "download") report(progress * 0.5);
    else if (phase === "load") report(0.5 + progress * 0.5 * 0.99);
  };
  engine = Hearth.load(settings.model, {
    ...settings.engineOptions,
    contextLength: settings.contextLength,
    onProgress,
    signal,
  }).then(
    (e) => {
      loading = false;
      report(1);
      return e;
    },
    (e) => {
      loading = false;
      engine = null;
      throw asApiError(e);
    },
  );
  return engine;
}

/** The entry point, as `globalThis.LanguageModel` is in Chrome. */
export class LanguageModel {
  /**
   * Chooses the model (before the first create): `model` a URL or a stored model's id (default:
   * the model this site serves), `contextLength` in tokens, and any other `Hearth.load` option.
   */
  static configure({ model = DEFAULT_MODEL.url, contextLength, ...engineOptions } = {}) {
    if (engine) throw dom("InvalidStateError", "configure() comes before the first create()");
    settings = { model, contextLength, engineOptions };
  }

  /**
   * "available" (loaded, or stored in this browser), "downloading" (a create() is loading it),
   * "downloadable" (it fits this GPU and is not stored yet) or "unavailable" (no WebGPU, the
   * model unreadable, or over what this GPU can hold: `LanguageModel.unavailableReason` says
   * which, in the fit check's words).
   */
  static async availability() {
    unavailableReason = null;
    if (loading) return "downloading";
    if (engine) return "available";
    if (!globalThis.navigator?.gpu) {
      unavailableReason = "this browser has no WebGPU";
      return "unavailable";
    }
    try {
      const url = new URL(settings.model, globalThis.document?.baseURI ?? globalThis.location?.href).href;
      const { limits, f16 } = settings.engineOptions;
      const report = await Hearth.inspect(settings.model, { contextLength: settings.contextLength, limits, f16 });
      if (!report.fits) {
        unavailableReason = report.reason ?? "the model does not fit this GPU";
        return "unavailable";
      }
      const stored = (await Hearth.models.list()).some((m) => m.complete && (m.url === url || m.id === settings.model));
      return stored ? "available" : "downloadable";
    } catch (e) {
      unavailableReason = e.message;
      return "unavailable";
    }
  }

  /** Why the last `availability()` said "unavailable". */
  static get unavailableReason() {
    return unavailableReason;
  }

  /** The sampling defaults and limits: {defaultTopK, maxTopK, defaultTemperature, maxTemperature}. */
  static async params() {
    const d = await Hearth.defaults();
    return { defaultTopK: d.top_k, maxTopK: 1000, defaultTemperature: d.temperature, maxTemperature: 2 };
  }

  /**
   * A session: `initialPrompts` (messages, a system one first), `temperature` and `topK`
   * (both or neither), `monitor(target)` to hear `downloadprogress` events, `signal`.
   * @returns {Promise<LanguageModelSession>}
   */
  static async create({ initialPrompts = [], temperature, topK, monitor, signal } = {}) {
    if ((temperature === undefined) !== (topK === undefined)) {
      throw dom("NotSupportedError", "give both temperature and topK, or neither");
    }
    if (signal?.aborted) throw dom("AbortError", "create() was aborted");
    const target = new EventTarget();
    monitor?.(target);
    const hearth = await load(target, signal);
    const sampling = temperature === undefined ? {} : { temperature, top_k: topK };
    const info = await hearth.info();
    const session = new LanguageModelSession(hearth, toMessages(initialPrompts, "system"), sampling, {
      contextWindow: info.context_length,
      temperature: temperature ?? null,
      topK: topK ?? null,
    });
    await session.measured();
    return session;
  }
}

/** One conversation with the shared model. */
export class LanguageModelSession extends EventTarget {
  #hearth;
  #history;
  #sampling;
  #usage = 0;
  #destroyed = false;
  #window;

  /** @private: made by `LanguageModel.create` and `clone`. */
  constructor(hearth, history, sampling, { contextWindow, temperature, topK, usage = 0 }) {
    super();
    this.#hearth = hearth;
    this.#history = history;
    this.#sampling = sampling;
    this.#window = contextWindow;
    this.#usage = usage;
    /** The session's sampling, as created (null: the model's defaults). */
    this.temperature = temperature;
    this.topK = topK;
  }

  /** Tokens the conversation uses so far. */
  get contextUsage() {
    return this.#usage;
  }

  /** Tokens the context holds. */
  get contextWindow() {
    return this.#window;
  }

  /** Older names of the two above. */
  get inputUsage() {
    return this.#usage;
  }
  get inputQuota() {
    return this.#window;
  }

  /** @private: counts the history's tokens (after create or append). */
  async measured() {
    this.#usage = this.#history.length ? await this.#promptTokens(this.#history) : 0;
  }

  /** Tokens `input` would add to the conversation (its turn and the reply's opening). */
  async measureContextUsage(input) {
    this.#check();
    return (await this.#promptTokens([...this.#history, ...toMessages(input)])) - this.#usage;
  }

  /** The older name of `measureContextUsage`. */
  measureInputUsage(input) {
    return this.measureContextUsage(input);
  }

  /** The reply to `input` (the conversation goes on with both). `responseConstraint`: a
   *  JSON schema the reply is held to. */
  async prompt(input, { signal, responseConstraint } = {}) {
    this.#check();
    const messages = [...this.#history, ...toMessages(input)];
    try {
      const reply = await this.#hearth.chat.completions.create(this.#request(messages, responseConstraint), {
        signal,
      });
      const text = reply.choices[0].message.content ?? "";
      this.#history = [...messages, { role: "assistant", content: text }];
      this.#usage = reply.usage.total_tokens;
      return text;
    } catch (e) {
      throw this.#overflowed(asApiError(e));
    }
  }

  /** The reply to `input` as a ReadableStream of text pieces; cancelling the stream (or the
   *  signal) stops the generation. */
  promptStreaming(input, { signal, responseConstraint } = {}) {
    this.#check();
    const messages = [...this.#history, ...toMessages(input)];
    const request = { ...this.#request(messages, responseConstraint), stream: true };
    request.stream_options = { include_usage: true };
    let chunks = null;
    let text = "";
    return new ReadableStream({
      start: async () => {
        try {
          chunks = (await this.#hearth.chat.completions.create(request, { signal }))[Symbol.asyncIterator]();
        } catch (e) {
          throw this.#overflowed(asApiError(e));
        }
      },
      pull: async (controller) => {
        try {
          for (;;) {
            const { value, done } = await chunks.next();
            if (done) {
              this.#history = [...messages, { role: "assistant", content: text }];
              controller.close();
              return;
            }
            if (value.usage) this.#usage = value.usage.total_tokens;
            const piece = value.choices[0]?.delta?.content;
            if (piece) {
              text += piece;
              controller.enqueue(piece);
              return;
            }
          }
        } catch (e) {
          throw this.#overflowed(asApiError(e));
        }
      },
      cancel: async () => {
        await chunks?.return();
      },
    });
  }

  /** Adds `input` to the conversation without a reply. */
  async append(input) {
    this.#check();
    this.#history = [...this.#history, ...toMessages(input)];
    await this.measured();
  }

  /** A new session with this one's conversation so far (the weights are shared). */
  async clone() {
    this.#check();
    return new LanguageModelSession(this.#hearth, [...this.#history], this.#sampling, {
      contextWindow: this.#window,
      temperature: this.temperature,
      topK: this.topK,
      usage: this.#usage,
    });
  }

  /** Ends the session: later calls throw InvalidStateError. */
  destroy() {
    this.#destroyed = true;
  }

  #check() {
    if (this.#destroyed) throw dom("InvalidStateError", "this session was destroyed");
  }

  #request(messages, responseConstraint) {
    const request = { messages, ...this.#sampling };
    if (responseConstraint) {
      request.response_format = { type: "json_schema", json_schema: { name: "response", schema: responseConstraint } };
    }
    return request;
  }

  // A conversation over the context tells its listeners (`contextoverflow`) as it fails.
  #overflowed(e) {
    if (e?.name === "QuotaExceededError") this.dispatchEvent(new Event("contextoverflow"));
    return e;
  }

  async #promptTokens(messages) {
    const r = await this.#hearth.chat.completions.create({ messages, max_tokens: 0 });
    return r.usage.prompt_tokens;
  }
}

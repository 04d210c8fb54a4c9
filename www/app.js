// The chat page: pick a model (a preset, a URL or a local file), see from its header whether
// this GPU can run it, load it (kept in browser storage), chat, and look inside the file.
// Built only on the public JS API (hearth.js); the engine runs in a worker.
import { CATALOG, DEFAULT_MODEL } from "./catalog.js";
import { chatMarkdown, chatTitle, chatsSize, deleteChat, listChats, newChat, saveChat } from "./chats.js";
import { Hearth, HearthError } from "./hearth.js";
import { renderReply } from "./render.js";

const $ = (id) => document.getElementById(id);
const bubbleOf = new WeakMap(); // a message of the conversation → its bubble

const state = {
  engine: null,
  file: null, // a local File chosen or dropped
  chat: null, // the conversation shown (chats.js): kept in IndexedDB at each change
  messages: [], // its messages: {role, content}, as requests send them
  dropped: 0, // messages at the start of the conversation left out of requests (long chats)
  contextLength: 0, // tokens of context of the loaded model
  modelName: null, // the loaded model's name, kept with the chats it answers
  busy: false,
  inspected: 0, // sequence number of the latest inspect, so older answers are dropped
  adapter: null,
};

// ---------------------------------------------------------------------------------------------
// Formatting and errors
// ---------------------------------------------------------------------------------------------

function bytes(n) {
  if (!Number.isFinite(n)) return "?";
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  return `${Math.round(n / 1e3)} kB`;
}

function seconds(s) {
  if (!Number.isFinite(s)) return "";
  return s >= 90 ? `${Math.round(s / 60)} min` : `${Math.max(1, Math.round(s))} s`;
}

function count(n) {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${Math.round(n / 1e6)}M`;
  return String(n);
}

/** What to do about each error code, in a sentence. */
const ADVICE = {
  "no-webgpu": "", // the engine's message already names the browsers and the flag
  "adapter-limits": "This GPU's limits are too small for this model: choose a smaller model or a shorter context.",
  "out-of-memory":
    "The GPU ran out of memory: choose a smaller model or a shorter context, or close other GPU-heavy tabs.",
  "device-lost": "The GPU was reset (a driver update, sleep, or too much work at once). Load the model again.",
  quota: "Browser storage is full: delete stored models below, or free disk space, then load again.",
  network: "Check the connection and the URL, then load again: a download that was cut resumes where it stopped.",
  "bad-model": "The file is not a usable GGUF model: check that the URL points at the .gguf file itself.",
  "unsupported-model": "hearth cannot run this architecture yet: try a Llama, Qwen, SmolLM or Gemma 3 model.",
  aborted: "Stopped. Load again to continue; a download resumes where it stopped.",
  "bad-request": "Check the settings (numbers in range) and try again.",
  "context-length-exceeded":
    "The conversation no longer fits in the context: start a new chat, or load the model with a longer context.",
  "unsupported-schema": "The JSON schema or grammar uses something hearth cannot enforce: simplify it and try again.",
  internal: "Something went wrong inside hearth: reload the page and try again.",
};

function showError(e) {
  const code = e.code ?? "internal";
  const message = String(e.message ?? e);
  $("banner-text").textContent = message.charAt(0).toUpperCase() + message.slice(1);
  $("banner-advice").textContent = ADVICE[code] ?? "";
  $("banner").dataset.code = code;
  $("banner").hidden = false;
}

function clearError() {
  $("banner").hidden = true;
}

function table(rows, headers = null) {
  const t = document.createElement("table");
  if (headers) {
    const tr = t.createTHead().insertRow();
    for (const h of headers) tr.append(Object.assign(document.createElement("th"), { textContent: h }));
  }
  const body = t.createTBody();
  for (const r of rows) {
    const tr = body.insertRow();
    r.forEach((cell, i) => {
      const td = tr.insertCell();
      td.textContent = String(cell);
      if (!headers && i === 0) td.className = "key";
      else if (headers && typeof cell === "number") td.className = "num";
    });
  }
  return t;
}

// ---------------------------------------------------------------------------------------------
// Which model
// ---------------------------------------------------------------------------------------------

function fillPresets() {
  const select = $("preset");
  const fromAddress = new URLSearchParams(location.search).get("model");
  const options = [...CATALOG];
  if (fromAddress) options.unshift({ id: "address", name: `From the address: ${fromAddress}`, url: fromAddress });
  for (const m of options) {
    const size = m.id === "address" ? "" : ` (${bytes(m.size)})`;
    select.append(new Option(`${m.name}${size}`, m.id));
  }
  select.append(new Option("Custom URL…", "custom"));
  select.value = options[0].id;
  select.onchange = () => {
    $("custom-row").hidden = select.value !== "custom";
    if (select.value !== "file") state.file = null;
    onSourceChange();
  };
  $("custom-url").onchange = onSourceChange;
}

/** The source the page would load: a URL, or the chosen File. */
function currentSource() {
  const v = $("preset").value;
  if (v === "file") return state.file;
  if (v === "custom") return $("custom-url").value.trim() || null;
  if (v === "address") return new URLSearchParams(location.search).get("model");
  return CATALOG.find((m) => m.id === v)?.url ?? DEFAULT_MODEL.url;
}

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  const select = $("preset");
  select.querySelector('option[value="file"]')?.remove();
  select.append(new Option(`Local file: ${file.name} (${bytes(file.size)})`, "file"));
  select.value = "file";
  $("custom-row").hidden = true;
  onSourceChange();
}

function setUpFileInput() {
  $("file").onchange = () => chooseFile($("file").files[0]);
  const drop = $("drop");
  drop.ondragover = (e) => {
    e.preventDefault();
    drop.classList.add("over");
  };
  drop.ondragleave = () => drop.classList.remove("over");
  drop.ondrop = (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  };
}

const loadOptions = () => ({ contextLength: Number($("context").value) || undefined });

/** Reads the chosen model's header and says whether it runs here, before any download. */
async function onSourceChange() {
  const source = currentSource();
  const verdict = $("verdict");
  verdict.className = "verdict muted";
  if (!source) {
    verdict.textContent = "Enter the URL of a .gguf file.";
    return;
  }
  const seq = ++state.inspected;
  verdict.textContent = "Reading the model's header…";
  try {
    const r = await Hearth.inspect(source, loadOptions());
    if (seq !== state.inspected) return;
    const s = r.summary;
    const what = `${bytes(s.file_size)} · ${s.architecture ?? "?"} · ${count(s.n_parameters)} parameters`;
    const memory = r.memory
      ? `needs ${bytes(r.memory.total)} of GPU memory at ${r.memory.context_length} tokens (${r.precision} kernels)`
      : "";
    verdict.replaceChildren(
      Object.assign(document.createElement("div"), { textContent: [what, memory].filter(Boolean).join(" · ") }),
      Object.assign(document.createElement("div"), {
        className: r.fits ? "fits" : "nofit",
        textContent: r.fits
          ? `✓ Runs on this ${r.adapter ? adapterName(r.adapter) : "GPU"}`
          : `✗ Cannot run here: ${r.reason ?? "unknown reason"}`,
      }),
    );
    verdict.className = "verdict";
  } catch (e) {
    if (seq !== state.inspected) return;
    verdict.className = "verdict nofit";
    verdict.textContent = `Could not read the header: ${e.message}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

const PHASES = { download: "Downloading", load: "Loading onto the GPU", compile: "Compiling GPU kernels" };

function showProgress(p) {
  $("progress").hidden = false;
  $("bar").value = p.total ? p.done / p.total : 0;
  let text = PHASES[p.phase] ?? p.phase;
  if (p.phase === "compile") text += ` (${p.done} of ${p.total})`;
  else if (p.total) {
    text += `: ${bytes(p.done)} of ${bytes(p.total)}`;
    if (p.rate) text += ` · ${bytes(p.rate)}/s · ${seconds((p.total - p.done) / p.rate)} left`;
  }
  $("progress-text").textContent = text;
}

async function load(source = currentSource()) {
  if (!source || state.busy) return;
  clearError();
  await unload();
  state.busy = true;
  $("load").disabled = true;
  $("loaded").textContent = "";
  try {
    state.engine = await Hearth.load(source, { ...loadOptions(), onProgress: showProgress });
    const info = await state.engine.info();
    const from = { storage: "browser storage", download: "the network", stream: "the network", file: "a local file" };
    $("loaded").textContent =
      `Loaded ${info.model} from ${from[info.source?.kind] ?? "?"} in ${seconds(info.load.total_ms / 1000)}: ` +
      `${info.precision} kernels, ${info.context_length} tokens of context, ${bytes(info.gpu_memory.total)} of GPU memory.`;
    $("loaded").dataset.ready = "true";
    state.modelName = info.model;
    state.contextLength = info.context_length;
    showContext(0);
    $("unload").hidden = false;
    showAdapter(info.precision);
    setChatEnabled(true);
    $("input").focus();
  } catch (e) {
    state.engine = null;
    showError(e);
  } finally {
    state.busy = false;
    $("load").disabled = false;
    $("progress").hidden = true;
    refreshStored();
  }
}

async function unload() {
  const engine = state.engine;
  state.engine = null;
  setChatEnabled(false);
  $("unload").hidden = true;
  delete $("loaded").dataset.ready;
  $("loaded").textContent = "";
  await engine?.unload().catch(() => {});
}

// ---------------------------------------------------------------------------------------------
// Stored models and storage
// ---------------------------------------------------------------------------------------------

async function refreshStored() {
  const list = $("stored");
  const models = await Hearth.models.list().catch(() => []);
  list.replaceChildren();
  if (!models.length)
    list.append(Object.assign(document.createElement("li"), { className: "muted", textContent: "None yet." }));
  for (const m of models) {
    const li = document.createElement("li");
    const name = decodeURIComponent(new URL(m.url).pathname.split("/").pop());
    const status = m.complete ? bytes(m.size) : `partial: ${bytes(m.bytes)} of ${bytes(m.size)}`;
    const label = Object.assign(document.createElement("span"), { className: "name", textContent: name, title: m.url });
    const meta = Object.assign(document.createElement("span"), {
      className: "muted",
      textContent: `${status} · ${new Date(m.storedAt).toLocaleDateString()}`,
    });
    const use = Object.assign(document.createElement("button"), {
      type: "button",
      textContent: m.complete ? "Load" : "Resume",
      onclick: () => load(m.complete ? m.id : m.url),
    });
    const del = Object.assign(document.createElement("button"), {
      type: "button",
      className: "danger",
      textContent: "Delete",
      onclick: async () => {
        await Hearth.models.delete(m.id).catch(showError);
        refreshStored();
      },
    });
    const buttons = Object.assign(document.createElement("span"), { className: "row" });
    buttons.append(use, del);
    li.append(label, meta, buttons);
    list.append(li);
  }
  const s = await Hearth.storage();
  const chats = await chatsSize().catch(() => 0);
  $("storage-use").textContent =
    `Using ${bytes(s.usage)} of ${bytes(s.quota)} this browser lets this site keep` +
    (s.persisted ? " (kept under storage pressure)" : "") +
    `; conversations take ${bytes(chats)}.`;
}

// ---------------------------------------------------------------------------------------------
// The adapter
// ---------------------------------------------------------------------------------------------

/** The settings' starting values, from the library (the page's HTML values stand if it fails:
 *  the adapter check then says why). */
async function applyDefaults() {
  try {
    const d = await Hearth.defaults();
    const values = {
      context: d.context_length,
      temperature: d.temperature,
      "top-p": d.top_p,
      "top-k": d.top_k,
      "max-tokens": d.max_tokens,
      "min-p": d.min_p,
      "repeat-penalty": d.repeat_penalty,
      "frequency-penalty": d.frequency_penalty,
      "presence-penalty": d.presence_penalty,
    };
    for (const [id, value] of Object.entries(values)) $(id).value = String(Math.round(value * 1e4) / 1e4);
  } catch {
    // findAdapter reports what is wrong.
  }
}

async function findAdapter() {
  try {
    state.adapter = await Hearth.adapter();
    showAdapter(null);
  } catch (e) {
    $("gpu-badge").textContent = "No WebGPU";
    $("gpu-badge").classList.add("bad");
    $("adapter").textContent = e.message;
    showError(e);
    $("load").disabled = true;
  }
}

/** The adapter's name, or what kind it is where the browser does not tell. */
const adapterName = (a) => a.name || (a.device_type === "Cpu" ? "software GPU" : "GPU");

function showAdapter(precision) {
  const a = state.adapter;
  if (!a) return;
  const name = a.name || "(the browser does not tell the GPU's name)";
  $("gpu-badge").textContent = `${adapterName(a)} · ${precision ?? (a.shader_f16 ? "f16" : "f32")} kernels`;
  $("adapter").replaceChildren(
    table([
      ["GPU", name],
      ["type", a.device_type],
      ["backend", a.backend],
      ["shader-f16", a.shader_f16 ? "yes" : "no"],
      ["subgroups", a.subgroups ? "yes" : "no"],
      ["max storage binding", bytes(a.max_storage_binding)],
      ["max buffer", bytes(a.max_buffer_size)],
      ["workgroup memory", bytes(a.max_workgroup_storage)],
      ["invocations / workgroup", a.max_invocations],
      ["kernels", precision ? `${precision} (chosen for the loaded model)` : a.shader_f16 ? "f16" : "f32"],
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// Chat
// ---------------------------------------------------------------------------------------------

function setChatEnabled(on) {
  $("input").disabled = !on;
  $("send").disabled = !on || state.busy;
  $("regenerate").disabled = !on || !state.messages.some((m) => m.role === "assistant");
}

function addBubble(role, text) {
  $("empty").hidden = true;
  const bubble = Object.assign(document.createElement("article"), { className: `msg ${role}` });
  const body = Object.assign(document.createElement("div"), { className: "body" });
  const stats = Object.assign(document.createElement("div"), { className: "stats muted" });
  bubble.append(body, stats);
  if (role === "user" || role === "assistant") bubble.append(messageActions(bubble, role));
  showText(bubble, text);
  $("messages").append(bubble);
  bubble.scrollIntoView({ block: "end" });
  return bubble;
}

/** The buttons under a message: copy; edit and resend (the user's); regenerate (a reply);
 *  delete. Each acts on the message the bubble shows, found through `bubbleOf`. */
function messageActions(bubble, role) {
  const row = Object.assign(document.createElement("div"), { className: "actions" });
  const index = () => state.messages.findIndex((m) => bubbleOf.get(m) === bubble);
  const button = (label, name, onclick) => {
    const b = Object.assign(document.createElement("button"), { type: "button", textContent: label, onclick });
    b.dataset.action = name;
    b.setAttribute("aria-label", `${label} this message`);
    row.append(b);
  };
  button("Copy", "copy", async (e) => {
    try {
      await navigator.clipboard.writeText(bubble.dataset.raw ?? "");
      e.target.textContent = "Copied";
    } catch {
      e.target.textContent = "Copy failed";
    }
    setTimeout(() => (e.target.textContent = "Copy"), 1500);
  });
  if (role === "user") {
    button("Edit", "edit", () => {
      const i = index();
      if (state.busy || i < 0) return;
      // Its text goes back to the composer; it and what followed it leave the chat.
      $("input").value = bubble.dataset.raw ?? "";
      removeMessages(i, state.messages.length - i);
      $("input").focus();
    });
  } else {
    // On a reply that max tokens cut (shown only then, by the stylesheet): go on with it.
    button("Continue", "continue", () => {
      const i = index();
      if (state.busy || i !== state.messages.length - 1 || !state.engine) return;
      reply(state.messages[i]);
    });
    button("Regenerate", "regenerate", () => {
      const i = index();
      if (state.busy || i < 0 || !state.engine) return;
      removeMessages(i, state.messages.length - i);
      reply();
    });
  }
  button("Delete", "delete", () => {
    const i = index();
    if (state.busy || i < 0) return;
    // A reply's tool calls take their results with them.
    let n = 1;
    while (state.messages[i + n]?.role === "tool" && state.messages[i].tool_calls) n++;
    removeMessages(i, n);
  });
  return row;
}

/** Removes `n` messages from `i` (and their bubbles), keeps the chat. */
function removeMessages(i, n) {
  for (const m of state.messages.splice(i, n)) bubbleOf.get(m)?.remove();
  if (state.dropped > i) state.dropped = Math.max(i, state.dropped - n);
  $("empty").hidden = state.messages.length > 0;
  setChatEnabled(!!state.engine);
  persist();
}

/** A reply's reasoning (thinking models), collapsed above its answer: a line with its length
 *  and time, the text (never HTML) inside. `finished` (ms) ends the count. */
function showReasoning(bubble, text, started, finished = null) {
  let box = bubble.querySelector("details.reasoning");
  if (!box) {
    box = Object.assign(document.createElement("details"), { className: "reasoning" });
    box.append(document.createElement("summary"), Object.assign(document.createElement("div"), { className: "text" }));
    bubble.querySelector(".body").before(box);
  }
  box.querySelector(".text").textContent = text;
  const words = text.split(/\s+/).filter(Boolean).length;
  // A kept chat's reasoning comes back without its time (started is null).
  const seconds = started === null ? "" : ` · ${(((finished ?? performance.now()) - started) / 1000).toFixed(1)} s`;
  box.querySelector("summary").textContent =
    `${finished !== null ? "Reasoning" : "Thinking…"} · ${words} word${words === 1 ? "" : "s"}${seconds}`;
  box.dataset.words = words;
}

/** Shows `text` in a bubble: a reply's Markdown made into DOM by render.js, never HTML; what
 *  the user typed (and a tool's result) as typed. */
function showText(bubble, text) {
  bubble.dataset.raw = text;
  if (bubble.classList.contains("assistant")) renderReply(bubble.querySelector(".body"), text);
  else bubble.querySelector(".body").textContent = text;
}

/** The reply's `response_format` from the format settings: none, any object, the schema, or a
 *  Lark grammar. */
function responseFormat() {
  if (!$("json-mode").checked) return undefined;
  const text = $("json-schema").value.trim();
  if (!text) return { type: "json_object" };
  if (/^start\s*:/.test(text)) return { type: "grammar", grammar: text };
  let schema;
  try {
    schema = JSON.parse(text);
  } catch (e) {
    throw new HearthError("bad-request", `the JSON schema in the settings is not valid JSON: ${e.message}`);
  }
  return { type: "json_schema", json_schema: { name: "page", schema } };
}

/** The tools of the settings (OpenAI's `tools` array), if calls are on. */
function tools() {
  if (!$("tools-mode").checked) return {};
  try {
    const list = JSON.parse($("tools").value);
    // One call per reply: the user answers each call by hand.
    return { tools: list, tool_choice: $("tool-choice").value, parallel_tool_calls: false };
  } catch (e) {
    throw new HearthError("bad-request", `the tools in the settings are not valid JSON: ${e.message}`);
  }
}

/**
 * A card for one tool call in a reply: the function, its arguments as they stream, and (once
 * the reply is done) a form where the user gives the tool's result, as the tool would.
 */
function toolCard(bubble, call) {
  const card = Object.assign(document.createElement("div"), { className: "tool-call" });
  const kind = Object.assign(document.createElement("div"), { className: "tool-kind", textContent: "tool call" });
  const name = Object.assign(document.createElement("div"), { className: "tool-name" });
  name.textContent = call.function.name;
  const args = document.createElement("pre");
  card.append(kind, name, args);
  bubble.querySelector(".stats").before(card);
  card.update = () => {
    let text = call.function.arguments;
    try {
      text = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // Still streaming: as written so far.
    }
    args.textContent = text;
  };
  card.update();
  return card;
}

/** Forms under a reply's calls; when each has its result, the conversation goes on. */
function askForResults(cards, calls) {
  let pending = calls.length;
  calls.forEach((call, i) => {
    const form = document.createElement("form");
    const input = Object.assign(document.createElement("input"), {
      placeholder: 'The tool\'s result, e.g. {"temperature": 18}',
      ariaLabel: `Result of ${call.function.name}`,
    });
    const send = Object.assign(document.createElement("button"), { type: "submit", textContent: "Send result" });
    form.append(input, send);
    form.onsubmit = (e) => {
      e.preventDefault();
      if (state.busy || !input.value.trim()) return;
      input.disabled = send.disabled = true;
      const message = { role: "tool", tool_call_id: call.id, content: input.value.trim() };
      state.messages.push(message);
      persist();
      bubbleOf.set(message, addBubble("tool", message.content));
      if (--pending === 0) reply();
    };
    cards[i].append(form);
  });
}

/** The context meter under the input: tokens the conversation uses of the context. */
function showContext(used) {
  const meter = $("context-meter");
  meter.max = state.contextLength || 1;
  meter.value = Math.min(used, meter.max);
  const left = state.dropped ? ` · ${state.dropped} earliest message${state.dropped === 1 ? "" : "s"} left out` : "";
  $("context-text").textContent = state.contextLength
    ? `${used} of ${state.contextLength} tokens of context${left}`
    : "";
}

/** Leaves out the oldest exchanges (never the system prompt, never the last question) until
 *  the conversation and room for the reply fit the context, and says so in the conversation.
 *  Counting a prompt runs nothing on the GPU (a request with `max_tokens: 0`). */
async function fitContext(engine, continuing) {
  const room = Math.min(Number($("max-tokens").value) || 0, Math.floor(state.contextLength / 4));
  const before = state.dropped;
  for (;;) {
    const { stream, stream_options, response_format, ...body } = request(continuing);
    const prompt = await engine.chat.completions.create({ ...body, max_tokens: 0 }).then(
      (r) => r.usage.prompt_tokens,
      (e) => (e.code === "context-length-exceeded" ? e.details.prompt_tokens : Promise.reject(e)),
    );
    // The exchange after the first one still sent: from the next user message on.
    const next = state.messages.findIndex((m, i) => i > state.dropped && m.role === "user");
    if (prompt + room <= state.contextLength || next < 0) {
      if (state.dropped > before) {
        for (const m of state.messages.slice(before, state.dropped)) bubbleOf.get(m)?.classList.add("dropped");
        const n = state.dropped - before;
        const notice = Object.assign(document.createElement("p"), {
          className: "notice muted",
          textContent:
            `${n} earlier message${n === 1 ? " is" : "s are"} left out so that the conversation fits the ` +
            `${state.contextLength}-token context (the model no longer sees ${n === 1 ? "it" : "them"}).`,
        });
        notice.setAttribute("role", "status");
        $("messages").append(notice);
      }
      showContext(prompt);
      return;
    }
    state.dropped = next;
  }
}

/** Puts a message into the conversation, as if it had been sent or answered. */
function addMessage(role, content) {
  const message = { role, content };
  state.messages.push(message);
  bubbleOf.set(message, addBubble(role, content));
  setChatEnabled(!!state.engine);
}

/** The request for the conversation from the settings; `continuing`: its last message is a
 *  reply to go on with (continue_final_message). */
function request(continuing = false) {
  const system = $("system").value.trim();
  const num = (id) => Number($(id).value);
  const sent = state.messages.slice(state.dropped);
  // Escapes as people type them in a one-line box: \n for a new line.
  const stops = $("stop-seqs")
    .value.split("\n")
    .filter((line) => line.length > 0)
    .map((line) => line.replaceAll("\\n", "\n"));
  return {
    ...tools(),
    messages: system ? [{ role: "system", content: system }, ...sent] : sent,
    stream: true,
    stream_options: { include_usage: true },
    temperature: num("temperature"),
    top_p: num("top-p"),
    top_k: num("top-k"),
    min_p: num("min-p"),
    repetition_penalty: num("repeat-penalty"),
    frequency_penalty: num("frequency-penalty"),
    presence_penalty: num("presence-penalty"),
    max_tokens: num("max-tokens"),
    ...($("seed").value.trim() ? { seed: num("seed") } : {}),
    ...(stops.length ? { stop: stops } : {}),
    ...(continuing ? { continue_final_message: true } : {}),
    response_format: responseFormat(),
  };
}

/** Answers the conversation in a new bubble; with `continuing` (the last message, a reply cut
 *  by max tokens) goes on with that reply in its own bubble. */
async function reply(continuing = null) {
  const engine = state.engine;
  if (!engine) return;
  state.busy = true;
  bubbleOf.get(continuing)?.classList.add("streaming");
  $("send").disabled = $("regenerate").disabled = true;
  $("stop").disabled = false;
  try {
    await fitContext(engine, continuing !== null);
  } catch (e) {
    bubbleOf.get(continuing)?.classList.remove("streaming");
    state.busy = false;
    $("stop").disabled = true;
    setChatEnabled(!!state.engine);
    return showError(e);
  }
  const bubble = continuing ? bubbleOf.get(continuing) : addBubble("assistant", "");
  bubble.classList.add("streaming");
  delete bubble.dataset.finish;
  const stats = bubble.querySelector(".stats");
  stats.textContent = "Reading the conversation…";
  let text = continuing?.content ?? "";
  let reasoning = "";
  let thinking = null; // when the reasoning started, until the answer starts
  const endReasoning = () => {
    if (thinking !== null) showReasoning(bubble, reasoning, thinking, performance.now());
    thinking = null;
  };
  const calls = [];
  const cards = [];
  try {
    for await (const chunk of await engine.chat.completions.create(request(continuing !== null))) {
      const thought = chunk.choices[0]?.delta?.reasoning_content;
      if (thought) {
        thinking ??= performance.now();
        reasoning += thought;
        showReasoning(bubble, reasoning, thinking);
        stats.textContent = "…";
      }
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        endReasoning();
        text += delta;
        showText(bubble, text);
        stats.textContent = "…";
      }
      for (const piece of chunk.choices[0]?.delta?.tool_calls ?? []) {
        if (piece.id) {
          calls[piece.index] = {
            id: piece.id,
            type: "function",
            function: { name: piece.function.name, arguments: "" },
          };
          cards[piece.index] = toolCard(bubble, calls[piece.index]);
        }
        calls[piece.index].function.arguments += piece.function.arguments;
        cards[piece.index].update();
      }
      const finish = chunk.choices[0]?.finish_reason;
      if (finish) bubble.dataset.finish = finish;
      if (chunk.usage) {
        const u = chunk.usage;
        const why = { length: " · reached max tokens", abort: " · stopped" }[bubble.dataset.finish] ?? "";
        stats.textContent =
          `${u.completion_tokens} tokens · first after ${u.extra.time_to_first_token_s.toFixed(1)} s · ` +
          `${u.extra.decode_tokens_per_s.toFixed(1)} tok/s${why}`;
        showContext(u.prompt_tokens + u.completion_tokens);
      }
    }
    endReasoning();
    if (continuing) {
      continuing.content = text;
      persist();
      return;
    }
    const thoughts = reasoning ? { reasoning_content: reasoning } : {};
    const message = calls.length
      ? { role: "assistant", content: text || null, tool_calls: calls, ...thoughts }
      : { role: "assistant", content: text, ...thoughts };
    state.messages.push(message);
    bubbleOf.set(message, bubble);
    persist();
    if (calls.length) askForResults(cards, calls);
  } catch (e) {
    if (continuing) showText(bubble, continuing.content);
    else bubble.remove();
    showError(e);
    if (e.code === "device-lost") await unload();
  } finally {
    bubble.classList.remove("streaming");
    state.busy = false;
    $("stop").disabled = true;
    setChatEnabled(!!state.engine);
  }
}

// ---------------------------------------------------------------------------------------------
// Conversations kept in the browser (chats.js)
// ---------------------------------------------------------------------------------------------

/** The settings each chat keeps, by the id of their input. */
const CHAT_SETTINGS = [
  "system",
  "temperature",
  "top-p",
  "top-k",
  "min-p",
  "repeat-penalty",
  "frequency-penalty",
  "presence-penalty",
  "seed",
  "stop-seqs",
  "max-tokens",
  "json-mode",
  "json-schema",
  "tools-mode",
  "tools",
  "tool-choice",
];

const readSettings = () =>
  Object.fromEntries(CHAT_SETTINGS.map((id) => [id, $(id).type === "checkbox" ? $(id).checked : $(id).value]));

function applySettings(values = {}) {
  for (const id of CHAT_SETTINGS) {
    if (!(id in values)) continue;
    if ($(id).type === "checkbox") $(id).checked = values[id];
    else $(id).value = values[id];
  }
  $("json-schema").disabled = !$("json-mode").checked;
  $("tools").disabled = $("tool-choice").disabled = !$("tools-mode").checked;
}

function clearConversation() {
  $("messages")
    .querySelectorAll(".msg, .notice")
    .forEach((m) => m.remove());
  $("empty").hidden = state.messages.length > 0;
}

/** Keeps the shown chat (once it has a message, or was kept before) and lists the chats. */
async function persist() {
  const chat = state.chat;
  if (!chat || (!state.messages.length && !chat.kept)) return;
  Object.assign(chat, { messages: state.messages, dropped: state.dropped, settings: readSettings(), kept: true });
  if (state.modelName) chat.model = state.modelName;
  // A last reply cut by max tokens can be continued after a reload too: its index is kept
  // (never a field of the message, which goes back to the engine as it is).
  const last = state.messages.length - 1;
  if (bubbleOf.get(state.messages[last])?.dataset.finish === "length") chat.cutReply = last;
  else delete chat.cutReply;
  try {
    await saveChat(chat);
  } catch (e) {
    showError(new HearthError("quota", `the conversation could not be kept in this browser: ${e.message}`));
  }
  await showChats();
}

/** Shows a chat: its messages (those left out greyed), its settings. */
function openChat(chat) {
  if (state.busy) state.engine?.abort();
  state.chat = chat;
  state.messages = chat.messages;
  state.dropped = chat.dropped ?? 0;
  clearConversation();
  state.messages.forEach((m, i) => {
    const content = typeof m.content === "string" ? m.content : (m.content ?? []).map((p) => p.text).join("");
    const bubble = addBubble(m.role, content);
    if (m.reasoning_content) showReasoning(bubble, m.reasoning_content, null, 0);
    if (i < state.dropped) bubble.classList.add("dropped");
    bubbleOf.set(m, bubble);
  });
  const last = state.messages.length - 1;
  if (chat.cutReply === last && state.messages[last].role === "assistant")
    bubbleOf.get(state.messages[last]).dataset.finish = "length";
  applySettings(chat.settings);
  $("context-text").textContent = "";
  setChatEnabled(!!state.engine);
  showChats();
}

/** The list of kept chats: open, rename, delete. */
async function showChats() {
  const chats = await listChats().catch(() => []);
  if (state.chat && !chats.some((c) => c.id === state.chat.id)) chats.unshift(state.chat);
  $("chats").replaceChildren(...chats.map(chatItem));
}

function chatItem(kept) {
  // The shown chat is the page's own object (a rename must reach what later saves write).
  const current = kept.id === state.chat?.id;
  const chat = current ? state.chat : kept;
  const li = document.createElement("li");
  li.dataset.id = chat.id;
  if (current) li.classList.add("current");
  const title = Object.assign(document.createElement("button"), {
    type: "button",
    className: "chat-title",
    textContent: chatTitle(chat),
    onclick: () => current || openChat(chat),
  });
  if (current) title.setAttribute("aria-current", "true");
  const when = new Date(chat.updated).toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  const n = chat.messages.length;
  const meta = Object.assign(document.createElement("div"), {
    className: "muted",
    textContent: `${n} message${n === 1 ? "" : "s"}${chat.model ? ` · ${chat.model}` : ""} · ${when}`,
  });
  const rename = Object.assign(document.createElement("button"), { type: "button", textContent: "Rename" });
  rename.onclick = () => {
    const input = Object.assign(document.createElement("input"), { value: chatTitle(chat), className: "rename" });
    input.setAttribute("aria-label", "New title");
    const done = async (keep) => {
      if (keep && input.value.trim()) {
        chat.title = input.value.trim();
        if (chat.kept || chat.messages.length) await saveChat(Object.assign(chat, { kept: true }));
      }
      showChats();
    };
    input.onkeydown = (e) => {
      if (e.key === "Enter") done(true);
      if (e.key === "Escape") done(false);
    };
    input.onblur = () => done(true);
    title.replaceWith(input);
    input.select();
  };
  const remove = Object.assign(document.createElement("button"), {
    type: "button",
    className: "danger",
    textContent: "Delete",
  });
  remove.onclick = async () => {
    await deleteChat(chat.id);
    if (current) {
      const [next] = await listChats();
      openChat(next ?? newChat());
    } else showChats();
    refreshStored();
  };
  const row = Object.assign(document.createElement("div"), { className: "row" });
  row.append(rename, remove);
  li.append(title, meta, row);
  return li;
}

/** Downloads the shown chat as a file. */
function exportChat(kind) {
  const chat = { ...state.chat, messages: state.messages, settings: readSettings() };
  const name =
    chatTitle(chat)
      .replace(/[^\p{L}\p{N} _-]+/gu, "")
      .trim() || "chat";
  const [text, type] =
    kind === "md" ? [chatMarkdown(chat), "text/markdown"] : [JSON.stringify(chat, null, 2), "application/json"];
  const a = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([text], { type })),
    download: `${name}.${kind}`,
  });
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

async function setUpChats() {
  $("new-chat").onclick = () => openChat(newChat());
  $("export-md").onclick = () => exportChat("md");
  $("export-json").onclick = () => exportChat("json");
  $("settings").addEventListener("change", () => persist());
  const [latest] = await listChats().catch(() => []);
  openChat(latest ?? newChat());
}

function setUpChat() {
  $("json-mode").onchange = () => ($("json-schema").disabled = !$("json-mode").checked);
  $("tools-mode").onchange = () => ($("tools").disabled = $("tool-choice").disabled = !$("tools-mode").checked);
  $("composer").onsubmit = (e) => {
    e.preventDefault();
    const text = $("input").value.trim();
    if (!text || !state.engine || state.busy) return;
    $("input").value = "";
    clearError();
    const message = { role: "user", content: text };
    state.messages.push(message);
    bubbleOf.set(message, addBubble("user", text));
    persist();
    reply();
  };
  $("input").onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("composer").requestSubmit();
    }
  };
  $("stop").onclick = () => state.engine?.abort();
  // Esc stops a reply anywhere on the page, as in other chat apps (an open dialog takes its own
  // Esc; the rename box handles its own).
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented || $("stop").disabled) return;
    if (document.querySelector("dialog[open]") || e.target.classList?.contains("rename")) return;
    e.preventDefault();
    $("stop").click();
  });
  $("regenerate").onclick = () => {
    if (state.busy || state.messages.at(-1)?.role !== "assistant") return;
    removeMessages(state.messages.length - 1, 1);
    reply();
  };
  $("clear").onclick = () => {
    if (state.busy) state.engine?.abort();
    state.messages = [];
    state.dropped = 0;
    clearConversation();
    showContext(0);
    persist();
    $("empty").hidden = false;
    setChatEnabled(!!state.engine);
  };
}

// ---------------------------------------------------------------------------------------------
// The inspector
// ---------------------------------------------------------------------------------------------

function section(title, ...content) {
  const s = document.createElement("section");
  s.append(Object.assign(document.createElement("h3"), { textContent: title }), ...content);
  return s;
}

function pre(text) {
  const p = document.createElement("pre");
  p.textContent = text;
  return p;
}

function templateSource(text) {
  const d = document.createElement("details");
  d.append(Object.assign(document.createElement("summary"), { textContent: "Template source" }), pre(text));
  return d;
}

async function openInspector() {
  const source = currentSource();
  if (!source) return;
  const body = $("inspector-body");
  body.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Reading the header…" }));
  $("inspector").showModal();
  try {
    const r = await Hearth.inspect(source, loadOptions());
    const s = r.summary;
    const t = s.tokenizer;
    const arch = s.architecture ?? "?";
    $("inspector-h").textContent = s.name ?? arch;
    const tensors = document.createElement("details");
    tensors.append(
      Object.assign(document.createElement("summary"), { textContent: `All ${s.tensors.length} tensors` }),
      table(
        s.tensors.map((x) => [x.name, x.ty, x.dims.join(" × "), x.n_bytes]),
        ["name", "type", "shape", "bytes"],
      ),
    );
    const template = r.chat_template;
    body.replaceChildren(
      section(
        "Model",
        table([
          ["architecture", arch],
          [
            "hearth runs it",
            r.architecture.missing
              ? `no: ${r.architecture.missing}`
              : r.architecture.supported
                ? `yes: verified on ${r.architecture.verified}`
                : "no",
          ],
          ["parameters", `${count(s.n_parameters)} (${s.n_parameters.toLocaleString()})`],
          ["file size", `${bytes(s.file_size)} (${s.file_size.toLocaleString()} bytes)`],
          ["header", `${bytes(r.header_bytes)} (all that was read to show this)`],
          ["GGUF version", s.version],
        ]),
      ),
      section(
        "On this GPU",
        table([
          ["verdict", r.fits ? "runs here" : `cannot run here: ${r.reason}`],
          ["GPU", r.adapter ? adapterName(r.adapter) : "none"],
          ["kernels", r.precision],
          ...(r.memory
            ? [
                ["context", `${r.memory.context_length} tokens`],
                ["weights", bytes(r.memory.weights)],
                ["KV cache", bytes(r.memory.kv_cache)],
                ...(r.memory.recurrent_state > 0 ? [["recurrent state", bytes(r.memory.recurrent_state)]] : []),
                ["activations", bytes(r.memory.activations)],
                ["GPU memory in all", bytes(r.memory.total)],
              ]
            : []),
        ]),
      ),
      section(
        "Hyper-parameters",
        table(Object.entries(s.hyperparameters).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)])),
      ),
      section(
        "Tokenizer",
        table([
          ["model", t.model ?? "-"],
          ["pre-tokenizer", t.pre ?? "-"],
          ["tokens", t.n_tokens],
          ["merges", t.n_merges],
          ["BOS id", t.bos_id ?? "-"],
          ["EOS id", t.eos_id ?? "-"],
          ["adds BOS", t.add_bos ?? "-"],
        ]),
      ),
      section(
        "Chat template",
        Object.assign(document.createElement("p"), {
          textContent: template
            ? template.source === "file"
              ? "From the file. A system and a user message become:"
              : `The file has none; hearth uses its ${template.source.replace("built-in ", "")} template. A system and a user message become:`
            : "The template does not compile.",
        }),
        ...(template?.example ? [pre(template.example)] : []),
        ...(template
          ? [
              Object.assign(document.createElement("p"), {
                textContent:
                  template.tool_format === "generic"
                    ? "Tool calls: the template has no tools; hearth describes them in the system message and holds replies to JSON."
                    : `Tool calls: the model writes them in the ${template.tool_format} format.`,
              }),
            ]
          : []),
        ...(template ? [templateSource(template.text)] : []),
      ),
      section(
        "Bytes by type",
        table(
          s.by_type.map((b) => [b.ty, b.count, b.n_bytes, `${((100 * b.n_bytes) / s.n_tensor_bytes).toFixed(1)} %`]),
          ["type", "tensors", "bytes", "share"],
        ),
      ),
      section("Tensors", tensors),
    );
  } catch (e) {
    body.replaceChildren(Object.assign(document.createElement("p"), { className: "nofit", textContent: e.message }));
  }
}

// ---------------------------------------------------------------------------------------------

function main() {
  fillPresets();
  setUpFileInput();
  setUpChat();
  $("load").onclick = () => load();
  $("unload").onclick = () => unload();
  $("inspect").onclick = () => openInspector();
  $("inspector-close").onclick = () => $("inspector").close();
  $("banner-close").onclick = clearError;
  $("context").onchange = onSourceChange;
  // The library's defaults fill the settings before anything reads them, and a kept chat's
  // settings then take their place.
  applyDefaults()
    .then(setUpChats)
    .then(findAdapter)
    .then(() => {
      if (state.adapter) onSourceChange();
    });
  refreshStored();
  // Offline after the first visit (sw.js): the page and the wasm are cached, models are in
  // browser storage already. A page served from a file:// or plain-http origin has no worker.
  navigator.serviceWorker?.register("./sw.js").catch((e) => console.warn(`no offline copy: ${e.message}`));
  // For tests and the curious: the page's state, its renderer, and a way to put earlier turns
  // into the conversation (as a saved chat would come back).
  window.hearthPage = { state, showText, addBubble, addMessage };
}

main();

// <hearth-chat>: a private chat box for any static site, in one script and one tag.
//
//   <script type="module" src="hearth-chat.js"></script>
//   <hearth-chat model="models/SmolLM2-135M-Instruct.Q4_0.gguf" system="You are brief."
//                placeholder="Ask me anything" context-length="2048"></hearth-chat>
//
// Attributes: `model` (a GGUF URL or a stored model's id; default: the site's model), `system`
// (the system prompt), `placeholder`, `context-length` (tokens). The model is checked against
// this GPU first (Hearth.inspect: nothing is downloaded when it cannot run here), then loaded
// with its progress shown, and kept in browser storage for the next visit. Replies stream in
// as Markdown through the page's safe renderer (render.js: model text only ever becomes text
// nodes); Stop ends a reply. `element.request` adds fields to every request (e.g.
// {temperature: 0.3, max_tokens: 256}); the element's `data-state` says loading / ready /
// replying / error.
import { DEFAULT_MODEL } from "./catalog.js";
import { Hearth } from "./hearth.js";
import { renderReply } from "./render.js";

const STYLE = `
:host { display: block; font: 15px/1.5 system-ui, sans-serif; color: #1d1b18; max-width: 100%;
  border: 1px solid #d8d3ca; border-radius: 12px; background: #fbfaf7; overflow: hidden; }
* { box-sizing: border-box; }
.status { padding: 0.5rem 0.75rem; font-size: 0.85rem; color: #5c564d; border-bottom: 1px solid #e7e2d9; }
.status progress { width: 100%; height: 0.5rem; display: block; margin-top: 0.25rem; }
.status.error { color: #9b1c1c; background: #fdf0f0; }
.messages:empty { display: none; }
.messages { padding: 0.75rem; max-height: 28rem; overflow-y: auto; display: flex; flex-direction: column; gap: 0.5rem; }
.msg { padding: 0.5rem 0.75rem; border-radius: 10px; max-width: 90%; overflow-wrap: anywhere; white-space: pre-wrap; }
.msg p { margin: 0 0 0.5rem; } .msg p:last-child { margin-bottom: 0; }
.msg pre { background: #efece5; padding: 0.5rem; border-radius: 6px; overflow-x: auto; white-space: pre; margin: 0; }
.msg :is(ul, ol) { margin: 0.25rem 0; padding-left: 1.3rem; white-space: normal; }
.msg table { border-collapse: collapse; display: block; overflow-x: auto; white-space: normal; }
.msg :is(th, td) { border: 1px solid #e7e2d9; padding: 0.2rem 0.4rem; }
.msg a { color: #2f5d50; }
.code-block { margin: 0.25rem 0; }
.code-header { display: flex; justify-content: space-between; align-items: center;
  font-size: 0.75rem; color: #5c564d; }
.code-header button { padding: 0.1rem 0.5rem; font-size: 0.75rem; }
.note { display: block; font-size: 0.8rem; color: #8a8377; margin-top: 0.25rem; }
.user { align-self: flex-end; background: #2f5d50; color: #fff; }
.assistant { align-self: flex-start; background: #fff; border: 1px solid #e7e2d9; }
form { display: flex; gap: 0.5rem; padding: 0.75rem; border-top: 1px solid #e7e2d9; }
textarea { flex: 1; min-width: 0; resize: vertical; font: inherit; padding: 0.5rem; border-radius: 8px;
  border: 1px solid #cfc9bf; min-height: 2.5rem; }
button { font: inherit; padding: 0.5rem 1rem; border-radius: 8px; border: 0; background: #2f5d50; color: #fff; cursor: pointer; }
button:disabled { opacity: 0.5; cursor: default; }
`;

const MB = (n) => `${(n / 1e6).toFixed(0)} MB`;

class HearthChat extends HTMLElement {
  /** Fields added to every request (sampling, max_tokens, response_format, …). */
  request = {};
  #engine = null;
  #messages = [];
  #parts = null;
  #started = false;

  connectedCallback() {
    if (this.#started) return;
    this.#started = true;
    const root = this.attachShadow({ mode: "open" });
    root.innerHTML = `<style>${STYLE}</style>
      <div class="status" role="status" aria-live="polite"></div>
      <div class="messages" role="log" aria-live="polite"></div>
      <form><textarea rows="2" aria-label="Message"></textarea><button type="submit">Send</button></form>`;
    const status = root.querySelector(".status");
    const messages = root.querySelector(".messages");
    const form = root.querySelector("form");
    const input = root.querySelector("textarea");
    const button = root.querySelector("button");
    input.placeholder = this.getAttribute("placeholder") ?? "Message";
    this.#parts = { status, messages, form, input, button };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (this.dataset.state === "replying") this.#engine?.abort();
      else this.#send();
    });
    this.#load();
  }

  disconnectedCallback() {
    this.#engine?.unload();
  }

  async #load() {
    const { status, input, button } = this.#parts;
    const model = this.getAttribute("model") ?? DEFAULT_MODEL.url;
    const contextLength = Number(this.getAttribute("context-length")) || undefined;
    this.#state("loading", "Checking what this GPU can run…");
    input.disabled = button.disabled = true;
    try {
      const report = await Hearth.inspect(model, { contextLength });
      if (!report.fits) throw new Error(report.reason ?? "this model does not fit this GPU");
      const bar = document.createElement("progress");
      bar.max = 1;
      const line = document.createElement("span");
      line.textContent = `Loading the model (${MB(report.summary.file_size ?? 0)})…`;
      status.replaceChildren(line, bar);
      const onProgress = (p) => {
        line.textContent = p.text;
        bar.value = p.progress;
      };
      for (;;) {
        try {
          this.#engine = await Hearth.load(model, { contextLength, onProgress });
          break;
        } catch (e) {
          // Another tab (or another box on this page) is downloading this model: its copy
          // will serve this one too once it is complete.
          if (!e.details?.busy) throw e;
          line.textContent = "Another tab is downloading this model; waiting for it…";
          await new Promise((r) => setTimeout(r, 3000));
        }
      }
      const info = await this.#engine.info();
      this.#state("ready", `${info.model} · runs in this browser, nothing leaves it (${MB(info.file_size)})`);
      input.disabled = button.disabled = false;
    } catch (e) {
      this.#state("error", e.message);
    }
  }

  async #send() {
    const { messages, input, button } = this.#parts;
    const text = input.value.trim();
    if (!text || !this.#engine) return;
    input.value = "";
    this.#bubble("user").textContent = text;
    this.#messages.push({ role: "user", content: text });
    const system = this.getAttribute("system");
    const history = system ? [{ role: "system", content: system }, ...this.#messages] : this.#messages;
    const reply = this.#bubble("assistant");
    let answer = "";
    let finish = null;
    this.#state("replying");
    button.textContent = "Stop";
    try {
      const stream = await this.#engine.chat.completions.create({ ...this.request, messages: history, stream: true });
      for await (const chunk of stream) {
        answer += chunk.choices[0]?.delta?.content ?? "";
        finish = chunk.choices[0]?.finish_reason ?? finish;
        renderReply(reply, answer);
        messages.scrollTop = messages.scrollHeight;
      }
      if (finish === "abort") {
        const note = document.createElement("span");
        note.className = "note";
        note.textContent = "stopped";
        reply.append(note);
      }
      this.#messages.push({ role: "assistant", content: answer });
      this.#state("ready");
    } catch (e) {
      this.#messages.pop();
      this.#state("error", e.message);
      input.value = text;
    } finally {
      button.textContent = "Send";
    }
  }

  #bubble(role) {
    const el = document.createElement("div");
    el.className = `msg ${role}`;
    this.#parts.messages.append(el);
    return el;
  }

  #state(state, line) {
    this.dataset.state = state;
    const { status } = this.#parts;
    status.classList.toggle("error", state === "error");
    if (line !== undefined) status.textContent = line;
  }
}

customElements.define("hearth-chat", HearthChat);

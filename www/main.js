// The demo page: the adapter, the header of the default model (read by streaming only as many
// bytes as the header needs, with the engine's own parser), and generation through the public
// JS API (hearth.js: the engine in a worker).
import { Hearth } from "./hearth.js";
import init, { adapterInfo, inspectGguf } from "./pkg/hearth.js";

const DEFAULT_MODEL = "models/SmolLM2-135M-Instruct.Q4_0.gguf";
const $ = (id) => document.getElementById(id);

function fail(el, message) {
  el.textContent = message;
  el.classList.add("error");
}

// A table; `headers` null for a two-column key/value list (no header row, values as text).
function table(headers, rows) {
  const t = document.createElement("table");
  if (!headers) rows = rows.map(([k, v]) => [k, String(v)]);
  else {
    const head = t.insertRow();
    for (const h of headers) head.appendChild(Object.assign(document.createElement("th"), { textContent: h }));
  }
  for (const r of rows) {
    const tr = t.insertRow();
    for (const cell of r) {
      const td = tr.insertCell();
      td.textContent = cell;
      if (typeof cell === "number") td.className = "num";
    }
  }
  return t;
}

function mib(n) {
  return `${(n / 1048576).toFixed(2)} MiB`;
}

async function showAdapter() {
  const el = $("adapter");
  if (!navigator.gpu) return fail(el, "This browser has no WebGPU. Use a recent Chrome, Edge or Safari.");
  try {
    const a = JSON.parse(await adapterInfo());
    el.replaceChildren(
      table(null, [
        ["name", a.name || "(not reported by the browser)"],
        ["backend", a.backend],
        ["type", a.device_type],
        ["shader-f16", a.shader_f16 ? "yes" : "no"],
        ["subgroups", a.subgroups ? "yes" : "no"],
        ["max storage binding", mib(a.max_storage_binding)],
        ["max buffer", mib(a.max_buffer_size)],
      ]),
    );
  } catch (e) {
    fail(el, `WebGPU is present but unusable: ${e.message}`);
  }
}

// Streams the file and parses the header as soon as enough bytes have arrived.
async function readHeader(url, progress) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`could not download ${url}: HTTP ${response.status} ${response.statusText}`);
  const size = Number(response.headers.get("Content-Length"));
  if (!size) throw new Error(`${url}: the server did not say how large the file is`);
  const reader = response.body.getReader();
  let buf = new Uint8Array(0);
  let want = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`${url}: the download ended after ${buf.length} bytes, inside the header`);
    const next = new Uint8Array(buf.length + value.length);
    next.set(buf);
    next.set(value, buf.length);
    buf = next;
    progress(buf.length, size);
    if (buf.length < want) continue;
    const r = JSON.parse(inspectGguf(buf, size));
    if (r.summary) {
      reader.cancel();
      return r.summary;
    }
    want = buf.length + r.need_more;
  }
}

function showSummary(s) {
  const hp = Object.entries(s.hyperparameters).map(([k, v]) => [k, JSON.stringify(v)]);
  const t = s.tokenizer;
  const tensors = document.createElement("details");
  tensors.append(
    Object.assign(document.createElement("summary"), { textContent: `${s.tensors.length} tensors` }),
    table(
      ["name", "type", "shape", "bytes"],
      s.tensors.map((r) => [r.name, r.ty, JSON.stringify(r.dims), r.n_bytes]),
    ),
  );
  $("model").replaceChildren(
    table(null, [
      ["name", s.name ?? "-"],
      ["architecture", s.architecture ?? "-"],
      ["GGUF version", s.version],
      ["parameters", s.n_parameters],
      ["file size", mib(s.file_size)],
      ["tokenizer", `${t.model ?? "-"} (pre ${t.pre ?? "-"}), ${t.n_tokens} tokens, ${t.n_merges} merges`],
      ["chat template", t.has_chat_template ? "yes" : "no"],
    ]),
    table(["hyper-parameter", "value"], hp),
    table(
      ["type", "tensors", "bytes"],
      s.by_type.map((b) => [b.ty, b.count, mib(b.n_bytes)]),
    ),
    tensors,
  );
}

// Loading, then a conversation: each reply streams in; the engine reuses the cached turns.
function setUpGeneration(url) {
  const messages = [];
  let engine = null;
  $("load").onclick = async () => {
    $("load").disabled = true;
    const bar = $("load-bar");
    bar.hidden = false;
    try {
      engine = await Hearth.load(url, {
        onProgress: (p) => {
          bar.value = p.total ? p.done / p.total : 0;
          const rate = p.rate ? `, ${mib(p.rate)}/s` : "";
          $("load-status").textContent =
            p.phase === "compile" ? "compiling kernels…" : `${p.phase}: ${mib(p.bytes ?? 0)} of ${mib(p.total)}${rate}`;
        },
      });
      const info = await engine.info();
      bar.hidden = true;
      $("load-status").textContent = `loaded in ${(info.load.total_ms / 1000).toFixed(1)} s`;
      $("engine-info").textContent =
        `${info.model} (${info.architecture}, ${info.weight_types.join("/")}) on ${info.adapter.name || "this GPU"}: ` +
        `${info.precision} kernels, ${info.context_length} tokens of context, ${mib(info.gpu_memory.total)} of GPU memory`;
      $("prompt").disabled = $("send").disabled = false;
      $("prompt").focus();
    } catch (e) {
      bar.hidden = true;
      fail($("load-status"), `${e.message} [${e.code}]`);
      $("load").disabled = false;
    }
  };
  $("prompt").onkeydown = (e) => {
    if (e.key === "Enter" && !e.shiftKey) {
      e.preventDefault();
      $("ask").requestSubmit();
    }
  };
  $("stop").onclick = () => engine?.abort();
  $("ask").onsubmit = async (e) => {
    e.preventDefault();
    const text = $("prompt").value.trim();
    if (!text || !engine) return;
    messages.push({ role: "user", content: text });
    $("reply").textContent = "";
    $("reply").classList.remove("error");
    $("send").disabled = true;
    $("stop").disabled = false;
    $("stats").textContent = "reading the prompt…";
    let reply = "";
    try {
      const stream = await engine.chat.completions.create({
        messages,
        stream: true,
        max_tokens: 256,
        stream_options: { include_usage: true },
      });
      for await (const chunk of stream) {
        reply += chunk.choices[0]?.delta.content ?? "";
        $("reply").textContent = reply; // text, never HTML
        if (chunk.usage) {
          const u = chunk.usage;
          $("stats").textContent =
            `${u.completion_tokens} tokens, first after ${u.extra.time_to_first_token_s.toFixed(1)} s, ` +
            `${u.extra.decode_tokens_per_s.toFixed(1)} tok/s (${u.prompt_tokens_details.cached_tokens} prompt tokens cached)`;
        }
      }
      messages.push({ role: "assistant", content: reply });
      $("prompt").value = "";
    } catch (err) {
      messages.pop();
      fail($("reply"), `${err.message} [${err.code}]`);
    } finally {
      $("send").disabled = false;
      $("stop").disabled = true;
    }
  };
}

async function main() {
  await init();
  showAdapter();
  const url = new URLSearchParams(location.search).get("model") ?? DEFAULT_MODEL;
  setUpGeneration(url);
  $("model-url").textContent = url;
  const progress = $("progress");
  try {
    const summary = await readHeader(url, (n, total) => {
      progress.textContent = `Reading the header: ${mib(n)} of ${mib(total)} downloaded`;
    });
    progress.textContent = "Header parsed (tensor data was not downloaded).";
    showSummary(summary);
  } catch (e) {
    fail(progress, e.message);
  }
}

main().catch((e) => fail($("progress"), `hearth failed to start: ${e.message}`));

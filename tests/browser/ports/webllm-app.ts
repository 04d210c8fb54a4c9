// WebLLM's get-started flow (https://webllm.mlc.ai/docs/user/basic_usage.html), written against
// @mlc-ai/web-llm 0.2.86: its own declarations check this file (tests/browser/ports.test.mjs).
// The port to hearth changes two lines, the import and the engine's creation, and nothing else.
import { CreateMLCEngine } from "@mlc-ai/web-llm";
import type { ChatCompletionMessageParam, InitProgressReport } from "@mlc-ai/web-llm";

/** Shows `text` under `label` on the page. */
function setLabel(label: string, text: string): void {
  let out = document.querySelector<HTMLElement>(`[data-label="${label}"]`);
  if (!out) {
    out = document.createElement("pre");
    out.dataset.label = label;
    document.body.append(out);
  }
  out.textContent = text;
}

const initProgressCallback = (report: InitProgressReport) => setLabel("init", report.text);
const selectedModel = "SmolLM2-135M-Instruct-q0f32-MLC";
const engine = await CreateMLCEngine(selectedModel, { initProgressCallback });

const messages: ChatCompletionMessageParam[] = [
  { role: "system", content: "You are a helpful AI assistant." },
  { role: "user", content: "What is the capital of France?" },
];

// A reply at once.
const reply = await engine.chat.completions.create({ messages, temperature: 0.8, seed: 7, max_tokens: 6 });
setLabel("reply", reply.choices[0].message.content ?? "");
setLabel("reply-usage", `${reply.usage?.prompt_tokens} + ${reply.usage?.completion_tokens} tokens`);

// The next turn, streamed, with usage in the last chunk.
messages.push({ role: "assistant", content: await engine.getMessage() });
messages.push({ role: "user", content: "And of Italy?" });
const chunks = await engine.chat.completions.create({
  messages,
  temperature: 0.8,
  seed: 7,
  max_tokens: 6,
  stream: true,
  stream_options: { include_usage: true },
});
let streamed = "";
for await (const chunk of chunks) {
  streamed += chunk.choices[0]?.delta.content || "";
  setLabel("stream", streamed);
  if (chunk.usage) setLabel("stream-usage", `${chunk.usage.prompt_tokens} + ${chunk.usage.completion_tokens} tokens`);
}
setLabel("get-message", await engine.getMessage());
setLabel("stats", await engine.runtimeStatsText());

// A long reply, interrupted after its third chunk.
const story = await engine.chat.completions.create({
  messages: [{ role: "user", content: "Tell me a long story about a dragon." }],
  temperature: 0.8,
  seed: 3,
  max_tokens: 16,
  stream: true,
});
let cut = "";
let pieces = 0;
let finish = "";
for await (const chunk of story) {
  cut += chunk.choices[0]?.delta.content || "";
  if (++pieces === 3) engine.interruptGenerate();
  finish = chunk.choices[0]?.finish_reason ?? finish;
}
setLabel("interrupted", cut);
setLabel("interrupted-finish", finish);

// A fresh start: the first question again.
await engine.resetChat();
const again = await engine.chat.completions.create({
  messages: messages.slice(0, 2),
  temperature: 0.8,
  seed: 7,
  max_tokens: 6,
});
setLabel("after-reset", again.choices[0].message.content ?? "");
setLabel("done", "yes");

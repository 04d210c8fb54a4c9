// A small chat app written against the openai npm client (7.60.0): its own declarations check
// this file (tests/browser/ports.test.mjs), types of requests and replies included. The port to
// hearth changes two lines, the import and the client's creation, and nothing else.
import OpenAI from "openai";
import type { ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { CompletionUsage } from "openai/resources/completions";

/** Shows `text` under `label` on the page. */
function show(label: string, text: string): void {
  const out = document.createElement("pre");
  out.dataset.label = label;
  out.textContent = text;
  document.body.append(out);
}

const tokens = (u: CompletionUsage | undefined) => `${u?.prompt_tokens} + ${u?.completion_tokens} tokens`;

const client = new OpenAI({ baseURL: "http://127.0.0.1:8000/v1", apiKey: "unused", dangerouslyAllowBrowser: true });
const model = "SmolLM2-135M-Instruct";

const history: ChatCompletionMessageParam[] = [
  { role: "developer", content: "Answer in one short sentence." },
  { role: "user", content: "Name a colour of the sky." },
];
const completion = await client.chat.completions.create({
  model,
  messages: history,
  temperature: 0.7,
  top_p: 0.9,
  seed: 11,
  max_completion_tokens: 6,
});
show("completion", completion.choices[0].message.content ?? "");
show("completion-usage", tokens(completion.usage));

// The reply goes back into the history as it came, and the next question as text parts.
history.push(completion.choices[0].message);
history.push({ role: "user", content: [{ type: "text", text: "Why is it that colour?" }] });
const stream = await client.chat.completions.create({
  model,
  messages: history,
  temperature: 0.7,
  seed: 11,
  max_completion_tokens: 6,
  stream: true,
  stream_options: { include_usage: true },
});
let text = "";
let usage: CompletionUsage | undefined;
for await (const chunk of stream) {
  text += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
show("stream", text);
show("stream-usage", tokens(usage));

// A legacy text completion.
const legacy = await client.completions.create({
  model,
  prompt: "The sky is",
  max_tokens: 6,
  temperature: 0.5,
  seed: 2,
});
show("legacy", legacy.choices[0].text);
show("done", "yes");

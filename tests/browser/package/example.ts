// A typed app against the npm package's declarations: `tsc --noEmit` must accept it
// (tests/browser/package.test.mjs). It uses every part of the public API once.
import { Hearth, HearthError, type ChatCompletionChunk, type ChatMessage } from "hearth-webgpu";
import "hearth-webgpu/hearth-chat";
import { LanguageModel } from "hearth-webgpu/prompt-api";

export async function chat(url: string, out: { textContent: string | null }): Promise<string> {
  const report = await Hearth.inspect(url, { contextLength: 1024 });
  if (!report.fits) throw new Error(report.reason ?? "does not fit");
  const engine = await Hearth.load(url, {
    contextLength: 1024,
    initProgressCallback: (p) => console.log(p.text, p.progress.toFixed(2)),
  });
  const messages: ChatMessage[] = [
    { role: "system", content: "Be brief." },
    { role: "user", content: [{ type: "text", text: "Hi!" }] },
  ];
  const reply = await engine.chat.completions.create({ messages, temperature: 0.7, max_tokens: 64, seed: 1 });
  const first: string | null = reply.choices[0].message.content;
  const controller = new AbortController();
  const stream = await engine.chat.completions.create(
    { messages, stream: true, stream_options: { include_usage: true } },
    { signal: controller.signal },
  );
  for await (const chunk of stream) {
    const c: ChatCompletionChunk = chunk;
    out.textContent += c.choices[0]?.delta.content ?? "";
  }
  const text = await engine.completions.create({ prompt: "Once upon a time", max_tokens: 8, logprobs: 2 });
  const info = await engine.info();
  console.log(info.system_fingerprint, info.stats.decoded, text.choices[0].text, await engine.runtimeStatsText());
  try {
    await engine.chat.completions.create({
      messages,
      tools: [{ type: "function", function: { name: "f", parameters: { type: "object" } } }],
      tool_choice: "required",
    });
  } catch (e) {
    if (e instanceof HearthError && e.code === "context-length-exceeded") console.log(e.details?.prompt_tokens);
  }
  await engine.resetChat();
  engine.interruptGenerate();
  await engine.unload();
  for (const m of await Hearth.models.list()) if (!m.complete) await Hearth.models.delete(m.id);

  const box = document.querySelector("hearth-chat");
  if (box) box.request = { temperature: 0.3, max_tokens: 256 };

  LanguageModel.configure({ model: url, contextLength: 1024 });
  if ((await LanguageModel.availability()) === "unavailable") return LanguageModel.unavailableReason ?? "";
  const session = await LanguageModel.create({
    initialPrompts: [{ role: "system", content: "Be brief." }],
    monitor: (m) => m.addEventListener("downloadprogress", (e) => console.log(e.loaded)),
  });
  const answer: string = await session.prompt("Hi!", { responseConstraint: { type: "string" } });
  const reader = session.promptStreaming("More?").getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) out.textContent += r.value;
  console.log(session.contextUsage, session.contextWindow, await session.measureContextUsage("x"));
  (await session.clone()).destroy();
  return first ?? answer;
}

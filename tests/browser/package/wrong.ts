// A deliberately wrong app: `tsc --noEmit` must refuse it (a temperature as text, a role that
// does not exist), so the declarations are known to check something.
import { Hearth } from "hearth-webgpu";

export async function wrong(engine: Hearth): Promise<void> {
  await engine.chat.completions.create({ messages: [{ role: "user", content: "Hi" }], temperature: "hot" });
  await engine.chat.completions.create({ messages: [{ role: "robot", content: "Hi" }] });
}

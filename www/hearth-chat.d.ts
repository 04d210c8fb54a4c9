// Types of <hearth-chat> (hearth-chat.js): importing the module defines the element.
import type { ChatCompletionRequest } from "./hearth.js";

export interface HearthChatElement extends HTMLElement {
  /** Fields added to every request (sampling, max_tokens, response_format, …). */
  request: Partial<Omit<ChatCompletionRequest, "messages" | "stream">>;
}

declare global {
  interface HTMLElementTagNameMap {
    "hearth-chat": HearthChatElement;
  }
}

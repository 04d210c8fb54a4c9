// Types of the Prompt-API facade (prompt-api.js): Chrome's built-in `LanguageModel` shape over
// hearth. Written by hand beside it.
import type { EngineOptions, JsonSchema, LoadOptions } from "./hearth.js";

export type Availability = "unavailable" | "downloadable" | "downloading" | "available";

export type Role = "system" | "user" | "assistant";

export interface LanguageModelMessage {
  role: Role;
  content: string | (string | { type: "text"; value: string })[];
}

/** What a prompt takes: a user's text, or messages. */
export type LanguageModelPrompt = string | LanguageModelMessage[];

/** The target `monitor` receives: it hears `downloadprogress` (`loaded` from 0 to 1). */
export interface CreateMonitor extends EventTarget {
  addEventListener(type: "downloadprogress", listener: (e: ProgressEvent) => void): void;
  addEventListener(type: string, listener: EventListenerOrEventListenerObject | null): void;
}

export interface LanguageModelCreateOptions {
  initialPrompts?: LanguageModelMessage[];
  /** With `topK`: both or neither. */
  temperature?: number;
  topK?: number;
  monitor?: (m: CreateMonitor) => void;
  signal?: AbortSignal;
}

export interface LanguageModelPromptOptions {
  signal?: AbortSignal;
  /** A JSON schema the reply is held to. */
  responseConstraint?: JsonSchema;
}

export interface LanguageModelParams {
  defaultTopK: number;
  maxTopK: number;
  defaultTemperature: number;
  maxTemperature: number;
}

/** Which model the facade runs: a URL or a stored id, the context, other load options. */
export interface LanguageModelConfig extends EngineOptions, Omit<LoadOptions, "onProgress" | "signal"> {
  model?: string;
}

export class LanguageModel {
  static configure(config?: LanguageModelConfig): void;
  static availability(): Promise<Availability>;
  /** Why the last `availability()` said "unavailable". */
  static readonly unavailableReason: string | null;
  static params(): Promise<LanguageModelParams>;
  static create(options?: LanguageModelCreateOptions): Promise<LanguageModelSession>;
}

export class LanguageModelSession extends EventTarget {
  private constructor();
  readonly temperature: number | null;
  readonly topK: number | null;
  /** Tokens the conversation uses so far, and the context's size. */
  readonly contextUsage: number;
  readonly contextWindow: number;
  /** Older names of the two above. */
  readonly inputUsage: number;
  readonly inputQuota: number;
  prompt(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): Promise<string>;
  promptStreaming(input: LanguageModelPrompt, options?: LanguageModelPromptOptions): ReadableStream<string>;
  append(input: LanguageModelPrompt): Promise<void>;
  measureContextUsage(input: LanguageModelPrompt): Promise<number>;
  measureInputUsage(input: LanguageModelPrompt): Promise<number>;
  clone(): Promise<LanguageModelSession>;
  destroy(): void;
}

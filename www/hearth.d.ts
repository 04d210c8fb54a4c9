// Types of hearth's JS API (hearth.js), written by hand beside it: requests, responses, chunks,
// errors, storage, inspect and info. Shapes are OpenAI's chat/completions API where hearth
// follows it; README.md says what each field does.

/** The class of a failure, as `HearthError.code` spells it. */
export type ErrorCode =
  | "no-webgpu"
  | "adapter-limits"
  | "out-of-memory"
  | "device-lost"
  | "quota"
  | "network"
  | "bad-model"
  | "unsupported-model"
  | "aborted"
  | "bad-request"
  | "context-length-exceeded"
  | "unsupported-schema"
  | "internal";

/** Every failure of the API: a code to branch on and a sentence a person can act on. */
export class HearthError extends Error {
  constructor(code: ErrorCode, message: string, details?: ErrorDetails);
  readonly name: "HearthError";
  readonly code: ErrorCode;
  /** With `context-length-exceeded`: both sizes, to drop old turns and retry; `{busy: true}`
   *  on a load that found its model being downloaded by another tab. */
  readonly details?: ErrorDetails;
}

/** What some errors carry besides their sentence. */
export interface ErrorDetails {
  /** context-length-exceeded: the prompt's tokens and the context's. */
  prompt_tokens?: number;
  context_length?: number;
  /** A load that found its model being downloaded by another tab. */
  busy?: boolean;
}

// ---- loading ------------------------------------------------------------------------------

export interface LoadProgress {
  phase: "download" | "load" | "compile";
  done: number;
  total: number;
  /** Bytes so far (download and load). */
  bytes?: number;
  /** Bytes per second (download and load). */
  rate?: number;
  /** 0..1 of the current phase (as WebLLM's reports). */
  progress: number;
  /** Seconds since the load started. */
  timeElapsed: number;
  /** A line saying where the load is. */
  text: string;
}

/** Lower limits to run under, as a smaller GPU would have them. */
export interface Limits {
  maxStorageBufferBindingSize?: number;
  maxBufferSize?: number;
  /** Bytes: a model planned over it is refused before anything is allocated. */
  memoryBudget?: number;
}

/** Options of `Hearth.inspect` (and of `Hearth.load`). */
export interface EngineOptions {
  /** Tokens of context (default 2048). */
  contextLength?: number;
  /** f16 activations where the GPU has shader-f16 ("auto", the default), never, or required. */
  f16?: "auto" | boolean;
  limits?: Limits;
  /** Prompt tokens per GPU step (default 128). */
  prefillChunk?: number;
  /** A chat template (Jinja) in place of the file's, as llama.cpp's `--chat-template-file`. */
  chatTemplate?: string;
}

export interface LoadOptions extends EngineOptions {
  onProgress?: (p: LoadProgress) => void;
  /** WebLLM's name for `onProgress`. */
  initProgressCallback?: (p: LoadProgress) => void;
  /** The file's SHA-256 (64 hex digits): another copy is discarded and fetched again. */
  sha256?: string;
  /** Keep a URL's file in browser storage (default true). */
  store?: boolean;
  /** Hash a stored copy again as it loads (default false). */
  verify?: boolean;
  /** Aborts the load (code "aborted"); a download resumes at the next load. */
  signal?: AbortSignal;
}

/** A URL, the id of a stored model, or a local file. */
export type ModelSource = string | URL | Blob;

// ---- requests -----------------------------------------------------------------------------

export interface TextPart {
  type: "text";
  text: string;
}

export interface ToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** OpenAI's (and WebLLM's) parts that are not text: typed so that a history typed with their
 *  clients' declarations passes as it is, refused at run time (`bad-request` naming the part):
 *  the models read text. */
export type MediaPart =
  | { type: "image_url"; image_url: unknown }
  | { type: "input_audio"; input_audio: unknown }
  | { type: "file"; file: unknown };
/** An assistant's refusal, as OpenAI's replies may carry it: read as the message's text. */
export interface RefusalPart {
  type: "refusal";
  refusal: string;
}
/** A custom tool's call, as OpenAI's types allow in a history: refused at run time. */
export interface CustomToolCall {
  id: string;
  type: "custom";
  custom: { name: string; input: string };
}
export type ChatMessage =
  | { role: "system" | "developer"; content: string | TextPart[]; name?: string }
  | { role: "user"; content: string | (TextPart | MediaPart)[]; name?: string }
  | {
      role: "assistant";
      content?: string | (TextPart | RefusalPart)[] | null;
      /** Taken as the text when `content` is null (a history kept from OpenAI's replies). */
      refusal?: string | null;
      /** The turn's reasoning, as replies give it (templates that keep it read it). */
      reasoning_content?: string | null;
      tool_calls?: (ToolCall | CustomToolCall)[];
      name?: string;
    }
  | { role: "tool"; content: string | TextPart[]; tool_call_id: string }
  /** OpenAI's deprecated function messages: typed as OpenAI's clients have them, refused at
   *  run time (use `tools` and `tool` messages). */
  | { role: "function"; content: string | null; name: string };

export interface Tool {
  type: "function";
  function: { name: string; description?: string; parameters?: JsonSchema; strict?: boolean };
}

export type ToolChoice = "none" | "auto" | "required" | { type: "function"; function: { name: string } };

/** A JSON schema (any object: hearth checks it and refuses what it cannot enforce). */
export type JsonSchema = { [key: string]: unknown } | boolean;

export type ResponseFormat =
  | { type: "text" }
  | { type: "json_object"; schema?: JsonSchema }
  | { type: "json_schema"; json_schema: { name?: string; schema: JsonSchema; strict?: boolean; description?: string } }
  | { type: "grammar"; grammar: string };

/** What chat and text completions share. */
export interface SamplingRequest {
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  repetition_penalty?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  seed?: number;
  /** Choices, one after another from the prompt's cache (1 to 16). */
  n?: number;
  ignore_eos?: boolean;
  return_token_ids?: boolean;
  response_format?: ResponseFormat;
  /** Accepted no-ops of OpenAI's clients. */
  user?: string;
  store?: false;
  metadata?: Record<string, string>;
  service_tier?: "auto" | "default";
  model?: string;
}

export interface ChatCompletionRequest extends SamplingRequest {
  messages: ChatMessage[];
  logprobs?: boolean;
  top_logprobs?: number;
  tools?: Tool[];
  tool_choice?: ToolChoice;
  parallel_tool_calls?: boolean;
  modalities?: ["text"];
  /** Variables for the chat template, e.g. `{enable_thinking: false}` for Qwen3. */
  chat_template_kwargs?: Record<string, unknown>;
  /** "auto" (default): a thinking model's `<think>…</think>` comes apart as
   *  `reasoning_content`; "none": the text as written. */
  reasoning_format?: "auto" | "deepseek" | "none";
  /** The last message is the start of the assistant's reply, which the model goes on with
   *  (vLLM's name); the reply holds only what it adds. "Continue" on a reply cut by max_tokens. */
  continue_final_message?: boolean;
}

export interface CompletionRequest extends SamplingRequest {
  prompt: string;
  /** Log-probabilities of this many most likely tokens per step (0 to 20). */
  logprobs?: number;
}

/** The second argument of `create`, as the openai client takes it. */
export interface RequestOptions {
  /** Aborts this request alone: the promise (or the stream's next read) rejects with "aborted". */
  signal?: AbortSignal;
}

// ---- responses ----------------------------------------------------------------------------

export type FinishReason = "stop" | "length" | "abort" | "tool_calls";

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  extra: {
    time_to_first_token_s: number;
    prefill_tokens_per_s: number;
    decode_tokens_per_s: number;
    time_per_output_token_s: number;
    e2e_latency_s: number;
    submits_per_token: number;
    dispatches_per_token: number;
    gpu_idle_waits_per_token: number;
    grammar_mask_ms_per_token?: number;
    forced_tokens?: number;
  };
}

export interface TopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

export interface TokenLogprob extends TopLogprob {
  top_logprobs: TopLogprob[];
}

export interface AssistantMessage {
  role: "assistant";
  content: string | null;
  /** Always null: present because OpenAI's clients type it so. */
  refusal: null;
  /** A thinking model's reasoning, apart from `content` (absent when it had none). */
  reasoning_content?: string;
  tool_calls?: ToolCall[];
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    message: AssistantMessage;
    finish_reason: FinishReason;
    logprobs: { content: TokenLogprob[] } | null;
    token_ids?: number[];
  }[];
  usage: Usage;
  prompt_token_ids?: number[];
}

export interface ToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function: { name?: string; arguments: string };
}

export interface ChatCompletionChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string; reasoning_content?: string; tool_calls?: ToolCallDelta[] };
    finish_reason: FinishReason | null;
    logprobs?: { content: TokenLogprob[] } | null;
    token_ids?: number[];
  }[];
  usage?: Usage;
  prompt_token_ids?: number[];
}

export interface Completion {
  id: string;
  object: "text_completion";
  created: number;
  model: string;
  system_fingerprint: string;
  choices: {
    index: number;
    text: string;
    finish_reason: FinishReason | null;
    logprobs: {
      tokens: string[];
      token_logprobs: number[];
      top_logprobs: Record<string, number>[];
      text_offset: number[];
    } | null;
    token_ids?: number[];
  }[];
  usage?: Usage;
  prompt_token_ids?: number[];
}

/** A stream of chunks; leaving its `for await` early stops the generation. */
export type Stream<T> = AsyncGenerator<T, void, undefined>;

export interface ChatCompletions {
  create(
    request: ChatCompletionRequest & { stream: true },
    options?: RequestOptions,
  ): Promise<Stream<ChatCompletionChunk>>;
  create(request: ChatCompletionRequest & { stream?: false }, options?: RequestOptions): Promise<ChatCompletion>;
  create(
    request: ChatCompletionRequest,
    options?: RequestOptions,
  ): Promise<ChatCompletion | Stream<ChatCompletionChunk>>;
}

export interface Completions {
  create(request: CompletionRequest & { stream: true }, options?: RequestOptions): Promise<Stream<Completion>>;
  create(request: CompletionRequest & { stream?: false }, options?: RequestOptions): Promise<Completion>;
  create(request: CompletionRequest, options?: RequestOptions): Promise<Completion | Stream<Completion>>;
}

// ---- reports ------------------------------------------------------------------------------

export interface AdapterInfo {
  name: string;
  backend: string;
  shader_f16: boolean;
  subgroups: boolean;
  [limit: string]: unknown;
}

export interface MemoryPlan {
  weights: number;
  kv_cache: number;
  recurrent_state: number;
  activations: number;
  total: number;
  context_length: number;
}

/** What `Hearth.inspect` reads from a header. */
export interface Inspection {
  /** The file's summary: architecture, parameters, tensors, tokenizer, template, … */
  summary: { [key: string]: unknown };
  header_bytes: number;
  adapter: AdapterInfo | null;
  precision: "f16" | "f32";
  memory: MemoryPlan | null;
  fits: boolean;
  /** Why it does not fit, or cannot run. */
  reason?: string;
}

export interface EngineStats {
  prefilled: number;
  decoded: number;
  decode_submits: number;
  decode_dispatches: number;
  prefill_builds: number;
  uniform_recycles: number;
  decode_stalls: number;
}

export interface EngineInfo {
  model: string;
  architecture: string;
  file_size: number;
  n_parameters: number;
  weight_types: string[];
  adapter: AdapterInfo;
  precision: "f16" | "f32";
  context_length: number;
  context_length_train: number;
  cached_tokens: number;
  chat_template: string;
  gpu_memory: { weights: number; kv_cache: number; recurrent_state: number; total: number };
  load: { [key: string]: unknown };
  system_fingerprint: string;
  stats: EngineStats;
  last_usage: Usage | null;
  wasm_memory_bytes: number | null;
  source: { kind: "storage" | "download" | "stream" | "file"; id: string | null } | null;
}

export interface StepProfile {
  n_tokens: number;
  dispatches: number;
  step_ms: number;
  kernels: [string, number, number][];
}

export interface StoredModel {
  id: string;
  url: string;
  size: number;
  bytes: number;
  complete: boolean;
  sha256: string | null;
  storedAt: number;
}

export interface Defaults {
  context_length: number;
  prefill_chunk: number;
  temperature: number;
  top_k: number;
  top_p: number;
  min_p: number;
  repeat_penalty: number;
  frequency_penalty: number;
  presence_penalty: number;
  max_tokens: number;
}

// ---- the engine ---------------------------------------------------------------------------

/** A model loaded in its own worker. */
export class Hearth {
  /** Loads a GGUF from a URL (kept in browser storage), a stored model's id, or a File/Blob. */
  static load(source: ModelSource, options?: LoadOptions): Promise<Hearth>;
  /** The header alone: what the model is, the GPU memory it needs, whether it fits here. */
  static inspect(source: ModelSource, options?: EngineOptions): Promise<Inspection>;
  /** The settings hearth starts from. */
  static defaults(): Promise<Defaults>;
  /** The GPU adapter a load would use. */
  static adapter(): Promise<AdapterInfo>;
  /** Storage used and available to this site. */
  static storage(): Promise<{ usage: number; quota: number; persisted: boolean }>;
  /** Models kept in this browser. */
  static models: {
    list(): Promise<StoredModel[]>;
    delete(id: string): Promise<void>;
  };

  /** OpenAI-style chat completions. */
  readonly chat: { completions: ChatCompletions };
  /** OpenAI-style text completions. */
  readonly completions: Completions;

  /** Stops the running generation before its next token (`finish_reason: "abort"`). */
  abort(): void;
  /** WebLLM's name for `abort()`. */
  interruptGenerate(): void;
  /** Forgets the cached conversation (WebLLM's name). */
  resetChat(): Promise<void>;
  /** The text of the last request's first choice, so far while it streams (WebLLM's name). */
  getMessage(): Promise<string>;
  /** The last request's speeds as a line (WebLLM's name). */
  runtimeStatsText(): Promise<string>;
  /** Frees the GPU memory and ends the worker. */
  unload(): Promise<void>;
  /** The model, the adapter, memory, counters, the last request's usage. */
  info(): Promise<EngineInfo>;
  /** Times a decode step (1) or a prefill chunk and each of its kernels. */
  profile(nTokens?: number, reps?: number): Promise<StepProfile>;
  /** For tests: destroys the GPU device. */
  loseDeviceForTesting(): Promise<void>;
}

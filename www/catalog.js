// Models the chat page offers: the one this site serves, and GGUF files on the Hugging Face
// hub ("resolve" links, which send CORS headers and answer Range requests). Sizes are
// approximate; `Hearth.inspect` reads the exact size and what the GPU needs before a download.
// Only architectures hearth verifies against llama.cpp are offered (README: supported
// architectures); `arch` is each file's general.architecture.

const hub = (repo, file) => `https://huggingface.co/${repo}/resolve/main/${file}`;

/** The default model, served next to the page by `./build.sh serve`. */
export const DEFAULT_MODEL = {
  id: "default",
  name: "SmolLM2 135M Instruct · Q4_0 (served by this site)",
  url: "models/SmolLM2-135M-Instruct.Q4_0.gguf",
  size: 78e6,
  arch: "llama",
};

/** Presets: name, URL, approximate size in bytes, architecture. */
export const CATALOG = [
  DEFAULT_MODEL,
  {
    id: "smollm2-135m",
    name: "SmolLM2 135M Instruct · Q8_0",
    url: hub("bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q8_0.gguf"),
    size: 145e6,
    arch: "llama",
  },
  {
    id: "smollm2-360m",
    name: "SmolLM2 360M Instruct · Q8_0",
    url: hub("HuggingFaceTB/SmolLM2-360M-Instruct-GGUF", "smollm2-360m-instruct-q8_0.gguf"),
    size: 386e6,
    arch: "llama",
  },
  {
    id: "smollm2-1.7b",
    name: "SmolLM2 1.7B Instruct · Q4_K_M",
    url: hub("bartowski/SmolLM2-1.7B-Instruct-GGUF", "SmolLM2-1.7B-Instruct-Q4_K_M.gguf"),
    size: 1.06e9,
    arch: "llama",
  },
  {
    id: "qwen2.5-0.5b",
    name: "Qwen2.5 0.5B Instruct · Q8_0",
    url: hub("Qwen/Qwen2.5-0.5B-Instruct-GGUF", "qwen2.5-0.5b-instruct-q8_0.gguf"),
    size: 676e6,
    arch: "qwen2",
  },
  {
    id: "qwen2.5-1.5b",
    name: "Qwen2.5 1.5B Instruct · Q4_K_M",
    url: hub("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf"),
    size: 1.12e9,
    arch: "qwen2",
  },
  {
    id: "qwen3-0.6b",
    name: "Qwen3 0.6B · Q8_0",
    url: hub("Qwen/Qwen3-0.6B-GGUF", "Qwen3-0.6B-Q8_0.gguf"),
    size: 639e6,
    arch: "qwen3",
  },
  {
    id: "phi-3.5-mini",
    name: "Phi-3.5 mini instruct · Q4_0",
    url: hub("bartowski/Phi-3.5-mini-instruct-GGUF", "Phi-3.5-mini-instruct-Q4_0.gguf"),
    size: 2.18e9,
    arch: "phi3",
  },
  {
    id: "llama-3.2-1b",
    name: "Llama 3.2 1B Instruct · Q4_K_M",
    url: hub("bartowski/Llama-3.2-1B-Instruct-GGUF", "Llama-3.2-1B-Instruct-Q4_K_M.gguf"),
    size: 808e6,
    arch: "llama",
  },
  {
    id: "llama-3.2-3b",
    name: "Llama 3.2 3B Instruct · Q4_K_M",
    url: hub("bartowski/Llama-3.2-3B-Instruct-GGUF", "Llama-3.2-3B-Instruct-Q4_K_M.gguf"),
    size: 2.02e9,
    arch: "llama",
  },
  {
    id: "gemma-3-270m",
    name: "Gemma 3 270M it · Q8_0",
    url: hub("ggml-org/gemma-3-270m-it-GGUF", "gemma-3-270m-it-Q8_0.gguf"),
    size: 292e6,
    arch: "gemma3",
  },
  {
    id: "gemma-3-1b",
    name: "Gemma 3 1B it · Q4_K_M",
    url: hub("ggml-org/gemma-3-1b-it-GGUF", "gemma-3-1b-it-Q4_K_M.gguf"),
    size: 806e6,
    arch: "gemma3",
  },
];

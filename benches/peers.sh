#!/usr/bin/env bash
# The standing peer race: hearth against llama.cpp's Vulkan backend, on the same adapter and
# the same files, runs interleaved, medians in one table with the ratios.
#
#   ./build.sh bench-peers [RUNS]      (RUNS per engine and file, default 3; not part of `test`)
#   benches/peers.sh build             (only build llama.cpp's llama-bench)
#
# llama.cpp is built once (cached in target/peers/) from the llama.cpp that the llama-cpp-python
# 0.3.36 source package on PyPI vendors, with cmake, glslc, libvulkan-dev and spirv-headers from
# Debian. Debian 12's Vulkan headers (1.3.239) predate VK_EXT_layer_settings, which this
# llama.cpp uses only to configure the validation layer when it creates its instance: the
# one-hunk benches/llama-cpp-layer-settings.patch guards that code with the headers' own
# VK_EXT_layer_settings macro and creates the instance without those settings otherwise (no
# validation layer is installed here; nothing else reads them).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PEERS="$ROOT/target/peers"
MODELS="$ROOT/models"
RUNS="${1:-3}"
[[ $RUNS == build ]] && RUNS=3
SDIST=llama_cpp_python-0.3.36.tar.gz
SDIST_SHA=832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e
FILES=(SmolLM2-135M-Instruct.F16.gguf SmolLM2-135M-Instruct.Q8_0.gguf SmolLM2-135M-Instruct.Q4_0.gguf
  gemma-3-270m-Q4_K_M.gguf)
PROMPT=32
GEN=16

say() { printf '\033[1m[peers]\033[0m %s\n' "$*" >&2; }
die() { printf '[peers] error: %s\n' "$*" >&2; exit 1; }

build_llama_cpp() {
  local bench="$PEERS/llama.cpp/build/bin/llama-bench"
  if [[ -x $bench ]]; then
    echo "$bench"
    return
  fi
  local missing=()
  command -v cmake >/dev/null || missing+=(cmake)
  command -v glslc >/dev/null || missing+=(glslc)
  [[ -f /usr/include/vulkan/vulkan.hpp ]] || missing+=(libvulkan-dev)
  [[ -d /usr/include/spirv ]] || missing+=(spirv-headers)
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || die "missing ${missing[*]}: install them (apt-get install ${missing[*]}) or run as root"
    say "installing ${missing[*]} (apt)"
    apt-get install -y -q "${missing[@]}" >&2
  fi
  mkdir -p "$PEERS"
  if [[ ! -f $PEERS/$SDIST ]]; then
    say "fetching llama-cpp-python 0.3.36's source package (PyPI)"
    "$ROOT/.venv/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary llama-cpp-python \
      -d "$PEERS" llama-cpp-python==0.3.36 >&2
  fi
  echo "$SDIST_SHA  $PEERS/$SDIST" | sha256sum -c --quiet - || die "$SDIST: sha256 mismatch"
  rm -rf "$PEERS/llama.cpp" "$PEERS/src"
  mkdir -p "$PEERS/src"
  tar -xzf "$PEERS/$SDIST" -C "$PEERS/src" llama_cpp_python-0.3.36/vendor/llama.cpp
  mv "$PEERS/src/llama_cpp_python-0.3.36/vendor/llama.cpp" "$PEERS/llama.cpp"
  rm -rf "$PEERS/src"
  (cd "$PEERS/llama.cpp" && patch -s -p1 <"$ROOT/benches/llama-cpp-layer-settings.patch")
  say "building llama.cpp's llama-bench with the Vulkan backend (once; long on 2 cores)"
  cmake -S "$PEERS/llama.cpp" -B "$PEERS/llama.cpp/build" -DCMAKE_BUILD_TYPE=Release -DGGML_VULKAN=ON \
    -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_SERVER=OFF >&2
  cmake --build "$PEERS/llama.cpp/build" --target llama-bench -j"$(nproc)" >&2
  echo "$bench"
}

median() { sort -g | awk '{v[NR] = $1} END {if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# hearth: "prefill: … = X tok/s" and "decode: … = Y tok/s" of `hearth bench`.
run_hearth() {
  "$HEARTH" bench -m "$1" --prompt-tokens "$PROMPT" --gen-tokens "$GEN" 2>/dev/null |
    awk '/^prefill:/ {p = $(NF - 1)} /^decode:/ {d = $(NF - 1)} END {print p, d}'
}

# llama.cpp: avg_ts of the pp and tg rows of llama-bench's CSV. Without
# GGML_VK_VISIBLE_DEVICES it ignores CPU-type Vulkan devices (lavapipe) and silently runs on
# the CPU; the device it used is checked below.
run_llama() {
  GGML_VK_VISIBLE_DEVICES=0 "$LLAMA_BENCH" -m "$1" -p "$PROMPT" -n "$GEN" -ngl 99 -r 1 -o csv 2>"$PEERS/llama-bench.err" |
    python3 -c '
import csv, sys
rows = list(csv.DictReader(sys.stdin))
pp = [r for r in rows if int(r["n_prompt"]) > 0][0]
tg = [r for r in rows if int(r["n_gen"]) > 0][0]
print(pp["avg_ts"], tg["avg_ts"], pp.get("backends", ""))'
}

cd "$ROOT"
LLAMA_BENCH=$(build_llama_cpp)
[[ ${1:-} == build ]] && exit 0
say "building hearth (release)"
cargo build -q --release --bin hearth
HEARTH="$ROOT/target/release/hearth"
ADAPTER=$("$HEARTH" bench -m "$MODELS/${FILES[0]}" --prompt-tokens 1 --gen-tokens 1 2>/dev/null | sed -n 's/^adapter: //p')

rows=()
for f in "${FILES[@]}"; do
  [[ -f $MODELS/$f ]] || die "$MODELS/$f is missing: ./build.sh models"
  hp=() hd=() lp=() ld=()
  for ((i = 1; i <= RUNS; i++)); do
    say "$f: run $i of $RUNS (hearth, then llama.cpp)"
    read -r p d < <(run_hearth "$MODELS/$f")
    hp+=("$p") hd+=("$d")
    read -r p d backend < <(run_llama "$MODELS/$f")
    [[ $backend == *Vulkan* ]] || die "llama-bench did not run on Vulkan ($backend): see $PEERS/llama-bench.err"
    lp+=("$p") ld+=("$d")
  done
  rows+=("$f $(printf '%s\n' "${hp[@]}" | median) $(printf '%s\n' "${lp[@]}" | median) $(printf '%s\n' "${hd[@]}" | median) $(printf '%s\n' "${ld[@]}" | median)")
done

echo
echo "adapter: $ADAPTER; $PROMPT prompt + $GEN generated tokens; medians of $RUNS interleaved runs"
echo "llama.cpp: llama-cpp-python 0.3.36's vendored llama.cpp, Vulkan backend, llama-bench -ngl 99"
printf '%-34s %12s %12s %8s %12s %12s %8s\n' file "hearth pp" "llama pp" ratio "hearth tg" "llama tg" ratio
for r in "${rows[@]}"; do
  read -r f hp lp hd ld <<<"$r"
  awk -v f="$f" -v hp="$hp" -v lp="$lp" -v hd="$hd" -v ld="$ld" \
    'BEGIN {printf "%-34s %12.2f %12.2f %8.2f %12.2f %12.2f %8.2f\n", f, hp, lp, hp / lp, hd, ld, hd / ld}'
done
echo "(tok/s; ratio = hearth / llama.cpp)"

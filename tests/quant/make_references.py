"""llama.cpp's outputs on SmolLM2 requantized by llama.cpp's own quantizer, in the format of
../shared/reference (MODELS.md), as tests/quant/reference/smollm2-TYPE.json (run by
`./build.sh quant-references`, which builds llama.cpp and the oracle).

Per fixture and case (the two prompts of ../shared/reference): llama.cpp's prompt ids, 32 greedy
ids and its top-64 logits per step (tests/arch/oracle.c: CPU, F32 KV cache), then the fp32
teacher-forced pass of ../shared/tools/fp32_teacher_forced.py on the same file (weights
dequantized by gguf-py, all math in float32): its argmax and margin per step, and
fp32_agrees_until, the first step where its argmax differs from llama.cpp's id or its margin is
under 0.05. The fp32 logits themselves are not committed: `./build.sh models` remakes them.

Usage: python make_references.py ORACLE FP32_TOOL MODELS_DIR OUT_DIR TYPE...
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

N_GEN = 32
TOP_K = 64
N_CTX = 512
# The prompts of ../shared/reference's SmolLM2 cases: a raw prompt, and a ChatML chat with its
# special tokens parsed.
CASES = [
    ("Once upon a time", False),
    ("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
     "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n", True),
]
# Below this fp32 margin a step is a near-tie that rounding may resolve either way.
MIN_MARGIN = 0.05


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    oracle, fp32_tool, models, out_dir = sys.argv[1:5]
    for ty in sys.argv[5:]:
        model_file = f"SmolLM2-135M-Instruct.{ty}.gguf"
        path = os.path.join(models, model_file)
        cases = []
        for prompt, special in CASES:
            run = subprocess.run([oracle, path, str(N_CTX), str(N_GEN), str(TOP_K), prompt, "1" if special else "0"],
                                 check=True, capture_output=True, text=True)
            o = json.loads(run.stdout)
            cases.append({
                "prompt": prompt,
                "add_bos": o["add_bos"],
                "parse_special": special,
                "prompt_ids": o["prompt_ids"],
                "greedy_ids": o["greedy_ids"],
                "text": "",
                "top1_margin_per_step": [round(s["margin"], 4) for s in o["steps"]],
                "topk": [{"ids": [t[0] for t in s["top"]], "logits": [t[1] for t in s["top"]]} for s in o["steps"]],
            })
        name = f"smollm2-{ty}"
        ref = {"model_file": model_file, "sha256": sha256(path),
               "runner": "llama.cpp (llama-cpp-python 0.3.36's, built for the CPU) via tests/arch/oracle.c, 2 threads",
               "cases": cases}
        with tempfile.TemporaryDirectory() as tmp:
            ref_path = os.path.join(tmp, f"{name}.json")
            with open(ref_path, "w") as f:
                json.dump(ref, f)
            subprocess.run([sys.executable, fp32_tool, path, ref_path, tmp, tmp], check=True)
            for i, c in enumerate(cases):
                lg = np.load(os.path.join(tmp, f"{name}.p{i}.fp32-teacher-forced.logits.npy"))
                top2 = np.sort(lg, axis=1)[:, -2:]
                c["fp32_argmax"] = [int(a) for a in lg.argmax(1)]
                c["fp32_margin"] = [round(float(m), 4) for m in top2[:, 1] - top2[:, 0]]
                agree = [a == g and m >= MIN_MARGIN for a, g, m in zip(c["fp32_argmax"], c["greedy_ids"], c["fp32_margin"])]
                c["fp32_agrees_until"] = agree.index(False) if False in agree else len(agree)
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(ref, f, indent=1)
        print(f"{name}: fp32 agrees until {[c['fp32_agrees_until'] for c in cases]}")


main()

"""Reference data from gguf-py 0.19.0 (not hearth code) for hearth's quant tests.

For every fixture GGUF in MODELS_DIR it writes NAME.dequant.json: for each tensor, its type and
the sha256 of gguf-py's `gguf.quants.dequantize` output as little-endian float32. The Rust test
dequantizes the same tensor and compares hashes, so equality is bit for bit.

It also writes synthetic/TYPE.blocks + TYPE.f32 for every block type hearth supports: random
data quantized by gguf-py where gguf-py can quantize that type (with outliers), else random block
bytes with finite f16 scales; then gguf-py's dequantization of those blocks.

Cached: a model's JSON is rebuilt only when the model's sha256 changed; with CACHE_DIR, also
kept there under that sha256 (made once per machine, as the fixtures themselves).
Usage: python gguf_py_reference.py MODELS_DIR [CACHE_DIR]
"""
import hashlib, json, os, sys
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.constants import GGML_QUANT_SIZES
from gguf.quants import dequantize, quantize

from importlib.metadata import version
assert version("gguf") == "0.19.0", version("gguf")
models = sys.argv[1]
cache = sys.argv[2] if len(sys.argv) > 2 else None


def tensor_infos(path):
    """(name, type, raw bytes) of each tensor, from the file's header: the tensor table only.
    gguf-py's GGUFReader also builds every metadata field item by item (two thirds of this
    script's time on tokenizer arrays); the tensor table is all the reference needs. A wrong
    offset here fails the Rust test's hash comparison, never passes it."""
    import struct
    f = open(path, "rb")
    def rd(fmt):
        return struct.unpack("<" + fmt, f.read(struct.calcsize("<" + fmt)))
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    def skip(vt):
        if vt == 8:
            f.seek(rd("Q")[0], 1)
        elif vt == 9:
            et, n = rd("IQ")
            if et in sizes:
                f.seek(sizes[et] * n, 1)
            else:
                for _ in range(n):
                    skip(et)
        else:
            f.seek(sizes[vt], 1)
    magic, version, n_tensors, n_kv = rd("4sIQQ")
    assert magic == b"GGUF" and version in (2, 3), path
    alignment = 32
    for _ in range(n_kv):
        key = f.read(rd("Q")[0]).decode()
        vt = rd("I")[0]
        if key == "general.alignment" and vt == 4:
            alignment = rd("I")[0]
        else:
            skip(vt)
    infos = []
    for _ in range(n_tensors):
        name = f.read(rd("Q")[0]).decode()
        n_dims = rd("I")[0]
        dims = rd("Q" * n_dims)
        ty, offset = rd("IQ")
        infos.append((name, Q(ty), int(np.prod(dims)), offset))
    start = -(-f.tell() // alignment) * alignment
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for name, ty, n, offset in infos:
        bs, ts = GGML_QUANT_SIZES[ty]
        yield name, ty, data[start + offset: start + offset + n // bs * ts]


def sha_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def reference(name):
    """Writes NAME.dequant.json for one fixture (from the cache where it is there)."""
    path = os.path.join(models, name)
    out = path[: -len(".gguf")] + ".dequant.json"
    digest = sha_file(path)
    if os.path.exists(out) and json.load(open(out)).get("model_sha256") == digest:
        return
    cached = os.path.join(cache, f"{digest}.dequant.json") if cache else None
    if cached and os.path.exists(cached):
        with open(cached) as src, open(out + ".tmp", "w") as dst:
            dst.write(src.read())
        os.replace(out + ".tmp", out)
        return
    tensors = {}
    for t_name, t_type, t_data in tensor_infos(path):
        x = dequantize(np.array(t_data), t_type).astype("<f4", copy=False)
        tensors[t_name] = {"type": t_type.name, "n": int(x.size),
                           "sha256": hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()}
    json.dump({"model_sha256": digest, "tensors": tensors}, open(out + ".tmp", "w"), indent=0)
    os.replace(out + ".tmp", out)
    if cached:
        os.makedirs(cache, exist_ok=True)
        with open(out) as src, open(cached + ".tmp", "w") as dst:
            dst.write(src.read())
        os.replace(cached + ".tmp", cached)
    print(f"gguf-py reference: {name}: {len(tensors)} tensors", flush=True)


# One fixture per process, as many as there are cores: gguf-py's dequantization is
# single-threaded numpy, and on a fresh machine this step dequantizes every fixture. Forked
# workers share the arguments read above and run nothing else of this file.
if __name__ == "__main__":
    import multiprocessing
    # The thinking-template copy holds Q4_0's tensors byte for byte: nothing to check again.
    names = sorted(n for n in os.listdir(models) if n.endswith(".gguf") and not n.endswith(".thinking.gguf"))
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        pool.map(reference, names, chunksize=1)

# Synthetic blocks: types with a gguf-py quantizer get quantized random data, the rest random bytes.
syn = os.path.join(models, "synthetic")
os.makedirs(syn, exist_ok=True)
rng = np.random.default_rng(20261123)
quantizable = [Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1]
# Byte ranges of f16 scale fields per block, kept finite so outputs compare as numbers.
f16_fields = {Q.IQ1_M: [], Q.IQ2_XXS: [(0, 2)], Q.IQ2_XS: [(0, 2)], Q.IQ2_S: [(0, 2)], Q.IQ1_S: [(0, 2)], Q.IQ3_XXS: [(0, 2)], Q.IQ3_S: [(0, 2)], Q.Q2_K: [(80, 84)], Q.Q3_K: [(108, 110)], Q.Q4_K: [(0, 4)], Q.Q5_K: [(0, 4)], Q.Q6_K: [(208, 210)], Q.IQ4_NL: [(0, 2)], Q.IQ4_XS: [(0, 2)]}
for qt in quantizable + list(f16_fields):
    bs, ts = GGML_QUANT_SIZES[qt]
    n_blocks = 97
    if qt in quantizable:
        x = rng.standard_normal(n_blocks * max(bs, 32)).astype(np.float32)
        x[rng.integers(0, x.size, 20)] *= 40.0  # outliers
        x[: max(bs, 32)] = 0.0  # an all-zero block: d = 0
        blocks = np.ascontiguousarray(quantize(x.reshape(-1, max(bs, 32)), qt)).view(np.uint8).reshape(-1)
        x.astype("<f4").tofile(os.path.join(syn, f"{qt.name}.input.f32"))
    else:
        blocks = rng.integers(0, 256, n_blocks * ts, dtype=np.uint8).reshape(n_blocks, ts)
        for a, b in f16_fields[qt]:
            blocks[:, a:b] = (rng.standard_normal((n_blocks, (b - a) // 2)) * 0.05).astype(np.float16).view(np.uint8)
        if qt == Q.IQ1_M:  # d's 16 bits are the top nibbles of the four scale u16 (bytes 48..56)
            d = (rng.standard_normal(n_blocks) * 0.05).astype(np.float16).view(np.uint16).astype(np.uint16)
            sc = blocks[:, 48:56].copy().view(np.uint16) & np.uint16(0x0FFF)
            for k in range(4):
                sc[:, k] |= ((d >> np.uint16(4 * k)) & np.uint16(0xF)) << np.uint16(12)
            blocks[:, 48:56] = sc.view(np.uint8)
        blocks = blocks.reshape(-1)
    y = dequantize(blocks, qt).astype("<f4", copy=False).reshape(-1)
    blocks.tofile(os.path.join(syn, f"{qt.name}.blocks"))
    y.tofile(os.path.join(syn, f"{qt.name}.f32"))

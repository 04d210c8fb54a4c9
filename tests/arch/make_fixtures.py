"""Random-weight GGUF files in each architecture family's real layout: the fixtures that prove an
architecture against llama.cpp when no real model of it can be downloaded here (../shared/MODELS.md).

Each file has every tensor name, shape and metadata key its family's llama.cpp loader reads, a
real tokenizer copied from one of llama.cpp's `models/ggml-vocab-*.gguf` files, and weights from
a counter-based generator (splitmix64 over the element index, so the bytes do not depend on
numpy's random streams): the same file, byte for byte, on every machine with gguf-py 0.19.0.
tests/arch/reference/NAME.json holds llama.cpp's outputs on each file and the file's sha256.

Scales keep greedy choices clear of near-ties: layers ~1.5/sqrt(fan_in) with embeddings of std 1
for an untied head; with a tied head, small embeddings (~0.3) and strong layers (~3/sqrt(fan_in)),
or the model only repeats its input token.

Usage: python make_fixtures.py VOCAB_DIR OUT_DIR [NAME...]   (all fixtures when no name is given)
       python make_fixtures.py VOCAB_DIR OUT_DIR --check REFERENCE_DIR
           writes only the fixtures that are missing or differ from the sha256 their reference
           names, and fails if a written file still differs (./build.sh models)
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType, GGUFWriter, LlamaFileType
from gguf.quants import dequantize, quantize

from importlib.metadata import version

assert version("gguf") == "0.19.0", version("gguf")

MASK = (1 << 64) - 1
# Where llama.cpp's ggml-vocab-*.gguf files are (the first argument).
VOCAB_DIR = "."


def splitmix64(x):
    """splitmix64's output function over a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def normal(seed, shape, std):
    """Roughly normal values (the sum of four uniforms, Irwin-Hall), std `std`, as float32.
    Drawn in chunks of 2^20 values: the same numbers as at once, without gigabytes of uint64
    temporaries (the page faults of those were half of this script's time)."""
    n = int(np.prod(shape))
    out = np.empty(n, dtype=np.float32)
    base = np.uint64((seed * 0x100000001B3) & MASK)
    chunk = 1 << 20
    for start in range(0, n, chunk):
        m = min(chunk, n - start)
        idx = np.arange(4 * start, 4 * (start + m), dtype=np.uint64) + base
        u = (splitmix64(idx) >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))
        s = u.reshape(m, 4).sum(axis=1) - 2.0
        out[start:start + m] = (s * (math.sqrt(3.0) * std)).astype(np.float32)
    return out.reshape(shape)


class VocabField:
    """One key-value of a vocab file, as much of gguf-py's ReaderField as this script uses:
    `types` ([type] or [ARRAY, element type]), `contents()` and `data` (one entry per element)."""

    def __init__(self, types, value):
        self.types, self.value = types, value
        self.data = value if isinstance(value, list) else [value]

    def contents(self):
        return self.value


def read_vocab_kv(path):
    """The key-values of a GGUF vocab file, in file order. gguf-py's GGUFReader builds every
    array element as a numpy memmap view (~25 s per 150k-token vocab, most of this script's
    time); the values are the same, and the fixtures' sha256 checks that they are."""
    import struct
    data = memoryview(open(path, "rb").read())
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string():
        nonlocal pos
        n = take("Q")
        s = str(data[pos:pos + n], encoding="utf-8")
        pos += n
        return s

    scalar = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
    dtype = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "<u1", 10: "<u8",
             11: "<i8", 12: "<f8"}
    magic, _version, _n_tensors, n_kv = take("4sIQQ")
    assert magic == b"GGUF", path
    fields = {}
    for _ in range(n_kv):
        key = string()
        vt = GGUFValueType(take("I"))
        if vt == GGUFValueType.ARRAY:
            et = GGUFValueType(take("I"))
            n = take("Q")
            if et == GGUFValueType.STRING:
                value = [string() for _ in range(n)]
            elif int(et) in dtype:
                arr = np.frombuffer(data, dtype=dtype[int(et)], count=n, offset=pos)
                pos += arr.nbytes
                value = arr.astype(bool).tolist() if et == GGUFValueType.BOOL else arr.tolist()
            else:
                raise ValueError(f"{path}: {key}: arrays of {et.name}")
            fields[key] = VocabField([vt, et], value)
        elif vt == GGUFValueType.STRING:
            fields[key] = VocabField([vt], string())
        else:
            fields[key] = VocabField([vt], take(scalar[int(vt)]))
    return fields


class Fixture:
    """One file: its metadata and tensors, written in llama.cpp's order."""

    def __init__(self, name, arch, vocab, quant, seed):
        self.name, self.arch, self.quant = name, arch, quant
        self.vocab = read_vocab_kv(os.path.join(VOCAB_DIR, vocab))
        self.tensors = []
        self.kv = []
        # Each tensor's stream: the name and the seed, then one more per tensor.
        self.seed = ((sum(ord(c) * 131**i for i, c in enumerate(name)) & 0xFFFFFFFF) * 1000003 + seed) << 12

    def key(self, k, v, vt, sub=None):
        self.kv.append((k, v, vt, sub))

    def u32(self, k, v):
        self.key(f"{self.arch}.{k}", int(v), GGUFValueType.UINT32)

    def f32(self, k, v):
        self.key(f"{self.arch}.{k}", float(v), GGUFValueType.FLOAT32)

    def n_vocab(self):
        return len(self.vocab["tokenizer.ggml.tokens"].data)

    def matrix(self, name, rows, cols, std, qtype=None):
        """A weight (rows = out features) in the file's quant type (or `qtype`)."""
        self.seed += 1
        self.tensors.append((name, normal(self.seed, (rows, cols), std), self.quant if qtype is None else qtype))

    def vector(self, name, n, mean, std):
        """A norm weight, bias or factor table: always F32, as converters write them."""
        self.seed += 1
        self.tensors.append((name, normal(self.seed, (n,), std) + np.float32(mean), Q.F32))

    def raw(self, name, values, qtype=Q.F32):
        self.tensors.append((name, np.asarray(values, dtype=np.float32), qtype))

    def write(self, out_dir, tokenizer_keys, twin=False):
        """Writes NAME.gguf; with `twin`, NAME.twin.gguf: the same weights after quantization,
        dequantized to F32 (what an exact engine computes with, for the seed search)."""
        path = os.path.join(out_dir, self.name + (".twin" if twin else "") + ".gguf")
        w = GGUFWriter(path + ".part", self.arch)
        w.add_name(self.name)
        ftype = {Q.F32: LlamaFileType.ALL_F32, Q.F16: LlamaFileType.MOSTLY_F16, Q.Q8_0: LlamaFileType.MOSTLY_Q8_0}
        w.add_file_type(int(ftype[self.quant]))
        for k, v, vt, sub in self.kv:
            w.add_key_value(k, v, vt, sub_type=sub)
        for k, f in self.vocab.items():
            if not k.startswith("tokenizer.") or k in tokenizer_keys.get("drop", ()):
                continue
            vt = GGUFValueType(f.types[0])
            sub = GGUFValueType(f.types[1]) if vt == GGUFValueType.ARRAY else None
            w.add_key_value(k, tokenizer_keys.get(k, f.contents()), vt, sub_type=sub)
        for k, v in tokenizer_keys.items():
            if k != "drop" and k not in self.vocab:
                vt = GGUFValueType.BOOL if isinstance(v, bool) else GGUFValueType.STRING
                w.add_key_value(k, v, vt)
        for name, x, qt in self.tensors:
            if qt == Q.F32 or x.ndim == 1:
                w.add_tensor(name, x.astype(np.float32))
            elif twin:
                w.add_tensor(name, dequantize(quantize(x, qt), qt).astype(np.float32).reshape(x.shape))
            elif qt == Q.F16:
                w.add_tensor(name, x.astype(np.float16))
            else:
                w.add_tensor(name, quantize(x, qt), raw_dtype=qt)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        os.replace(path + ".part", path)
        return path


def head_and_embeddings(f, d, tied, pos_rows=0, embd_norm=False, out_norm_bias=False):
    """Token embeddings (and learned positions, an embedding norm), the final norm and the head."""
    v = f.n_vocab()
    f.matrix("token_embd.weight", v, d, 0.3 if tied else 1.0)
    if pos_rows:
        f.matrix("position_embd.weight", pos_rows, d, 0.3)
    if embd_norm:
        f.vector("token_embd_norm.weight", d, 1.0, 0.2)
        f.vector("token_embd_norm.bias", d, 0.0, 0.2)
    f.vector("output_norm.weight", d, 1.0, 0.2)
    if out_norm_bias:
        f.vector("output_norm.bias", d, 0.0, 0.2)
    if not tied:
        f.matrix("output.weight", v, d, 1.5 / math.sqrt(d))


def gain(tied):
    """Layer weight scale over 1/sqrt(fan_in): stronger layers when the head is tied."""
    return 3.0 if tied else 1.5


def swiglu_ffn(f, b, d, ff, g, norm="ffn_norm"):
    """Layer `b`'s FFN norm (named `norm`) and its SwiGLU projections (llama, qwen2, lfm2,
    qwen35), at gain `g`."""
    f.vector(b + norm + ".weight", d, 1.0, 0.2)
    f.matrix(b + "ffn_gate.weight", ff, d, g / math.sqrt(d))
    f.matrix(b + "ffn_up.weight", ff, d, g / math.sqrt(d))
    f.matrix(b + "ffn_down.weight", d, ff, g / math.sqrt(ff))


def llama3_factors(n, base, old_ctx, factor=8.0, low=1.0, high=4.0):
    """Llama 3's rope_freqs: per rotated pair, how much slower it turns (convert_hf_to_gguf's
    llama3 rule), here with a small original context so that the factors reach pairs that turn
    within a short test."""
    out = []
    for i in range(n):
        freq = base ** (-2.0 * i / (2 * n))
        wavelen = 2 * math.pi / freq
        if wavelen < old_ctx / high:
            out.append(1.0)
        elif wavelen > old_ctx / low:
            out.append(factor)
        else:
            smooth = (old_ctx / wavelen - low) / (high - low)
            out.append(1.0 / ((1 - smooth) / factor + smooth))
    return out


def llama(name, seed, quant, d, n_layer, n_head, n_kv, head_dim, ff, tied, add_bos):
    """Llama 3 layout: RMSNorm, RoPE (normal pairs) with rope_freqs factors, SwiGLU, GQA."""
    f = Fixture(name, "llama", "ggml-vocab-llama-bpe.gguf", quant, seed)
    base = 10000.0
    f.u32("context_length", 2048)
    f.u32("embedding_length", d)
    f.u32("block_count", n_layer)
    f.u32("feed_forward_length", ff)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.u32("attention.key_length", head_dim)
    f.u32("attention.value_length", head_dim)
    f.u32("rope.dimension_count", head_dim)
    f.f32("rope.freq_base", base)
    f.f32("attention.layer_norm_rms_epsilon", 1e-5)
    f.u32("vocab_size", f.n_vocab())
    head_and_embeddings(f, d, tied)
    f.raw("rope_freqs.weight", llama3_factors(head_dim // 2, base, old_ctx=16))
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "attn_q.weight", n_head * head_dim, d, g / math.sqrt(d))
        f.matrix(b + "attn_k.weight", n_kv * head_dim, d, g / math.sqrt(d))
        f.matrix(b + "attn_v.weight", n_kv * head_dim, d, g / math.sqrt(d))
        f.matrix(b + "attn_output.weight", d, n_head * head_dim, g / math.sqrt(n_head * head_dim))
        swiglu_ffn(f, b, d, ff, g)
    # Llama 3 files converted before add_bos_token was written have no key: llama.cpp adds BOS
    # for llama-bpe vocabularies all the same.
    tok = {"tokenizer.ggml.add_bos_token": True} if add_bos else {}
    return f, tok


def qwen2(name, seed, quant, d, n_layer, n_head, n_kv, ff, tied, biases=False, arch="qwen2", head_dim=None):
    """Qwen2 layout, with q/k/v biases (Qwen2.5) or without them (llama.cpp reads them as
    optional); with `arch` "qwen3", Qwen3's: no biases, RMS norms on each q and k head, and a
    head dimension of its own (key_length)."""
    f = Fixture(name, arch, "ggml-vocab-qwen2.gguf", quant, seed)
    qwen3 = arch == "qwen3"
    hd = head_dim or d // n_head
    if qwen3:
        f.u32("attention.key_length", hd)
        f.u32("attention.value_length", hd)
    f.u32("context_length", 4096)
    f.u32("embedding_length", d)
    f.u32("block_count", n_layer)
    f.u32("feed_forward_length", ff)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.f32("rope.freq_base", 1000000.0)
    f.f32("attention.layer_norm_rms_epsilon", 1e-6)
    head_and_embeddings(f, d, tied)
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "attn_q.weight", n_head * hd, d, g / math.sqrt(d))
        f.matrix(b + "attn_k.weight", n_kv * hd, d, g / math.sqrt(d))
        f.matrix(b + "attn_v.weight", n_kv * hd, d, g / math.sqrt(d))
        if biases:
            f.vector(b + "attn_q.bias", n_head * hd, 0.0, 0.5)
            f.vector(b + "attn_k.bias", n_kv * hd, 0.0, 0.5)
            f.vector(b + "attn_v.bias", n_kv * hd, 0.0, 0.5)
        if qwen3:
            f.vector(b + "attn_q_norm.weight", hd, 1.0, 0.2)
            f.vector(b + "attn_k_norm.weight", hd, 1.0, 0.2)
        f.matrix(b + "attn_output.weight", d, n_head * hd, g / math.sqrt(n_head * hd))
        swiglu_ffn(f, b, d, ff, g)
    return f, {}


def phi3(name, seed, quant, d, n_layer, n_head, n_kv, ff, tied, rot_pct, long_rope):
    """Phi-3 layout: fused attn_qkv, gate and up fused in ffn_up (2F rows: gate first), RMSNorm,
    neox RoPE over rope.dimension_count dims (partial on Phi-4-mini); the 128k variants carry
    rope_factors_long/short, chosen by context length, and rope.scaling.attn_factor."""
    f = Fixture(name, "phi3", "ggml-vocab-phi-3.gguf", quant, seed)
    hd = d // n_head
    rot = int(rot_pct * d) // n_head
    ctx, orig = (1024, 256) if long_rope else (4096, 4096)
    f.u32("context_length", ctx)
    f.u32("rope.scaling.original_context_length", orig)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.f32("attention.layer_norm_rms_epsilon", 1e-5)
    f.u32("rope.dimension_count", rot)
    f.f32("rope.freq_base", 10000.0)
    f.u32("attention.sliding_window", 0 if long_rope else 2047)
    if long_rope:
        f.f32("rope.scaling.attn_factor", math.sqrt(1 + math.log(ctx / orig) / math.log(orig)))
    head_and_embeddings(f, d, tied)
    if long_rope:
        n = rot // 2
        f.raw("rope_factors_long.weight", [1.0 + 0.35 * i for i in range(n)])
        f.raw("rope_factors_short.weight", [1.0 + 0.05 * i for i in range(n)])
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "attn_qkv.weight", d + 2 * n_kv * hd, d, g / math.sqrt(d))
        f.matrix(b + "attn_output.weight", d, d, g / math.sqrt(d))
        f.vector(b + "ffn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "ffn_up.weight", 2 * ff, d, g / math.sqrt(d))
        f.matrix(b + "ffn_down.weight", d, ff, g / math.sqrt(ff))
    return f, {}


def gpt2(name, seed, quant, d, n_layer, n_head, ff, n_ctx, tied, pos_quant):
    """GPT-2 layout: learned absolute positions, LayerNorms with bias, fused QKV with bias, plain
    GELU FFN with biases, biases on every projection."""
    f = Fixture(name, "gpt2", "ggml-vocab-gpt-2.gguf", quant, seed)
    f.u32("block_count", n_layer)
    f.u32("context_length", n_ctx)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("attention.head_count", n_head)
    f.f32("attention.layer_norm_epsilon", 1e-5)
    v = f.n_vocab()
    f.matrix("token_embd.weight", v, d, 0.3 if tied else 1.0)
    f.seed += 1
    f.tensors.append(("position_embd.weight", normal(f.seed, (n_ctx, d), 0.3), pos_quant))
    f.vector("output_norm.weight", d, 1.0, 0.2)
    f.vector("output_norm.bias", d, 0.0, 0.2)
    if not tied:
        f.matrix("output.weight", v, d, 1.5 / math.sqrt(d))
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.vector(b + "attn_norm.bias", d, 0.0, 0.2)
        f.matrix(b + "attn_qkv.weight", 3 * d, d, g / math.sqrt(d))
        f.vector(b + "attn_qkv.bias", 3 * d, 0.0, 0.3)
        f.matrix(b + "attn_output.weight", d, d, g / math.sqrt(d))
        f.vector(b + "attn_output.bias", d, 0.0, 0.3)
        f.vector(b + "ffn_norm.weight", d, 1.0, 0.2)
        f.vector(b + "ffn_norm.bias", d, 0.0, 0.2)
        f.matrix(b + "ffn_up.weight", ff, d, g / math.sqrt(d))
        f.vector(b + "ffn_up.bias", ff, 0.0, 0.3)
        f.matrix(b + "ffn_down.weight", d, ff, g / math.sqrt(ff))
        f.vector(b + "ffn_down.bias", d, 0.0, 0.3)
    return f, {}


def falcon(name, seed, quant, d, n_layer, n_head, n_kv, tied, two_norms):
    """Falcon layout: attention and FFN in parallel from LayerNorms with bias (one, or two on
    Falcon-40B: attn_norm_2 for attention), multi-query attention, fused QKV, plain GELU FFN,
    neox RoPE, no biases on projections."""
    f = Fixture(name, "falcon", "ggml-vocab-falcon.gguf", quant, seed)
    hd = d // n_head
    ff = 4 * d
    f.u32("context_length", 2048)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.f32("attention.layer_norm_epsilon", 1e-5)
    head_and_embeddings(f, d, tied, out_norm_bias=True)
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.vector(b + "attn_norm.bias", d, 0.0, 0.2)
        if two_norms:
            f.vector(b + "attn_norm_2.weight", d, 1.0, 0.2)
            f.vector(b + "attn_norm_2.bias", d, 0.0, 0.2)
        f.matrix(b + "attn_qkv.weight", d + 2 * n_kv * hd, d, g / math.sqrt(d))
        f.matrix(b + "attn_output.weight", d, d, g / math.sqrt(d))
        f.matrix(b + "ffn_up.weight", ff, d, g / math.sqrt(d))
        f.matrix(b + "ffn_down.weight", d, ff, g / math.sqrt(ff))
    return f, {}


def bloom(name, seed, quant, d, n_layer, n_head, tied):
    """BLOOM layout: ALiBi instead of RoPE, a LayerNorm on the embeddings, LayerNorms with bias,
    fused QKV with bias, plain GELU FFN with biases. No ggml-vocab-bloom.gguf ships with
    llama.cpp: GPT-2's vocabulary with BLOOM's pre-tokenizer stands in for its tokenizer."""
    f = Fixture(name, "bloom", "ggml-vocab-gpt-2.gguf", quant, seed)
    ff = 4 * d
    f.u32("context_length", 2048)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_head)
    f.f32("attention.layer_norm_epsilon", 1e-5)
    head_and_embeddings(f, d, tied, embd_norm=True, out_norm_bias=True)
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.vector(b + "attn_norm.bias", d, 0.0, 0.2)
        f.matrix(b + "attn_qkv.weight", 3 * d, d, g / math.sqrt(d))
        f.vector(b + "attn_qkv.bias", 3 * d, 0.0, 0.3)
        f.matrix(b + "attn_output.weight", d, d, g / math.sqrt(d))
        f.vector(b + "attn_output.bias", d, 0.0, 0.3)
        f.vector(b + "ffn_norm.weight", d, 1.0, 0.2)
        f.vector(b + "ffn_norm.bias", d, 0.0, 0.2)
        f.matrix(b + "ffn_up.weight", ff, d, g / math.sqrt(d))
        f.vector(b + "ffn_up.bias", ff, 0.0, 0.3)
        f.matrix(b + "ffn_down.weight", d, ff, g / math.sqrt(ff))
        f.vector(b + "ffn_down.bias", d, 0.0, 0.3)
    return f, {"tokenizer.ggml.pre": "bloom"}


def lfm2(name, seed, quant, d, n_layer, n_head, n_kv, ff, attn_layers, tied, taps=3):
    """LFM2 layout: gated short-convolution layers (in_proj to b, c, x; a kernel of `taps` per
    channel, F32 as converters keep it; out_proj), attention with per-head q/k RMS norms in
    `attn_layers` (a per-layer KV head count, 0 in conv layers), SwiGLU FFN everywhere, neox
    RoPE, the final norm named token_embd_norm. No ggml-vocab-lfm2.gguf ships with llama.cpp:
    GPT-2's byte-level BPE vocabulary (LFM2's is one too, of 65536 tokens) with LFM2's
    pre-tokenizer stands in for its tokenizer."""
    f = Fixture(name, "lfm2", "ggml-vocab-gpt-2.gguf", quant, seed)
    hd = d // n_head
    f.u32("context_length", 4096)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    kv = [n_kv if i in attn_layers else 0 for i in range(n_layer)]
    f.key("lfm2.attention.head_count_kv", kv, GGUFValueType.ARRAY, GGUFValueType.UINT32)
    f.f32("rope.freq_base", 1000000.0)
    f.f32("attention.layer_norm_rms_epsilon", 1e-5)
    f.u32("shortconv.l_cache", taps)
    f.u32("vocab_size", f.n_vocab())
    v = f.n_vocab()
    f.matrix("token_embd.weight", v, d, 0.3 if tied else 1.0)
    f.vector("token_embd_norm.weight", d, 1.0, 0.2)
    if not tied:
        f.matrix("output.weight", v, d, 1.5 / math.sqrt(d))
    g = gain(tied)
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        if i in attn_layers:
            f.matrix(b + "attn_q.weight", n_head * hd, d, g / math.sqrt(d))
            f.matrix(b + "attn_k.weight", n_kv * hd, d, g / math.sqrt(d))
            f.matrix(b + "attn_v.weight", n_kv * hd, d, g / math.sqrt(d))
            f.vector(b + "attn_q_norm.weight", hd, 1.0, 0.2)
            f.vector(b + "attn_k_norm.weight", hd, 1.0, 0.2)
            f.matrix(b + "attn_output.weight", d, d, g / math.sqrt(d))
        else:
            f.matrix(b + "shortconv.in_proj.weight", 3 * d, d, g / math.sqrt(d))
            f.seed += 1
            f.raw(b + "shortconv.conv.weight", normal(f.seed, (d, taps), 0.8))
            f.matrix(b + "shortconv.out_proj.weight", d, d, g / math.sqrt(d))
        swiglu_ffn(f, b, d, ff, g)
    return f, {"tokenizer.ggml.pre": "lfm2"}


def qwen35(name, seed, quant, d, n_layer, n_head, n_kv, hd, rot, ff, k_heads, v_heads, state, tied,
           interval=4, taps=4):
    """Qwen3.5 layout: gated delta nets in the layers but every `interval`-th (attn_qkv to q | k |
    v, attn_gate to z, ssm_beta, ssm_alpha, a causal convolution of `taps` per channel (F32, as
    converters keep it), ssm_dt.bias, ssm_a = -exp(A_log), the output's ssm_norm, ssm_out), and in
    those, attention with an output gate interleaved per head with the queries in attn_q, q/k RMS
    norms, partial neox RoPE over `rot` dims with M-RoPE sections; the FFN norm named
    post_attention_norm. The vocabulary is ggml-vocab-qwen35.gguf's (Qwen2's tokens with Qwen3.5's
    pre-tokenizer)."""
    f = Fixture(name, "qwen35", "ggml-vocab-qwen35.gguf", quant, seed)
    f.u32("context_length", 4096)
    f.u32("embedding_length", d)
    f.u32("feed_forward_length", ff)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.u32("attention.key_length", hd)
    f.u32("attention.value_length", hd)
    f.u32("rope.dimension_count", rot)
    f.f32("rope.freq_base", 10000000.0)
    quarter = rot // 2 // 4
    sections = [rot // 2 - 2 * quarter, quarter, quarter, 0]
    f.key("qwen35.rope.dimension_sections", sections, GGUFValueType.ARRAY, GGUFValueType.INT32)
    f.f32("attention.layer_norm_rms_epsilon", 1e-6)
    f.u32("ssm.conv_kernel", taps)
    f.u32("ssm.state_size", state)
    f.u32("ssm.group_count", k_heads)
    f.u32("ssm.time_step_rank", v_heads)
    f.u32("ssm.inner_size", v_heads * state)
    f.u32("full_attention_interval", interval)
    head_and_embeddings(f, d, tied)
    g = gain(tied)
    channels, inner = (2 * k_heads + v_heads) * state, v_heads * state
    for i in range(n_layer):
        b = f"blk.{i}."
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        if (i + 1) % interval == 0:
            f.matrix(b + "attn_q.weight", 2 * n_head * hd, d, g / math.sqrt(d))
            f.matrix(b + "attn_k.weight", n_kv * hd, d, g / math.sqrt(d))
            f.matrix(b + "attn_v.weight", n_kv * hd, d, g / math.sqrt(d))
            f.vector(b + "attn_q_norm.weight", hd, 1.0, 0.2)
            f.vector(b + "attn_k_norm.weight", hd, 1.0, 0.2)
            f.matrix(b + "attn_output.weight", d, n_head * hd, g / math.sqrt(n_head * hd))
        else:
            f.matrix(b + "attn_qkv.weight", channels, d, g / math.sqrt(d))
            f.matrix(b + "attn_gate.weight", inner, d, g / math.sqrt(d))
            # F32 in every file: the decay exp(softplus(alpha) · a) compounds over the sequence,
            # and llama.cpp's 8-bit rounding of the activations in a Q8_0 alpha would flip its
            # own greedy choices within 32 tokens on most seeds.
            f.matrix(b + "ssm_beta.weight", v_heads, d, g / math.sqrt(d), Q.F32)
            f.matrix(b + "ssm_alpha.weight", v_heads, d, g / math.sqrt(d), Q.F32)
            f.seed += 1
            f.raw(b + "ssm_conv1d.weight", normal(f.seed, (channels, taps), 0.8))
            f.vector(b + "ssm_dt.bias", v_heads, 0.0, 0.5)
            f.seed += 1
            f.raw(b + "ssm_a", -np.exp(normal(f.seed, (v_heads,), 0.5)))
            f.vector(b + "ssm_norm.weight", state, 1.0, 0.2)
            f.matrix(b + "ssm_out.weight", d, inner, g / math.sqrt(inner))
        swiglu_ffn(f, b, d, ff, g, norm="post_attention_norm")
    return f, {}


def gemma4(name, seed, quant, d, n_head, n_kv, hd, hd_swa, rot_full, ff, swa, shared, per_layer, window, tied,
           softcap=15.0):
    """Gemma 4 (E2B/E4B) layout: sliding-window layers (`swa`, one flag per layer) and global
    layers with their own head sizes (`hd_swa`, `hd`) and RoPE bases, proportional RoPE on the
    global layers as Gemma 4's converter writes it (rope_freqs: 1 for the first `rot_full` pairs,
    1e30 for the others); the last `shared` layers without K/V projections, reading the caches
    of the last sliding and the last global layer that have them; per-layer token embeddings
    (`per_layer` dims per layer) projected into every layer; q/k RMS norms (v normed without a
    weight), attention and FFN post-norms, GELU FFNs (`ff`, one width per layer: double-wide in
    the shared layers as in E2B), a scalar per layer, final logit soft-capping. Norm weights are
    as stored (Gemma 4's converter adds no 1). The vocabulary is ggml-vocab-gemma-4.gguf's."""
    n_layer = len(swa)
    f = Fixture(name, "gemma4", "ggml-vocab-gemma-4.gguf", quant, seed)
    f.u32("context_length", 4096)
    f.u32("embedding_length", d)
    f.key("gemma4.feed_forward_length", ff, GGUFValueType.ARRAY, GGUFValueType.UINT32)
    f.u32("block_count", n_layer)
    f.u32("attention.head_count", n_head)
    f.u32("attention.head_count_kv", n_kv)
    f.f32("rope.freq_base", 1000000.0)
    f.f32("rope.freq_base_swa", 10000.0)
    f.f32("attention.layer_norm_rms_epsilon", 1e-6)
    f.u32("attention.key_length", hd)
    f.u32("attention.value_length", hd)
    f.f32("final_logit_softcapping", softcap)
    f.u32("attention.sliding_window", window)
    f.u32("attention.shared_kv_layers", shared)
    f.u32("embedding_length_per_layer_input", per_layer)
    f.key("gemma4.attention.sliding_window_pattern", list(swa), GGUFValueType.ARRAY, GGUFValueType.BOOL)
    f.u32("attention.key_length_swa", hd_swa)
    f.u32("attention.value_length_swa", hd_swa)
    f.u32("rope.dimension_count", hd)
    f.u32("rope.dimension_count_swa", hd_swa)
    v = f.n_vocab()
    # Embeddings are scaled by sqrt(d) and every sub-layer's output is normed: a tied head on
    # embeddings of std 0.3 would only repeat the input token.
    f.matrix("token_embd.weight", v, d, 0.5 / math.sqrt(d) if tied else 1.0)
    f.matrix("per_layer_token_embd.weight", v, n_layer * per_layer, 0.5)
    f.matrix("per_layer_model_proj.weight", n_layer * per_layer, d, 1.0)
    f.vector("per_layer_proj_norm.weight", per_layer, 1.0, 0.2)
    f.raw("rope_freqs.weight", [1.0] * (rot_full // 2) + [1e30] * ((hd - rot_full) // 2))
    # Logits of 262144 tokens spread wide enough for greedy choices clear of near-ties: a strong
    # final norm on the tied head, a strong untied head.
    f.vector("output_norm.weight", d, 6.0 if tied else 1.0, 1.2 if tied else 0.2)
    if not tied:
        f.matrix("output.weight", v, d, 3.0 / math.sqrt(d))
    g = gain(tied)
    kv_layers = n_layer - shared
    for i in range(n_layer):
        b = f"blk.{i}."
        h = hd_swa if swa[i] else hd
        # Scores are not scaled: q/k norm weights of h^-1/4 each scale them by 1/sqrt(h), as
        # Gemma 4's trained norms must (with weights near 1, softmax is one-hot and amplifies
        # every rounding difference).
        qk = h ** -0.25
        f.vector(b + "attn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "attn_q.weight", n_head * h, d, g / math.sqrt(d))
        if i < kv_layers:
            f.matrix(b + "attn_k.weight", n_kv * h, d, g / math.sqrt(d))
            f.matrix(b + "attn_v.weight", n_kv * h, d, g / math.sqrt(d))
            f.vector(b + "attn_k_norm.weight", h, qk, 0.2 * qk)
        f.vector(b + "attn_q_norm.weight", h, qk, 0.2 * qk)
        f.matrix(b + "attn_output.weight", d, n_head * h, g / math.sqrt(n_head * h))
        f.vector(b + "post_attention_norm.weight", d, 1.0, 0.2)
        f.vector(b + "ffn_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "ffn_gate.weight", ff[i], d, g / math.sqrt(d))
        f.matrix(b + "ffn_up.weight", ff[i], d, g / math.sqrt(d))
        f.matrix(b + "ffn_down.weight", d, ff[i], g / math.sqrt(ff[i]))
        f.vector(b + "post_ffw_norm.weight", d, 1.0, 0.2)
        f.matrix(b + "inp_gate.weight", per_layer, d, g / math.sqrt(d))
        f.matrix(b + "proj.weight", d, per_layer, g / math.sqrt(per_layer))
        f.vector(b + "post_norm.weight", d, 1.0, 0.2)
        f.vector(b + "layer_output_scale.weight", 1, 0.8, 0.1)
    return f, {}


# name -> (builder, arguments). Two per family: an F32 file with a tied head (where the family
# allows one) and a Q8_0 file with an untied head, of other sizes. Each seed was picked by
# `make_references.py --search` so that llama.cpp's greedy ids on the file equal its ids on the
# file's F32 twin (its own 8-bit rounding of activations never flips a choice) with margins.
FIXTURES = {
    "llama3-tied-f32": (llama, dict(seed=3, quant=Q.F32, d=128, n_layer=2, n_head=4, n_kv=2, head_dim=48, ff=384,
                                    tied=True, add_bos=False)),
    "llama3-q8_0": (llama, dict(seed=2, quant=Q.Q8_0, d=256, n_layer=2, n_head=8, n_kv=2, head_dim=32, ff=512,
                                tied=False, add_bos=True)),
    "qwen2-nobias-tied-f32": (qwen2, dict(seed=1, quant=Q.F32, d=128, n_layer=2, n_head=4, n_kv=2, ff=384,
                                          tied=True)),
    "qwen2-nobias-q8_0": (qwen2, dict(seed=1, quant=Q.Q8_0, d=256, n_layer=2, n_head=8, n_kv=4, ff=512, tied=False)),
    "qwen2.5-biases-q8_0": (qwen2, dict(seed=9, quant=Q.Q8_0, d=192, n_layer=2, n_head=6, n_kv=2, ff=384,
                                        tied=False, biases=True)),
    "qwen3-tied-f32": (qwen2, dict(seed=1, quant=Q.F32, d=128, n_layer=2, n_head=4, n_kv=2, ff=384, tied=True,
                                   arch="qwen3", head_dim=64)),
    "phi4-mini-longrope-tied-f32": (phi3, dict(seed=1, quant=Q.F32, d=192, n_layer=2, n_head=6, n_kv=2, ff=384,
                                               tied=True, rot_pct=0.75, long_rope=True)),
    "phi3-mini-q8_0": (phi3, dict(seed=3, quant=Q.Q8_0, d=128, n_layer=2, n_head=4, n_kv=4, ff=256, tied=False,
                                  rot_pct=1.0, long_rope=False)),
    "gpt2-tied-f32": (gpt2, dict(seed=5, quant=Q.F32, d=128, n_layer=2, n_head=4, ff=512, n_ctx=256, tied=True,
                                 pos_quant=Q.F32)),
    "gpt2-q8_0": (gpt2, dict(seed=1, quant=Q.Q8_0, d=192, n_layer=3, n_head=6, ff=768, n_ctx=320, tied=False,
                             pos_quant=Q.F16)),
    "falcon-7b-tied-f32": (falcon, dict(seed=1, quant=Q.F32, d=128, n_layer=2, n_head=4, n_kv=1, tied=True,
                                        two_norms=False)),
    "falcon-40b-q8_0": (falcon, dict(seed=7, quant=Q.Q8_0, d=256, n_layer=2, n_head=8, n_kv=2, tied=False,
                                     two_norms=True)),
    "bloom-tied-f32": (bloom, dict(seed=1, quant=Q.F32, d=128, n_layer=2, n_head=4, tied=True)),
    "bloom-q8_0": (bloom, dict(seed=8, quant=Q.Q8_0, d=192, n_layer=2, n_head=6, tied=False)),
    "lfm2-tied-f32": (lfm2, dict(seed=3, quant=Q.F32, d=128, n_layer=4, n_head=4, n_kv=2, ff=384, attn_layers=(2,),
                                 tied=True)),
    "lfm2-q8_0": (lfm2, dict(seed=42, quant=Q.Q8_0, d=256, n_layer=5, n_head=8, n_kv=4, ff=512, attn_layers=(1, 3),
                             tied=False)),
    "qwen35-tied-f32": (qwen35, dict(seed=1, quant=Q.F32, d=128, n_layer=4, n_head=4, n_kv=2, hd=64, rot=16, ff=384,
                                     k_heads=2, v_heads=4, state=32, tied=True)),
    "qwen35-q8_0": (qwen35, dict(seed=33, quant=Q.Q8_0, d=128, n_layer=3, n_head=2, n_kv=1, hd=128, rot=32, ff=256,
                                 k_heads=1, v_heads=2, state=64, tied=False, interval=3)),
    "gemma4-e2b-tied-f32": (gemma4, dict(seed=6, quant=Q.F32, d=64, n_head=2, n_kv=1, hd=64, hd_swa=32, rot_full=16,
                                         ff=[128, 128, 256, 256], swa=[True, False, True, False], shared=2,
                                         per_layer=8, window=16, tied=True)),
    "gemma4-q8_0": (gemma4, dict(seed=2, quant=Q.Q8_0, d=128, n_head=4, n_kv=2, hd=64, hd_swa=32, rot_full=16,
                                 ff=[256, 256, 512], swa=[True, False, True], shared=1, per_layer=32, window=16,
                                 tied=False, softcap=30.0)),
}


def build(name, seed=None):
    """The fixture `name` (with another seed, for the search)."""
    builder, args = FIXTURES[name]
    if seed is not None:
        args = dict(args, seed=seed)
    return builder(name, **args)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_one(job):
    """Writes the fixture `name` if its file is missing or not the one its reference is of;
    returns why it failed, if it did."""
    out_dir, ref_dir, name = job
    want = json.load(open(os.path.join(ref_dir, name + ".json")))["sha256"]
    path = os.path.join(out_dir, name + ".gguf")
    if os.path.exists(path) and sha256(path) == want:
        return None
    print(f"writing the architecture fixture {name}", flush=True)
    f, tok = build(name)
    f.write(out_dir, tok)
    got = sha256(path)
    if got != want:
        return f"{path}: sha256 {got}, but its reference is of {want} (gguf-py or numpy changed?)"
    return None


def check(out_dir, ref_dir):
    """Writes the fixtures whose file is missing or not the one its reference is of, one per
    process and as many as there are cores (numpy draws the weights on one core each)."""
    import multiprocessing
    jobs = [(out_dir, ref_dir, name) for name in FIXTURES]
    with multiprocessing.get_context("fork").Pool(os.cpu_count() or 1) as pool:
        errors = [e for e in pool.map(check_one, jobs, chunksize=1) if e]
    if errors:
        sys.exit("\n".join(errors))


def main():
    global VOCAB_DIR
    VOCAB_DIR, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    if sys.argv[3:4] == ["--check"]:
        check(out_dir, sys.argv[4])
        return
    for name in sys.argv[3:] or list(FIXTURES):
        f, tok = build(name)
        print(f.write(out_dir, tok))


if __name__ == "__main__":
    main()

"""Copies a GGUF with another tokenizer.chat_template (tensors copied as they are).

Usage: python with_chat_template.py IN.gguf OUT.gguf TEMPLATE.jinja

The browser tests' reasoning model: SmolLM2 with a template that thinks in <think> tags as
Qwen3's does, so that the page meets a model whose replies carry reasoning."""
import sys

from gguf import GGUFReader, GGUFValueType, GGUFWriter

src, dst, template_file = sys.argv[1:4]
template = open(template_file, encoding="utf-8").read()
r = GGUFReader(src)
w = GGUFWriter(dst, r.fields["general.architecture"].contents())
for key, field in r.fields.items():
    if key.startswith("GGUF.") or key == "general.architecture":
        continue
    if key == "tokenizer.chat_template":
        w.add_chat_template(template)
        continue
    vt = GGUFValueType(field.types[0])
    sub = GGUFValueType(field.types[1]) if vt == GGUFValueType.ARRAY else None
    w.add_key_value(key, field.contents(), vt, sub_type=sub)
for t in r.tensors:
    w.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()

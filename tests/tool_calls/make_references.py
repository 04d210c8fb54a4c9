"""llama.cpp's renders of real chat templates with tools, as the JSON references
tests/tool_calls.rs checks hearth's prompts against (run by `./build.sh tool-references`, which
builds llama-server once into the cache).

For each template (from the llama.cpp source tree, models/templates/) and each conversation of
cases.json, llama-server runs with `--jinja --chat-template-file TEMPLATE` on a random-weight
fixture whose vocabulary has the template's special tokens, and its `/apply-template` endpoint
renders the conversation with and without `tools`. The reference keeps the template's text, the
fixture's name, the date llama.cpp put in the prompt and the prompts.

Usage: python make_references.py LLAMA_SERVER TEMPLATE_DIR FIXTURE_DIR OUT_DIR
"""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

# (reference name, template file, fixture): the fixture gives bos/eos and must load.
TEMPLATES = [
    ("qwen2.5", "Qwen-Qwen2.5-7B-Instruct.jinja", "qwen2.5-biases-q8_0.gguf"),
    ("llama3.1", "meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3-tied-f32.gguf"),
    ("llama3.2", "meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3-tied-f32.gguf"),
    ("mistral-nemo", "mistralai-Mistral-Nemo-Instruct-2407.jinja", "phi3-mini-q8_0.gguf"),
    ("hermes3", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "llama3-tied-f32.gguf"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def serve(server, template, fixture):
    port = free_port()
    proc = subprocess.Popen([server, "-m", fixture, "--jinja", "--chat-template-file", template,
                             "--host", "127.0.0.1", "--port", str(port), "-c", "512", "-np", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            pass
        if proc.poll() is not None:
            sys.exit(f"llama-server failed: {proc.stderr.read().decode()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    sys.exit("llama-server did not start")


def main(server, template_dir, fixture_dir, out_dir):
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "cases.json")) as f:
        cases = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    for name, template_file, fixture in TEMPLATES:
        template_path = os.path.join(template_dir, template_file)
        with open(template_path) as f:
            template = f.read()
        proc, port = serve(server, template_path, os.path.join(fixture_dir, fixture))
        try:
            # llama.cpp puts today's date in the context (`date_string`, `strftime_now`).
            date = datetime.now()
            renders = []
            for conversation, messages in cases["conversations"].items():
                for with_tools in (True, False):
                    if conversation == "no-tools" and with_tools:
                        continue
                    body = {"messages": messages}
                    if with_tools:
                        body["tools"] = cases["tools"]
                    prompt = post(port, "/apply-template", body)["prompt"]
                    renders.append({"conversation": conversation, "tools": with_tools, "prompt": prompt})
        finally:
            proc.terminate()
            proc.wait()
        out = {
            "template_file": template_file,
            "fixture": fixture,
            "unix_time": int(date.timestamp()),
            "template": template,
            "renders": renders,
        }
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"{name}: {len(renders)} renders")


if __name__ == "__main__":
    main(*sys.argv[1:])

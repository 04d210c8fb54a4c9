"""Checks tool calls made in tests/tool_calls.rs with Python's `jsonschema` (Draft 2020-12,
formats checked): each call must name one of the request's tools and its arguments must be
JSON valid against that tool's parameter schema. Prints one line per call; exits 1 on any
failure.

usage: validate.py CASES_JSON CALLS_JSON
(CALLS_JSON: a list of OpenAI `tool_calls` items, `function.arguments` as JSON text)
"""

import json
import sys

from jsonschema import Draft202012Validator


def main(cases_path, calls_path):
    tools = {t["function"]["name"]: t["function"]["parameters"] for t in json.load(open(cases_path))["tools"]}
    calls = json.load(open(calls_path))
    failures = 0
    if not calls:
        print("no calls to check")
        return 1
    for call in calls:
        name, text = call["function"]["name"], call["function"]["arguments"]
        problems = []
        if name not in tools:
            problems.append(f"'{name}' is not a tool")
        else:
            try:
                args = json.loads(text)
                validator = Draft202012Validator(tools[name], format_checker=Draft202012Validator.FORMAT_CHECKER)
                problems += [e.message for e in validator.iter_errors(args)]
            except json.JSONDecodeError as e:
                problems.append(f"arguments are not JSON: {e}")
        failures += bool(problems)
        print(f"{'FAIL' if problems else 'ok  '} {name}({text}) {'; '.join(problems)}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

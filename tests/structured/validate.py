"""Checks the replies of tests/structured.rs against their schemas with Python's `jsonschema`
(Draft 2020-12, formats checked): every schema not marked `refused` must have a greedy reply
and at least one sampled one (`t1-seed…`), each ending with `stop` and valid; every schema marked `refused` must have been refused with
`unsupported-schema`. Prints one line per schema; exits 1 on any failure.

usage: validate.py SCHEMAS_JSON RESULTS_JSON [PART/PARTS]
(with PART/PARTS, only the cases whose index is PART modulo PARTS are expected in the results)
"""

import json
import sys

from jsonschema import Draft202012Validator

def main(schemas_path, results_path, part="0/1"):
    all_cases = json.load(open(schemas_path))["cases"]
    k, n = map(int, part.split("/"))
    cases = all_cases[k::n]
    results = json.load(open(results_path))
    checker = Draft202012Validator.FORMAT_CHECKER
    # The formats the suite uses must really be checked (some need optional packages).
    for fmt in ["date", "date-time", "email"]:
        assert fmt in checker.checkers, f"jsonschema cannot check format {fmt}: install rfc3339-validator"
    failures = 0
    enforced = 0
    for case in cases:
        name, schema = case["name"], case["schema"]
        mine = [r for r in results if r["name"] == name]
        problems = []
        if case.get("refused"):
            if not (len(mine) == 1 and mine[0].get("refused") == "unsupported-schema"):
                problems.append(f"expected a refusal with unsupported-schema, got {mine}")
        else:
            enforced += 1
            validator = Draft202012Validator(schema, format_checker=checker)
            runs = [r["run"] for r in mine]
            if len(runs) < 2 or runs[0] != "greedy" or not all(r.startswith("t1-seed") for r in runs[1:]):
                problems.append(f"runs {runs}, not greedy then sampled ones: {mine}")
            for r in mine:
                if "refused" in r:
                    problems.append(f"{r['run']}: refused: {r['reason']}")
                    continue
                if r["finish"] != "stop":
                    problems.append(f"{r['run']}: finished with {r['finish']}: {r['text']!r}")
                    continue
                try:
                    value = json.loads(r["text"])
                except ValueError as e:
                    problems.append(f"{r['run']}: not JSON ({e}): {r['text']!r}")
                    continue
                errors = [e.message for e in validator.iter_errors(value)]
                if errors:
                    problems.append(f"{r['run']}: {r['text']!r} is invalid: {errors}")
        status = "ok" if not problems else "FAIL"
        print(f"{status:4} {name}" + "".join(f"\n     {p}" for p in problems))
        failures += bool(problems)
    print(f"{len(cases)} schemas ({enforced} enforced, {len(cases) - enforced} refused as expected): {failures} failing")
    if sum(not c.get("refused") for c in all_cases) < 30:
        print("the suite enforces fewer than 30 schemas")
        failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))

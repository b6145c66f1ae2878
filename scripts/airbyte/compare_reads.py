#!/usr/bin/env python3
"""Compare the output of two `read` runs of the connector (e.g. binary vs image).

  compare_reads.py EXPECTED ACTUAL [--label TEXT]

Each argument is a file of connector stdout (`-` = standard input). Every line of
both must be a JSON Airbyte message; neither may hold an ERROR trace; and the
records must be the same: per stream, the same `data` in the same order
(emitted_at is ignored, and so is the interleaving of different streams, which
depends on concurrency). Prints one summary line; exits 1 on any difference.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import IO


def load(stream: IO[str], name: str) -> tuple[dict[str, list[str]], int]:
    records: dict[str, list[str]] = defaultdict(list)
    states = 0
    for number, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            sys.exit(f"{name}: line {number} is not JSON: {line[:200]!r}")
        kind = message.get("type") if isinstance(message, dict) else None
        if kind is None:
            sys.exit(f"{name}: line {number} is not an Airbyte message: {line[:200]!r}")
        if kind == "RECORD":
            record = message["record"]
            records[record["stream"]].append(json.dumps(record["data"], sort_keys=True))
        elif kind == "STATE":
            states += 1
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            sys.exit(f"{name}: error trace: {json.dumps(message['trace']['error'])[:1000]}")
    return records, states


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--label", default="read")
    args = parser.parse_args()

    def open_arg(path: str) -> IO[str]:
        return sys.stdin if path == "-" else open(path, encoding="utf-8")

    with open_arg(args.expected) as f:
        expected, _ = load(f, args.expected)
    with open_arg(args.actual) as f:
        actual, states = load(f, args.actual)

    problems = []
    for stream in sorted(set(expected) | set(actual)):
        a, b = expected.get(stream, []), actual.get(stream, [])
        if a != b:
            first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
            problems.append(f"{stream}: {len(a)} vs {len(b)} records, first difference at #{first}")
    counts = {s: len(v) for s, v in sorted(actual.items())}
    if problems:
        print(f"FAIL {args.label}: " + "; ".join(problems))
        return 1
    if not counts:
        print(f"FAIL {args.label}: no records")
        return 1
    print(f"ok   {args.label}: same records {counts} ({sum(counts.values())}), {states} state messages")
    return 0


if __name__ == "__main__":
    sys.exit(main())

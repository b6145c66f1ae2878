#!/usr/bin/env python3
"""Prints a per-stream summary of a connector's output (one Airbyte message per line)."""
import json
import sys
from collections import defaultdict

path, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
records = defaultdict(int)
states = defaultdict(int)
last_state = {}
status = {}
estimate = {}
errors = []
size = 0
with open(path, "rb") as lines:
    for line in lines:
        size += len(line)
        message = json.loads(line)
        kind = message["type"]
        if kind == "RECORD":
            records[message["record"]["stream"]] += 1
        elif kind == "STATE":
            name = message["state"]["stream"]["stream_descriptor"]["name"]
            states[name] += 1
            last_state[name] = message["state"]["stream"]["stream_state"]
        elif kind == "TRACE":
            trace = message["trace"]
            if trace["type"] == "STREAM_STATUS":
                status[trace["stream_status"]["stream_descriptor"]["name"]] = trace["stream_status"]["status"]
            elif trace["type"] == "ESTIMATE":
                estimate[trace["estimate"]["name"]] = trace["estimate"].get("row_estimate")
            elif trace["type"] == "ERROR":
                errors.append(trace["error"]["message"])

seconds = max(end - start, 1e-9)
streams = sorted(set(records) | set(status))
print(f"{'stream':<14}{'records':>10}{'estimate':>10}{'states':>8}  {'status':<11} final state")
for name in streams:
    print(f"{name:<14}{records[name]:>10}{str(estimate.get(name, '-')):>10}{states[name]:>8}  "
          f"{status.get(name, '-'):<11} {json.dumps(last_state.get(name))}")
total = sum(records.values())
print(f"\n{total} records, {size / 1e6:.1f} MB in {seconds:.2f} s: "
      f"{total / seconds:,.0f} records/s, {size / 1e6 / seconds:.1f} MB/s")
for error in errors:
    print(f"ERROR: {error}")

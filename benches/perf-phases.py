#!/usr/bin/env python3
"""Splits a connector profile into phases.

Input: `perf script -F comm,tid,ip,sym` of a `perf record --call-graph dwarf`
profile of `source-ecommerce read` (see benches/README.md). Each sample goes
to the first phase whose test matches its stack (leaf first), so the phases
add up to 100%.
"""
import collections
import re
import sys


def any_frame(pattern, frames, depth=None):
    rx = re.compile(pattern)
    return any(rx.search(f) for f in frames[:depth])


PHASES = [
    ("stdout writer thread (copies batches to stdout)",
     lambda comm, fr: comm == "stdout-writer"),
    ("record serialization (Batch::push: RECORD envelope + copy of the raw JSON)",
     lambda comm, fr: any_frame(r"records::Batch", fr)),
    ("per-record key extraction (record_keys: second scan of each record)",
     lambda comm, fr: any_frame(r"record_keys", fr)),
    ("page JSON parse (PageBody::parse into &RawValue slices)",
     lambda comm, fr: any_frame(r"PageBody", fr)),
    ("HTTP receive (hyper/reqwest, socket reads, body collection)",
     lambda comm, fr: any_frame(r"hyper|reqwest|h2::|mio::|tokio::net|tokio::io|recvfrom|readv|epoll", fr)),
    ("startup (arguments, config validation, runtime)",
     lambda comm, fr: any_frame(r"regex|jsonschema|clap|lang_start", fr)),
    ("other (emitter channel, tokio scheduling, drops)",
     lambda comm, fr: True),
]

# Inside key extraction: what the time is spent on.
KEY_PARTS = [
    ("RFC 3339 parse (chrono)", lambda fr: any_frame(r"chrono", fr)),
    ("object keys deserialized into owned Strings (parse + malloc + free)",
     lambda fr: any_frame(r"malloc|free|realloc|deserialize_string|alloc::string|Cow|parse_str", fr, 8)),
    ("skipping the other fields (IgnoredAny)",
     lambda fr: any_frame(r"IgnoredAny|ignore_value|ignore_str|skip_to_escape|ignore_integer", fr, 10)),
    ("key comparison, map walk", lambda fr: True),
]


def samples(path):
    comm, frames = None, []
    for line in open(path, errors="replace"):
        line = line.rstrip("\n")
        if not line.strip():
            if comm is not None:
                yield comm, frames
            comm, frames = None, []
        elif not line[0].isspace():
            comm, frames = line.split()[0], []
        else:
            parts = line.strip().split(None, 1)
            frames.append(parts[1] if len(parts) > 1 else "?")
    if comm is not None:
        yield comm, frames


def main():
    phases, keys, total = collections.Counter(), collections.Counter(), 0
    for comm, frames in samples(sys.argv[1]):
        total += 1
        for name, test in PHASES:
            if test(comm, frames):
                phases[name] += 1
                break
        if any_frame(r"record_keys", frames) and comm != "stdout-writer":
            for name, test in KEY_PARTS:
                if test(frames):
                    keys[name] += 1
                    break
    print(f"{total} samples")
    for name, n in phases.most_common():
        print(f"{100 * n / total:5.1f}%  {name}")
    print("key extraction, split:")
    for name, n in keys.most_common():
        print(f"  {100 * n / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()

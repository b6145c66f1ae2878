"""Compares the tables target-postgres loaded with the sandbox's truth.

Usage: compare_truth.py TRUTH_JSON SCHEMA CATALOG_JSON (PG* environment
variables select the database; the streams and their keys come from the tap's
--discover catalog, never from a copy of them). For every stream, the table must hold exactly the truth's keys
(nothing lost, nothing extra), and every field of every record must equal the
truth's latest version (nothing stale): instants compared as instants (the
API renders any offset; the truth is UTC), numbers as numbers, nested values
recursively. Deleted customers and orders must carry their deleted_at.
"""

import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def normalize(value):
    if isinstance(value, str) and INSTANT.match(value):
        instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if instant.tzinfo is None:  # timestamp columns, written in UTC (PGTZ=UTC)
            instant = instant.replace(tzinfo=timezone.utc)
        return ("instant", instant.astimezone(timezone.utc))
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float, Decimal)):
        return ("number", Decimal(str(value)).normalize())
    if isinstance(value, list):
        return [normalize(v) for v in value]
    if isinstance(value, dict):
        return {k: normalize(v) for k, v in value.items()}
    return value


def table_rows(schema: str, stream: str) -> list[dict]:
    query = f'SELECT row_to_json(t)::text FROM "{schema}"."{stream}" t'
    out = subprocess.run(["psql", "-d", "ecommerce", "-At", "-c", query], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    rows = []
    for line in out.splitlines():
        row = json.loads(line)
        # jsonb columns come back as JSON text inside row_to_json only if typed
        # text; decode nested JSON strings so they compare as values.
        for k, v in row.items():
            if isinstance(v, str) and v[:1] in "[{":
                try:
                    row[k] = json.loads(v)
                except ValueError:
                    pass
        rows.append(row)
    return rows


def main() -> int:
    truth = json.load(open(sys.argv[1]))
    schema = sys.argv[2]
    catalog = json.load(open(sys.argv[3]))
    keys = {s["tap_stream_id"]: s["key_properties"][0] for s in catalog["streams"]}
    failures = 0
    for stream, key in keys.items():
        expected = {r[key]: r for r in truth[stream]}
        rows = table_rows(schema, stream)
        loaded = {r[key]: r for r in rows}
        lost = sorted(set(expected) - set(loaded))
        extra = sorted(set(loaded) - set(expected))
        duplicates = len(rows) - len(loaded)
        stale = []
        for k, record in expected.items():
            row = loaded.get(k)
            if row is None:
                continue
            for field, value in record.items():
                if normalize(row.get(field)) != normalize(value):
                    stale.append(f"{k}.{field}: table {row.get(field)!r}, truth {value!r}")
        deleted = sum(1 for r in expected.values() if r.get("deleted_at"))
        ok = not (lost or extra or stale or duplicates)
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {stream}: truth {len(expected)} ({deleted} deleted), "
              f"table {len(rows)}; lost {len(lost)} {lost[:5]}, extra {len(extra)} {extra[:5]}, "
              f"duplicates {duplicates}, stale {len(stale)} {stale[:5]}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Parse a Prometheus text exposition from stdin with the reference parser (prometheus_client)
and print one JSON object per sample: family, type, sample name, labels, value.

Used by tests/metrics.rs to prove /metrics is valid and to read its values. Exits 1 with a
message on a parse error, 3 if prometheus_client is not installed.
"""
import json
import sys

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:
    print("prometheus_client is not installed (pip install prometheus_client)", file=sys.stderr)
    sys.exit(3)

text = sys.stdin.read()
try:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            print(json.dumps({
                "family": family.name,
                "type": family.type,
                "name": s.name,
                "labels": s.labels,
                "value": s.value,
            }))
except Exception as e:  # the parser raises ValueError and others on bad input
    print(f"invalid exposition: {e}", file=sys.stderr)
    sys.exit(1)

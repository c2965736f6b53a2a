"""Parses Prometheus text exposition from stdin with prometheus_client's own parser (the
reference Python implementation) and prints the families as JSON, for brisk's tests.

A parse error exits 1 with the parser's message on stderr.
"""

import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main() -> int:
    text = sys.stdin.read()
    try:
        families = [
            {
                "name": family.name,
                "type": family.type,
                "help": family.documentation,
                "samples": [
                    {"name": s.name, "labels": s.labels, "value": s.value}
                    for s in family.samples
                ],
            }
            for family in text_string_to_metric_families(text)
        ]
    except ValueError as error:
        print(f"not valid Prometheus text: {error}", file=sys.stderr)
        return 1
    json.dump(families, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

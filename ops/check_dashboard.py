#!/usr/bin/env python3
"""Check that every metric a Grafana dashboard queries is served by /metrics.

Usage:
    python3 ops/check_dashboard.py DASHBOARD.json METRICS.txt [MORE.txt ...]
    python3 ops/check_dashboard.py DASHBOARD.json --url http://127.0.0.1:50000/metrics \
        [--url http://127.0.0.1:42020/metrics ...]
    curl -s http://127.0.0.1:50000/metrics | python3 ops/check_dashboard.py DASHBOARD.json -

Several files or URLs are read as one text: the dashboard has panels for
full nodes and for the seed (cinder_seed_nodes), so check it against a
node's /metrics and the seed's together to see every metric present.

Every `expr` of every panel target (rows' nested panels included) is scanned
for metric names: identifiers `[a-zA-Z_:][a-zA-Z0-9_:]*` that start with
`cinder_` or `process_` (outside quoted label values, so a label value such
as "cinder_x" is not taken for a metric). A name ending in `_bucket`,
`_sum` or `_count` is counted as its base metric when the /metrics text
declares the base as a histogram or summary, or has the suffixed series
(and, when the whole histogram is absent, when the dashboard refers to two
or more of the base's series, so that it is listed once).

A metric exists when the /metrics text has a `# TYPE name ...` line for it
or a sample line of it. Exit status: 0 when all are present ("dashboard: N
metrics, all present"), 1 when some are missing (listed with the panels
that use them), 2 on a usage or input error.

Note: a client library may omit a labelled counter or histogram that has no
series yet (e.g. cinder_blocks_total before the first block arrives), so
check against a node that has seen some traffic, or several /metrics texts
(a node's and the seed's) at once.

Standard library only (Python 3.11).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.request

PREFIXES = ("cinder_", "process_")
SUFFIXES = ("_bucket", "_sum", "_count")
# An identifier not preceded by an identifier character (so that a longer
# word is never matched from its middle).
IDENT = re.compile(r"(?<![a-zA-Z0-9_:])[a-zA-Z_:][a-zA-Z0-9_:]*")
# Double-quoted, single-quoted and back-quoted PromQL string literals.
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
# `__name__="metric"` selects a metric by name inside braces.
NAME_MATCHER = re.compile(r'__name__\s*=\s*"([a-zA-Z_:][a-zA-Z0-9_:]*)"')


def panels_of(node):
    """Yield every panel of a dashboard, rows' nested panels included."""
    for panel in node.get("panels", []) or []:
        if isinstance(panel, dict):
            yield panel
            yield from panels_of(panel)


def exprs_of(dashboard):
    """Yield (panel title, expr) for every panel target with an expr."""
    root = dashboard.get("dashboard", dashboard)  # API export wraps it
    for panel in panels_of(root):
        title = panel.get("title") or f"panel {panel.get('id', '?')}"
        for target in panel.get("targets", []) or []:
            if isinstance(target, dict) and isinstance(target.get("expr"), str):
                yield title, target["expr"]


def names_in(expr):
    """Metric names (with the wanted prefixes) referenced by a PromQL expr."""
    names = set(NAME_MATCHER.findall(expr))
    for name in IDENT.findall(STRING.sub(" ", expr)):
        names.add(name)
    return {n for n in names if n.startswith(PREFIXES)}


def parse_metrics(text):
    """Return ({name: type} from # TYPE lines, {names of sample lines})."""
    types, samples = {}, set()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            parts = line.split()
            if len(parts) >= 3 and parts[1] == "TYPE":
                types[parts[2]] = parts[3] if len(parts) >= 4 else "untyped"
            continue
        match = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if match:
            samples.add(match.group(0))
    return types, samples


def resolve(name, types, samples):
    """Map a referenced name to (canonical name, present?)."""
    if name in types:
        return name, True  # declared under its own name (e.g. a gauge x_count)
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            if types.get(base) in ("histogram", "summary", "gaugehistogram"):
                return base, True
            if name in samples:
                # The suffixed series is served: count it as its base metric.
                return base, True
            if base in types or any(base + s in samples for s in SUFFIXES):
                # The base metric is served, but not this series of it.
                return name, False
    return name, name in samples


def read_metrics(args):
    """The /metrics texts of every file and URL given, joined."""
    texts = []
    for url in args.url:
        request = urllib.request.Request(
            url, headers={"Accept": "text/plain;version=0.0.4"}
        )
        with urllib.request.urlopen(request, timeout=args.timeout) as answer:
            texts.append(answer.read().decode("utf-8", "replace"))
    for path in args.metrics:
        if path == "-":
            texts.append(sys.stdin.read())
        else:
            with open(path, encoding="utf-8") as f:
                texts.append(f.read())
    return "\n".join(texts)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Check that every cinder_/process_ metric a Grafana "
        "dashboard's panels query is present in a /metrics text."
    )
    parser.add_argument("dashboard", help="Grafana dashboard JSON file")
    parser.add_argument(
        "metrics",
        nargs="*",
        help="file(s) of /metrics text ('-' for stdin); read as one text",
    )
    parser.add_argument(
        "--url",
        action="append",
        default=[],
        help="read /metrics text from this URL (may be repeated)",
    )
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="URL timeout, seconds"
    )
    args = parser.parse_args(argv)
    if not args.metrics and not args.url:
        parser.error("give a metrics file ('-' for stdin) or --url")

    try:
        with open(args.dashboard, encoding="utf-8") as f:
            dashboard = json.load(f)
        if not isinstance(dashboard, dict):
            raise ValueError(f"{args.dashboard}: not a dashboard (a JSON object)")
        text = read_metrics(args)
    except (OSError, ValueError) as e:  # URLError is an OSError
        print(f"error: {e}", file=sys.stderr)
        return 2

    types, samples = parse_metrics(text)
    exprs = list(exprs_of(dashboard))
    references = [(title, name) for title, expr in exprs for name in names_in(expr)]
    if not exprs:
        print("error: the dashboard has no panel target with an expr", file=sys.stderr)
        return 2
    # Bases of which the dashboard refers to two or more suffixed series.
    suffixed = {}
    for _, name in references:
        for suffix in SUFFIXES:
            if name.endswith(suffix):
                suffixed.setdefault(name[: -len(suffix)], set()).add(suffix)
    used = {}  # canonical name -> set of panel titles
    missing = {}
    for title, name in references:
        canonical, present = resolve(name, types, samples)
        if not present and canonical == name:
            for suffix in SUFFIXES:
                base = name[: -len(suffix)]
                if (
                    name.endswith(suffix)
                    and len(suffixed.get(base, ())) >= 2
                    and base not in types
                    and not any(base + s in samples for s in SUFFIXES)
                ):
                    canonical = base  # the whole histogram is absent
        used.setdefault(canonical, set()).add(title)
        if not present:
            missing.setdefault(canonical, set()).add(title)

    if missing:
        print(
            f"dashboard: {len(missing)} of {len(used)} metrics missing from the /metrics text:"
        )
        for name in sorted(missing):
            panels = ", ".join(sorted(missing[name]))
            print(f"  {name}  (panels: {panels})")
        return 1
    print(f"dashboard: {len(used)} metrics, all present")
    return 0


if __name__ == "__main__":
    sys.exit(main())

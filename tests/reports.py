"""Build the report tables in .cache/ from the rows the tests handed pytest, as ``--junitxml`` kept them.

    python tests/reports.py RESULTS.xml

Writes ``.cache/fault_table.md`` (fault, outcome, seconds, leftovers: the fault-injection, soak and fuzz rows),
``.cache/fuzz_counts.md`` (each fuzz target's cases, time and outcomes) and ``.cache/long_running_timings.json``
(the real-agent scenarios' times to recovery, for the Python that ran them). ``make reports`` runs the tests
that make the rows, then this.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
import xml.etree.ElementTree as ElementTree
from typing import Any, Dict, List

CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache")


def read_rows(results_path: str) -> Dict[str, List[Dict[str, Any]]]:
    """The rows of every table, in the order of the tests: {table: [row, ...]}."""
    tables: Dict[str, List[Dict[str, Any]]] = {}
    for prop in ElementTree.parse(results_path).iter("property"):
        name = prop.get("name") or ""
        if name.startswith("report:"):
            tables.setdefault(name[len("report:") :], []).append(json.loads(prop.get("value") or "{}"))
    return tables


def cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def fuzz_fault_row(row: Dict[str, Any]) -> Dict[str, Any]:
    failures = row["outcomes"].get("FAILURE", 0)
    known = ", ".join(f"{name}: {count}" for name, count in row["known"].items())
    return {
        "fault": f"fuzz: {row['target']} ({row['cases']} cases)",
        "outcome": ("no failures" if not failures else f"{failures} FAILURES")
        + (f"; known open bugs hit: {known}" if known else ""),
        "seconds": round(row["seconds"], 2),
        "leftovers": "none",
    }


def write(name: str, text: str) -> None:
    os.makedirs(CACHE_DIR, exist_ok=True)
    path = os.path.join(CACHE_DIR, name)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)
    print(f"wrote {path}")


def main(results_path: str) -> int:
    tables = read_rows(results_path)
    python = platform.python_version()
    fuzz = tables.get("fuzz", [])
    faults = tables.get("faults", []) + tables.get("soak", []) + [fuzz_fault_row(row) for row in fuzz]
    if faults:
        lines = ["| fault | outcome | seconds | leftovers |", "| --- | --- | ---: | --- |"]
        lines += [
            f"| {cell(r['fault'])} | {cell(r['outcome'])} | {r['seconds']} | {cell(r['leftovers'])} |" for r in faults
        ]
        write("fault_table.md", "\n".join(lines) + f"\n\nPython {python}, {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
    if fuzz:
        lines = [
            f"Fuzz counts (Python {python}, {fuzz[0]['mode']})",
            "",
            "| target | cases | seconds | µs/case | outcomes | failures |",
            "| --- | ---: | ---: | ---: | --- | ---: |",
        ]
        for row in fuzz:
            outcomes = ", ".join(
                f"{name} {count}" for name, count in sorted(row["outcomes"].items()) if name != "FAILURE"
            )
            per_case = row["seconds"] / max(row["cases"], 1) * 1e6
            lines.append(
                f"| {row['target']} | {row['cases']} | {row['seconds']:.1f} | {per_case:.0f} | {cell(outcomes)} | "
                f"{row['outcomes'].get('FAILURE', 0)} |"
            )
        write("fuzz_counts.md", "\n".join(lines) + "\n")
    if tables.get("timings"):
        recorded = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        runs = {python: {"recorded_at": recorded, "timings": tables["timings"]}}
        write("long_running_timings.json", json.dumps({"runs": runs}, indent=2, sort_keys=True) + "\n")
    if not tables:
        print(f"no report rows in {results_path}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

"""Writes docs/mutants.md from a cargo-mutants run (`make mutants`).

Usage: report.py MUTANTS_OUT [MUTANTS_OUT...] DOC [--args "ARGS GIVEN TO cargo-mutants"]

With several runs of the same sources, a later run's outcome for a mutant
replaces an earlier one's (a narrow run again, over the full run's report).

Every missed mutant (and every timeout) is listed with the reason it is
harmless, from tests/mutants/explained.toml, or as unexplained. Exits 1 when
a mutant in one of the modules a user relies on most (CORE) is missed and
unexplained: kill it with a test, or explain it.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import json
import re
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPLAINED = HERE / "explained.toml"

# The modules issue 17 names: where an unexplained missed mutant fails the run.
CORE = re.compile(
    r"^host/src/(sandbox|execute|engine|manifest|payload|failure|registry|instances)\.rs$"
    r"|^host/src/(outbound_http|outbound_pg|codec|telemetry)/"
)

OUTCOMES = {"CaughtMutant": "caught", "MissedMutant": "missed", "Timeout": "timeout", "Unviable": "unviable"}


def what(name: str) -> str:
    """A mutant's name without its line and column, which move with edits."""
    return re.sub(r"^[^:]+:\d+:\d+: ", "", name)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path, nargs="+")
    parser.add_argument("--args", action="append", default=[])
    options = parser.parse_args()
    *outs, doc = options.out

    runs = [json.loads((out / "outcomes.json").read_text()) for out in outs]
    latest: dict[tuple[str, str], dict] = {}  # by file and full name (with its line)
    baselines = []
    for run_ in runs:
        for outcome in run_["outcomes"]:
            if outcome["scenario"] == "Baseline":
                baselines.append(outcome["summary"])
            else:
                mutant = outcome["scenario"]["Mutant"]
                latest[(mutant["file"], mutant["name"])] = outcome
    tally = collections.Counter(OUTCOMES.get(o["summary"], o["summary"]) for o in latest.values())
    run = {
        "outcomes": [{"scenario": "Baseline", "summary": "/".join(baselines)}, *latest.values()],
        "total_mutants": len(latest),
        "caught": tally["caught"], "missed": tally["missed"], "timeout": tally["timeout"], "unviable": tally["unviable"],
        "cargo_mutants_version": runs[-1].get("cargo_mutants_version", "?"),
    }
    explained = {
        (e["file"], e["mutant"]): e["why"] for e in tomllib.loads(EXPLAINED.read_text()).get("mutant", [])
    }

    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    listed: list[tuple[str, str, str, str | None]] = []  # file, outcome, mutant, why
    baseline = None
    for outcome in run["outcomes"]:
        scenario = outcome["scenario"]
        if scenario == "Baseline":
            baseline = outcome["summary"]
            continue
        mutant = scenario["Mutant"]
        kind = OUTCOMES.get(outcome["summary"], outcome["summary"])
        counts[mutant["file"]][kind] += 1
        if kind in ("missed", "timeout"):
            key = (mutant["file"], what(mutant["name"]))
            listed.append((mutant["file"], kind, f'{what(mutant["name"])} (line {mutant["span"]["start"]["line"]})', explained.get(key)))

    unexplained_core = [m for m in listed if m[3] is None and CORE.search(m[0])]
    date = datetime.date.today().isoformat()
    command = "`, then `".join("make mutants" + (f' MUTANTS_ARGS="{a}"' if a else "") for a in options.args or [""])
    lines = [
        "# Mutation testing",
        "",
        f"Produced by `{command}` on {date} with cargo-mutants {run.get('cargo_mutants_version', '?')}"
        f" (baseline: {baseline}). Do not edit: run it again.",
        "",
        "Each mutant is one small deliberate break of the code (a condition negated, a value",
        "replaced, a function body emptied); a suite that still passes has missed it. A missed",
        "mutant is either killed by a new test, named for what a user relies on, or explained",
        "in `tests/mutants/explained.toml` (equivalent, or harmless), and its reason is shown",
        "here. In the modules marked ●, `make mutants` fails on an unexplained one.",
        "",
        f"Total: {run['total_mutants']} mutants; {run['caught']} caught, {run['missed']} missed,"
        f" {run['timeout']} timed out, {run['unviable']} unviable.",
        "",
        "| file | caught | missed | timeout | unviable |",
        "|---|---:|---:|---:|---:|",
    ]
    for file in sorted(counts):
        c = counts[file]
        mark = " ●" if CORE.search(file) else ""
        lines.append(f"| `{file}`{mark} | {c['caught']} | {c['missed']} | {c['timeout']} | {c['unviable']} |")
    lines += ["", "## Missed and timed out", ""]
    if not listed:
        lines.append("None.")
    for file, kind, mutant, why in sorted(listed):
        reason = why if why is not None else "**unexplained**"
        lines.append(f"- `{file}` ({kind}): `{mutant}`: {reason}")
    doc.write_text("\n".join(lines) + "\n")

    print(f"wrote {doc}: {run['caught']} caught, {run['missed']} missed, {run['timeout']} timed out")
    for file, kind, mutant, _ in unexplained_core:
        print(f"unexplained {kind} mutant in {file}: {mutant}", file=sys.stderr)
    return 1 if unexplained_core else 0


if __name__ == "__main__":
    sys.exit(main())

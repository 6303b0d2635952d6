"""The dry-run plan of an experiment against its measured run: each declared stage's planned
seconds (``aist experiment ... --dry-run --json``) beside the seconds the run recorded for it
(``DIR/.stages/<stage>.json``), the totals and their ratio.

    aist experiment --preset cpu --out x --dry-run --json > plan.json
    /usr/bin/time -v aist experiment --preset cpu --out run 2> time.log
    python scripts/plan_check.py --plan plan.json --run run --time-log time.log
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path


def stage_of(plan_stage: str) -> str:
    """``train-pose (pose-baseline)`` -> ``pose-baseline``; ``render`` -> ``render``."""
    m = re.search(r"\(([^)]+)\)$", plan_stage)
    return m.group(1) if m else plan_stage


def wall_seconds(time_log: Path) -> float | None:
    """The wall clock of a ``/usr/bin/time -v`` log (``h:mm:ss`` or ``m:ss``)."""
    m = re.search(r"Elapsed \(wall clock\) time.*: ([\d:.]+)", time_log.read_text())
    if not m:
        return None
    parts = [float(p) for p in m.group(1).split(":")]
    return sum(p * 60 ** k for k, p in enumerate(reversed(parts)))


def compare(plan: list[dict], run: Path) -> tuple[list[list[str]], float, float]:
    """Rows (stage, planned s, measured s, ratio) and the two totals over the stages the
    plan times."""
    rows, planned_total, measured_total = [], 0.0, 0.0
    for p in plan:
        name = stage_of(p["stage"])
        rec = run / ".stages" / f"{name}.json"
        measured = json.loads(rec.read_text())["seconds"] if rec.is_file() else None
        planned = p["hours"] * 3600 if p.get("hours") is not None else None
        if planned is not None and measured is not None:
            planned_total += planned
            measured_total += measured
        rows.append([name, "—" if planned is None else f"{planned:.0f}",
                     "—" if measured is None else f"{measured:.0f}",
                     f"{planned / measured:.2f}" if planned and measured else "—"])
    return rows, planned_total, measured_total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--plan", required=True, type=Path, help="`--dry-run --json` output.")
    ap.add_argument("--run", required=True, type=Path, help="The finished experiment folder.")
    ap.add_argument("--time-log", type=Path, help="`/usr/bin/time -v` output of the run.")
    args = ap.parse_args()
    plan = json.loads(args.plan.read_text())
    if not (args.run / ".stages").is_dir():
        sys.exit(f"{args.run}: not an experiment folder (no .stages)")
    rows, planned, measured = compare(plan, args.run)
    print("| stage | planned (s) | measured (s) | planned / measured |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    all_stages = sum(json.loads(p.read_text()).get("seconds", 0)
                     for p in (args.run / ".stages").glob("*.json"))
    print(f"\nTimed stages: planned {planned:.0f} s, measured {measured:.0f} s, ratio "
          f"{planned / measured:.2f}. Every stage measured: {all_stages:.0f} s; planned "
          f"total {sum(p['hours'] or 0 for p in plan) * 3600:.0f} s.")
    if args.time_log:
        wall = wall_seconds(args.time_log)
        if wall is not None:
            print(f"The whole run (wall clock): {wall:.0f} s; planned total / wall "
                  f"{sum(p['hours'] or 0 for p in plan) * 3600 / wall:.2f}.")


if __name__ == "__main__":
    main()

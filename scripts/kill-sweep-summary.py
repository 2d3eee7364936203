#!/usr/bin/env python3
"""Summarises a kill sweep's log (scripts/kill-sweep.sh writes it to
target/kill-sweep.log): kills per phase, for creates and updates, good and
bad releases, whole applies and providers alone; what they left; how long
the converging apply took. Usage: kill-sweep-summary.py [LOG]"""
import re
import statistics
import sys
from collections import Counter, defaultdict

LINE = re.compile(
    r"^\s*\d+ (?P<kind>create|update) (?P<release>good|bad)\s+kill (?P<how>apply|provider)\s+at\s+(?P<at>[\d.]+)s "
    r"in (?P<phase>.+?)\s+left\s+(?P<left>\d+)% on target, lease (?P<lease>left|none) \| next apply\s+(?P<took>[\d.]+)s")


def main(path: str) -> int:
    lines = open(path, encoding="utf-8").read().splitlines()
    points = [m.groupdict() for m in map(LINE.match, lines) if m]
    failures = [line for line in lines if "panicked at" in line or "TIMEOUT" in line]
    if failures or not points:
        print(f"{len(points)} kill points converged; failures in {path}:", *failures[:10], sep="\n")
        return 1
    phases = ["start-up, checks and lease", "first shift", "bake", "next shift", "final bake", "promotion", "rollback",
              "writing state", "after the apply ended"]
    by_phase = defaultdict(Counter)
    for p in points:
        by_phase[p["phase"]].update([p["kind"], p["release"], "kill " + p["how"], "lease left" if p["lease"] == "left" else "no lease"])
    print(f"{len(points)} kill points, all converged\n")
    print("| phase at the kill | kills | create / update | good / bad release | whole apply / provider alone | lease left behind |")
    print("|---|---|---|---|---|---|")
    for phase in phases + sorted(set(by_phase) - set(phases)):
        c = by_phase.get(phase)
        if not c:
            continue
        n = c["create"] + c["update"]
        print(f"| {phase} | {n} | {c['create']} / {c['update']} | {c['good']} / {c['bad']} | {c['kill apply']} / {c['kill provider']} | {c['lease left']} |")
    took = [float(p["took"]) for p in points]
    split = sum(1 for p in points if 0 < int(p["left"]) < 100)
    print(f"\nLeft traffic split at the kill: {split}. The next apply (started once any lease left behind had "
          f"lapsed) took a median {statistics.median(took):.1f} s, at most {max(took):.1f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "target/kill-sweep.log"))

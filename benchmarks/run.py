"""Benchmark the default profile against the project's goals, all measured in one run.

Copies the repository into a temporary git+DVC workspace (so your own cache and results are left
alone), runs each experiment's stages with `dvc repro`, and prints every goal as measured / goal.

    python -m benchmarks.run                       # all three experiments (about half an hour)
    python -m benchmarks.run mnist --keep /tmp/b   # one experiment, keep the workspace
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import dvc, make_repo_copy

MINUTES = {"mnist": 6, "handwriting": 12, "flies": 10}      # goals: wall time on 2 CPU cores


def summary(repo, name):
    return json.loads((repo / "reports" / f"{name}_summary.json").read_text())


def goals(repo, name, seconds):
    rows = [(f"{name}: default-profile stages, minutes", seconds / 60, MINUTES[name], "<=")]
    s = summary(repo, name)
    if name == "mnist":
        rows.append(("mnist: CWS final validation accuracy", s["cws"]["val_accuracy"]["mean"], 0.85, ">="))
        rows.append(("mnist: CWS minus M1+M2 final accuracy", s["cws"]["val_accuracy"]["mean"]
                     - s["m1m2"]["val_accuracy"]["mean"], 0.0, ">"))
    if name == "handwriting":
        rows.append(("handwriting: CWS minus baseline top-10 at `supervision`",
                     s["main"]["cws"]["val_top10"] - s["main"]["baseline"]["val_top10"], 0.0, ">"))
    if name == "flies":
        t = s["table1"]
        for fly in ("fly1", "fly2"):
            best_other = max(v[fly] for k, v in t.items() if k != "cws")
            rows.append((f"flies: CWS minus best other KDE score, {fly}", t["cws"][fly] - best_other, 0.0, ">"))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("experiments", nargs="*", metavar="experiment",
                        help=f"any of {', '.join(MINUTES)} (default: all three)")
    parser.add_argument("--keep", help="workspace folder to keep (default: a temporary one)")
    args = parser.parse_args()
    args.experiments = args.experiments or list(MINUTES)
    for name in args.experiments:
        if name not in MINUTES:
            parser.error(f"unknown experiment {name!r}; choose from {', '.join(MINUTES)}")
    root = Path(args.keep or tempfile.mkdtemp(prefix="cws-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    repo = make_repo_copy(root, profile="default")
    rows = []
    for name in args.experiments:
        began = time.perf_counter()
        dvc("repro", f"report_{name}", cwd=repo)
        rows += goals(repo, name, time.perf_counter() - began)
    print(f"\n{'goal':58} {'measured':>10} {'goal':>8}  ratio  met")
    for label, value, goal, op in rows:
        met = {"<=": value <= goal, ">=": value >= goal, ">": value > goal}[op]
        ratio = f"{value / goal:5.2f}" if goal else "   - "
        print(f"{label:58} {value:10.3f} {op}{goal:7.3g}  {ratio}  {'yes' if met else 'NO'}")
    print(f"\nworkspace: {repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

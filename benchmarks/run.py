"""Run the default profile in a throwaway copy of the repository and check the project's goals,
all measured in one run: the wall time of `make repro`'s pipeline and the numbers the goals name.

    python -m benchmarks.run                    # the whole default pipeline (about 35 minutes on 2 cores)
    python -m benchmarks.run --keep /tmp/b      # keep the workspace
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import make_repo_copy, run

MINUTES = 40          # the whole default run on 2 CPU cores (docs/performance.md's figure adds the virtual environment)


def goals(repo, seconds):
    read = lambda name: json.loads((repo / "reports" / f"{name}_summary.json").read_text())  # noqa: E731
    mnist, hand, flies = read("mnist"), read("handwriting"), read("flies")
    best_other = {fly: max(v[fly] for k, v in flies["table1"].items() if k != "cws") for fly in ("fly1", "fly2")}
    return [
        ("default pipeline, minutes", seconds / 60, MINUTES, "<="),
        ("mnist: CWS final validation accuracy", mnist["cws"]["val_accuracy"]["mean"], 0.85, ">="),
        ("mnist: CWS minus M1+M2 final accuracy", mnist["cws"]["val_accuracy"]["mean"]
         - mnist["m1m2"]["val_accuracy"]["mean"], 0.0, ">"),
        ("handwriting: CWS top-1 at `supervision`", hand["main"]["cws"]["val_top1"], 0.40, ">="),
        ("handwriting: CWS minus baseline top-10 at `supervision`",
         hand["main"]["cws"]["val_top10"] - hand["main"]["baseline"]["val_top10"], 0.0, ">"),
        ("handwriting: legibility of CWS's generations", hand["legibility"].get("main/cws/0.125", float("nan")),
         0.40, ">="),
        ("handwriting: legibility of the ceiling's generations", hand["legibility"].get("ceiling/baseline/1", float("nan")),
         0.60, ">="),
        *[(f"flies: CWS minus best other KDE score, {fly}", flies["table1"]["cws"][fly] - best_other[fly], 0.0, ">")
          for fly in ("fly1", "fly2")],
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", help="workspace folder to keep (default: a temporary one)")
    args = parser.parse_args()
    root = Path(args.keep or tempfile.mkdtemp(prefix="cws-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    repo = make_repo_copy(root, profile="default")
    began = time.perf_counter()
    run([sys.executable, "-m", "pipeline.repro"], repo)
    rows = goals(repo, time.perf_counter() - began)
    print(f"\n{'goal':58} {'measured':>10} {'goal':>8}  ratio  met")
    for label, value, goal, op in rows:
        met = {"<=": value <= goal, ">=": value >= goal, ">": value > goal}[op]
        ratio = f"{value / goal:5.2f}" if goal else "   - "
        print(f"{label:58} {value:10.3f} {op}{goal:7.3g}  {ratio}  {'yes' if met else 'NO'}")
    print(f"\nworkspace: {repo}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

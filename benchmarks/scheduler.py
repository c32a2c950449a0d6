"""The Dask scheduler (`make repro`) against the phase runner it replaced, side by side in one run.

Both run the same stages of a scratch copy of the repository at profile smoke with the same number
of workers; between runs every output, dvc.lock, the checkpoints and DVC's run-cache are removed,
so every stage really runs.  For each it reports:
  wall            from the command's start to its end, start-up included
  start-up        from the start until the first stage's process starts (the plan; the cluster)
  idle share      1 - (worker time inside `dvc repro` processes) / (workers x wall)
  overhead/stage  the scheduler's own cost per stage: time a worker spent idle while a stage was
                  ready for it (dispatch), plus, for Dask, each task's time outside its DVC process
                  (the guard, the log).  The phase runner's is its pause between phases.

    python -m benchmarks.scheduler                      # smoke, seeds [0], 2 workers, each runner once
    python -m benchmarks.scheduler --workers 2 --repeat 2 --seeds 0 1
"""
import argparse
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import phase_runner
from pipeline import scheduler
from tests.conftest import make_repo_copy, run

OUTPUTS = ("runs", "reports", "data/prepared", "data/params.checked", "dvc.lock", ".dvc/cache/runs", ".dvc/tmp/repro-logs")


def clean(repo):
    """Remove every output, the lock and the run-cache: the next run runs every stage."""
    for name in OUTPUTS:
        path = repo / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def dispatch(intervals, ready):
    """Seconds workers sat idle while a stage was ready for them: for each worker's next interval,
    the part of the gap before it that comes after both the worker's previous end and the stage's
    readiness.  intervals: {worker: [(start, end, stage)]}; ready: {stage: time it could start}."""
    idle = 0.0
    for spans in intervals.values():
        spans = sorted(spans)
        for (_, prev_end, _), (start, _, stage) in zip(spans, spans[1:]):
            idle += max(0.0, start - max(prev_end, ready[stage]))
    return idle


def with_dask(repo, workers):
    """Run `python -m pipeline.repro --workers N`; its numbers from the schedule it records."""
    began = time.time()
    run([sys.executable, "-m", "pipeline.repro", "--workers", str(workers)], repo)
    wall = time.time() - began
    records = json.loads((repo / scheduler.LOG_DIR / "schedule.json").read_text())["records"]
    ends = {r["stage"]: r["end"] for r in records}
    ready = {r["stage"]: max([ends[u] for u in r["upstream"]], default=began) for r in records}
    intervals = {}
    for r in records:
        intervals.setdefault(r["worker"], []).append((r["start"], r["end"], r["stage"]))
    outside = sum(r["seconds"] - r["in_dvc"] for r in records)
    busy = sum(r["in_dvc"] for r in records)
    first = min(r["start"] for r in records)
    return {"wall": wall, "start-up": first - began, "stages": len(records), "busy": busy,
            "overhead": dispatch(intervals, ready) + outside}


def with_phases(repo, workers):
    """Run the phase runner in the copy; its numbers from the intervals of its `dvc repro` processes."""
    record = []
    began = time.time()
    with contextlib.chdir(repo):
        phase_runner.main(["--jobs", str(workers)], record=record)
    wall = time.time() - began
    starts = sorted({start for start, _, _ in record})
    ends = {start: max(end for s, end, _ in record if s == start) for start in starts}
    pauses = sum(nxt - ends[prev] for prev, nxt in zip(starts, starts[1:]))
    stages = len(scheduler.lock_order(repo))
    return {"wall": wall, "start-up": starts[0] - began, "stages": stages,
            "busy": sum(end - start for start, end, _ in record), "overhead": pauses}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, alternating")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--keep", help="keep the scratch copy here")
    args = parser.parse_args(argv)
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    where = Path(args.keep or tempfile.mkdtemp(prefix="bench-scheduler-"))
    where.mkdir(parents=True, exist_ok=True)
    repo = make_repo_copy(where, profile="smoke", seeds=args.seeds)
    results = {"phase runner": [], "dask": []}
    for _ in range(args.repeat):
        for name, runner in (("phase runner", with_phases), ("dask", with_dask)):
            clean(repo)
            results[name].append(runner(repo, args.workers))
            print(name, json.dumps({k: round(v, 2) for k, v in results[name][-1].items()}), flush=True)
    print(f"\nsmoke profile, seeds {args.seeds}, {args.workers} workers, median of {args.repeat}:")
    print(f"{'runner':<14}{'stages':>7}{'wall s':>9}{'start-up s':>12}{'idle share':>12}{'overhead/stage s':>18}")
    for name, runs in results.items():
        med = lambda key: statistics.median(r[key] for r in runs)                     # noqa: E731
        idle = statistics.median(1 - r["busy"] / (args.workers * r["wall"]) for r in runs)
        print(f"{name:<14}{med('stages'):>7.0f}{med('wall'):>9.1f}{med('start-up'):>12.1f}{idle:>12.1%}"
              f"{statistics.median(r['overhead'] / r['stages'] for r in runs):>18.2f}")
    if not args.keep:
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The phase runner `make repro` ran before the Dask scheduler (pipeline/scheduler.py), kept so that
benchmarks/scheduler.py can time both on the same stages.

    python -m benchmarks.phase_runner [--jobs N]        # N: the machine's cores by default

DVC runs a pipeline's stages one after another.  Here the stages that do not depend on each other
run side by side, in phases: the check and the data preparation; every training stage; every
scoring stage; the bandwidth selection; the experiment pages; and what is left (the index page).
In the middle phases the stages are dealt round-robin to N `dvc repro` processes, which share the
repository (DVC lets them: each holds its lock only while it reads or writes dvc.lock).  Every
stage uses `threads` torch threads (params.yaml), so the results are the same whether the stages
run here side by side or one after another under plain `dvc repro`.
"""
import argparse
import os
import subprocess
import sys
import time

PHASES = (("check_params", "prepare_"), ("train_",), ("score_", "bounds_"), ("select_",), ("report_",))
LAST = ("report_index",)          # reads the other pages' summaries: left to the final plain `dvc repro`


def up_to_date():
    """True when `dvc status` finds nothing to run."""
    out = subprocess.run([sys.executable, "-m", "dvc", "status", "--json"], capture_output=True, text=True)
    return out.returncode == 0 and out.stdout.strip() in ("{}", "")


def stage_names():
    """Every stage of dvc.yaml, matrix stages expanded, in DVC's order."""
    out = subprocess.run([sys.executable, "-m", "dvc", "stage", "list", "--name-only"], capture_output=True,
                         text=True)
    if out.returncode != 0:
        sys.exit(f"error: `dvc stage list` failed: {out.stderr.strip()}")
    return out.stdout.split()


def plan(names, jobs):
    """The phases: lists of stage lists, one list per worker (round-robin within a phase)."""
    phases = []
    for prefixes in PHASES:
        members = [n for n in names if n.startswith(prefixes) and not n.startswith(LAST)]
        workers = min(jobs, len(members)) if prefixes[0] != "check_params" else 1
        phases.append([members[i::workers] for i in range(workers)] if members else [])
    return phases


def run_phase(workers, single=True, record=None):
    """One `dvc repro` per worker, side by side; exit at the first phase that fails.  single: each
    worker runs only its own stages (-s), whose upstream stages an earlier phase has run; a
    worker that walked upstream would lock their outputs and collide with the others.  record: a
    list that gets (start, end, stages) of each process (epoch seconds)."""
    started = time.time()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if record is not None else {}
    procs = [subprocess.Popen([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", *(["-s"] if single else []),
                               *names], **quiet) for names in workers]
    ended = {}
    while len(ended) < len(procs):
        for i, p in enumerate(procs):
            if i not in ended and p.poll() is not None:
                ended[i] = time.time()
        time.sleep(0.02)
    if record is not None:
        record.extend((started, ended[i], names) for i, names in enumerate(workers))
    codes = [p.returncode for p in procs]
    if any(codes):
        sys.exit(f"error: a `dvc repro` worker failed (exit codes {codes}); see its messages above. "
                 f"Fix the cause and run `make repro` again: finished stages are kept")


def main(argv=None, record=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="workers (default: the cores)")
    args = parser.parse_args(argv)
    # DVC runs each stage's `python` from PATH: make it this interpreter, venv activated or not
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    if up_to_date():
        print("Data and pipelines are up to date.")
        return
    first, *parallel = plan(stage_names(), max(1, args.jobs))
    run_phase(first, single=False, record=record)        # the check and the data, with their own upstream
    for workers in parallel:
        if workers:
            run_phase(workers, record=record)
    run_phase([[]], single=False, record=record)         # plain `dvc repro`: the rest, in order


if __name__ == "__main__":
    main()

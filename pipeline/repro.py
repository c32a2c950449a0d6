"""`dvc repro` with the stages scheduled by Dask: what `make repro` runs.

    python -m pipeline.repro [TARGET ...]             # a local Dask cluster: one worker process per core
    python -m pipeline.repro --workers 4              # ... with 4
    python -m pipeline.repro --scheduler tcp://HOST:8786                       # any running Dask cluster
    python -m pipeline.repro --slurm --partition gpu --gpus-per-worker 1 --workers 8   # workers as SLURM jobs

Every stage that is not up to date becomes one Dask task running `dvc --wait-for-lock repro -s STAGE`
in this workspace, started when the stages it depends on have ended (pipeline/scheduler.py).  With
targets, only they and their upstream stages.  Every stage uses `threads` torch threads
(params.yaml), so the results are the same bytes whatever the schedule, and dvc.lock is left in
the order plain `dvc repro` writes it.  Workers share this workspace: on other machines, through a
shared filesystem (docs/running.md).
"""
import argparse
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from dvc.exceptions import DvcException

from pipeline import scheduler
from pipeline.io import write_json


REFILL = 30.0          # seconds between checks that every SLURM worker job is still there


class Refused(Exception):
    """A cluster that cannot be had: the message says what is wrong and what to do."""


def cores():
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", help="stages or stage groups (default: the whole pipeline)")
    parser.add_argument("--workers", "--jobs", type=int, default=None,
                        help="worker processes (local: default one per core) or SLURM jobs (default 1)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://HOST:8786")
    where.add_argument("--slurm", action="store_true", help="start the workers as SLURM jobs (dask-jobqueue)")
    slurm = parser.add_argument_group("--slurm")
    slurm.add_argument("--partition", help="the partition (sbatch -p); default: the cluster's")
    slurm.add_argument("--account", help="the account to charge (sbatch -A)")
    slurm.add_argument("--gpus-per-worker", type=int, default=0, help="GPUs per job (--gres=gpu:N); train_ and "
                       "score_ stages then run only on such workers")
    slurm.add_argument("--cpus-per-worker", type=int, default=2, help="CPUs per job (default 2)")
    slurm.add_argument("--memory", default="8GB", help="memory per job (default 8GB)")
    slurm.add_argument("--walltime", default="04:00:00", help="each job's time limit (default 04:00:00); a job "
                       "that reaches it mid-stage is a lost worker: the stage resumes on another")
    slurm.add_argument("--sbatch-line", action="append", default=[], metavar="OPTION",
                       help="a further sbatch option, e.g. --sbatch-line=--qos=long (repeatable)")
    args = parser.parse_args(argv)
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def slurm_cluster(args, root):
    """A dask_jobqueue.SLURMCluster of args.workers single-task workers, checked by `sbatch --test-only`."""
    if not shutil.which("sbatch"):
        raise Refused("--slurm needs SLURM's `sbatch` on PATH: run this on a login node of the cluster, "
                      "or leave out --slurm to run on this machine")
    options = [*(["-p", args.partition] if args.partition else []), *(["-A", args.account] if args.account else [])]
    test = subprocess.run(["sbatch", "--test-only", *options, *args.sbatch_line, "--wrap", "true"],
                          capture_output=True, text=True)
    if test.returncode != 0:
        raise Refused(f"sbatch refuses the job ({(test.stderr or test.stdout).strip().splitlines()[-1]}): "
                      f"check --partition, --account and --sbatch-line (`sinfo` lists the partitions)")
    from dask_jobqueue import SLURMCluster
    gpus = args.gpus_per_worker
    cluster = SLURMCluster(
        queue=args.partition, account=args.account, walltime=args.walltime, cores=1, processes=1,
        job_cpu=args.cpus_per_worker, memory=args.memory, python=sys.executable,
        job_extra_directives=[*args.sbatch_line, *([f"--gres=gpu:{gpus}"] if gpus else [])],
        worker_extra_args=["--resources", f"GPU={gpus}"] if gpus else [],
        job_script_prologue=[f"cd {root}"], log_directory=str(root / ".dvc" / "tmp" / "slurm-logs"),
        scheduler_options={"dashboard_address": ":0"})
    cluster.scale(jobs=args.workers or 1)
    return cluster


def keep_jobs(cluster, jobs, stop):
    """Submit again the worker jobs SLURM ended (a walltime reached, a preemption), every REFILL
    seconds until `stop` is set: Dask keeps the jobs it was asked for only when asked again."""
    while not stop.wait(REFILL):
        cluster.scale(jobs=jobs)


@contextlib.contextmanager
def cluster_client(args, root):
    """A distributed.Client on the cluster the arguments ask for; closed (workers stopped) on exit."""
    from distributed import Client, LocalCluster
    cluster = None
    if args.scheduler:
        try:
            client = Client(args.scheduler, timeout="5s")
        except (OSError, TimeoutError) as err:
            raise Refused(f"no Dask scheduler answers at {args.scheduler} ({err}); start one there "
                          f"(`dask scheduler`, then `dask worker ADDRESS` in this workspace on each machine) "
                          f"or leave out --scheduler to run on this machine") from None
    else:
        interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)      # the workers start with Ctrl-C ignored
        try:
            cluster = (slurm_cluster(args, root) if args.slurm else
                       LocalCluster(n_workers=args.workers or cores(), threads_per_worker=1, processes=True,
                                    memory_limit=0, dashboard_address=":0", silence_logs=logging.CRITICAL))
        finally:
            signal.signal(signal.SIGINT, interrupt)
        client = Client(cluster)
    stop = threading.Event()
    if args.slurm:
        threading.Thread(target=keep_jobs, args=(cluster, args.workers or 1, stop), daemon=True).start()
    try:
        scheduler.prepare(client)
        yield client
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            client.close()
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.close()


def describe(client, args):
    """One line: where the stages run, and the dashboard's address when the scheduler serves one."""
    where = (f"{args.workers or 1} worker jobs submitted to SLURM (`squeue --me` shows them)" if args.slurm else
             f"{workers(client)} workers " + (f"at {args.scheduler}" if args.scheduler else "on a local cluster"))
    served = "dashboard" in client.scheduler_info().get("services", {})
    return f"dask: {where}; dashboard: {client.dashboard_link if served else 'not served (pip install bokeh)'}"


def workers(client):
    """How many workers the cluster has now."""
    return len(client.nthreads())


def has_gpus(client):
    """Whether any worker offers a GPU resource (then train_ and score_ stages ask for one)."""
    return any(w.get("resources", {}).get("GPU") for w in client.scheduler_info().get("workers", {}).values())


def run(args, root, plan, checked=False):
    """Run the planned stages (scheduler.plan's) on the cluster the arguments ask for (`checked`:
    check_params has run first, counted with them); the exit status."""
    names, _, order, _ = plan
    before = scheduler.lock_order(root)
    start = time.monotonic()
    with cluster_client(args, root) as client:
        print(describe(client, args), flush=True)
        print(f"stages to run: {len(names)}", flush=True)
        gpu = has_gpus(client) if args.scheduler else args.slurm and args.gpus_per_worker > 0
        futures = scheduler.submit(client, root, plan, gpu)
        try:
            counts, failures, records = scheduler.follow(futures)
        finally:
            scheduler.order_lock(root, before, order)
        write_json(root / scheduler.LOG_DIR / "schedule.json", {"workers": workers(client), "records": records})
    counts["ran"] += checked
    print(scheduler.summary(counts, time.monotonic() - start))
    if failures:
        print("Fix the failing stage and run `make repro` again: finished stages are kept")
        return 1
    return 0


def main(argv=None):
    args = parse(argv)
    # DVC runs each stage's `python` from PATH: make it this interpreter, venv activated or not
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    root = Path.cwd()
    try:
        plan = scheduler.plan(root, args.targets)
        checked = "check_params" in plan[3]  # params or code edited: its fingerprints say which stages that reaches
        if checked:
            if scheduler.check(root) != 0:
                return 1
            plan = scheduler.plan(root, args.targets)
        if not plan[0]:
            print("Data and pipelines are up to date.")
            return 0
        return run(args, root, plan, checked)
    except (Refused, DvcException) as err:
        print(f"error: {'dvc: ' if isinstance(err, DvcException) else ''}{err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the workers and their stages are stopped; finished stages are kept, and "
              "`make repro` continues from there", file=sys.stderr)
        return 130

if __name__ == "__main__":
    sys.exit(main())

"""Every stage that is not up to date as one Dask task, started as soon as its upstream stages end.

The plan comes from DVC itself: its stage graph (`Repo.index.graph`) and `dvc status`.  Each task
runs `dvc --wait-for-lock repro -s STAGE` in the workspace, under pipeline/guard.py, on whatever
worker Dask gives it; the tasks of a stage's upstream stages are its dependencies, so a scoring stage
starts when its run is trained, whatever else is still running.  DVC's own locks let the processes
share the workspace: each holds the repository lock only while it reads or writes dvc.lock.

Faults: a worker that dies mid-stage (a killed process, a preempted job) takes its stage's process
group with it (the guard), and Dask gives the task to another worker (up to its `allowed-failures`),
where training resumes from its checkpoint.  A stage whose `dvc repro` fails is not retried: its
error is printed once, its dependents never start, the other stages finish.
"""
import contextlib
import os
import signal
import sys
import threading
import time
from pathlib import Path

from distributed.diagnostics.plugin import WorkerPlugin

LOG_DIR = Path(".dvc") / "tmp" / "repro-logs"      # one log per stage: every attempt's DVC and stage output
TOPIC = "cws-stage"                                  # the Dask event topic of stage starts
GPU_STAGES = ("train_", "score_")                    # the stages that ask for a worker's GPU, when it has one
BUSY = "is busy, it is being blocked by"             # DVC's rwlock: a process of a dead worker not yet gone
BUSY_TRIES, BUSY_WAIT = 5, 2.0
OUTCOMES = (("is cached - skipping run", "restored"), ("didn't change, skipping", "up to date"))


class StageFailed(Exception):
    """A stage's `dvc repro` exited non-zero: its name, exit status, the error line and its log."""

    def __init__(self, stage, code, line, log):
        super().__init__(stage, code, line, log)
        self.stage, self.code, self.line, self.log = stage, code, line, log

    def __str__(self):
        return f"stage '{self.stage}' failed (exit {self.code}): {self.line} (its log: {self.log})"


def error_line(text):
    """The line that says why: the stage's own `error: ...` if it wrote one, else DVC's last ERROR."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for prefix in ("error:", "ERROR:", "Traceback"):
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[-1] if prefix != "Traceback" else lines[-1]
    return lines[-1] if lines else "no output"


# -- the plan: from DVC ------------------------------------------------------------------------

def plan(root, targets=()):
    """(the stages to run, upstream first, {stage: its upstream stages among them}, every stage in
    dvc.yaml's order, the stages `dvc status` finds changed).  To run: each changed stage, and every
    stage downstream of one (its inputs may change); with targets, only they and their upstream."""
    import networkx as nx
    from dvc.repo import Repo
    from dvc.repo.reproduce import collect_stages, get_active_graph

    with contextlib.chdir(root), Repo(".", _wait_for_lock=True) as repo:     # DVC reads targets from the cwd
        graph = get_active_graph(repo.index.graph)          # edges: stage -> the stages it depends on
        order = [s.name for s in collect_stages(repo, ["dvc.yaml"])]      # names, as dvc.lock and `-s` take them
        rank = {name: i for i, name in enumerate(order)}
        chosen = collect_stages(repo, list(targets)) if targets else list(graph)
        scope = set(chosen).union(*(nx.descendants(graph, s) for s in chosen))
        status = set(repo.status(targets=list(targets) or None, with_deps=True))
        todo = {s for s in scope if s.addressing in status}
        changed = {s.name for s in todo}
        todo |= {d for s in todo for d in nx.ancestors(graph, s)} & scope
        sub = graph.subgraph(todo).reverse()                # edges: stage -> the stages that need it
        names = [s.name for s in nx.lexicographical_topological_sort(sub, key=lambda s: rank[s.name])]
        upstream = {s.name: sorted(u.name for u in graph.successors(s) if u in todo) for s in todo}
    return names, upstream, order, changed


def check(root):
    """Run check_params here, before planning the rest: until it has written the code fingerprints
    (graph.py), `dvc status` sees every stage downstream of it as possibly changed.  Its exit status."""
    import subprocess
    print("start      check_params  here, before the plan", flush=True)
    start = time.time()
    done = subprocess.run([sys.executable, "-m", "dvc", "--wait-for-lock", "repro", "-s", "check_params"], cwd=root,
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        print(f"error: stage 'check_params' failed (exit {done.returncode}): {error_line(done.stdout + done.stderr)}",
              file=sys.stderr, flush=True)
    else:
        print(f"ran        check_params  {time.time() - start:.1f} s here", flush=True)
    return done.returncode


def lock_order(root):
    """The stages of dvc.lock, in its order (empty without one)."""
    from dvc.utils.serialize import load_yaml
    path = Path(root) / "dvc.lock"
    return list((load_yaml(path) or {}).get("stages", {})) if path.exists() else []


def order_lock(root, before, order):
    """Put dvc.lock's stages in one order, whatever the schedule: those it had before the run where
    they were, then the new ones in `order` (dvc.yaml's).  DVC appends each stage as it ends, so
    side by side they land in the order they finished; even plain `dvc repro` walks the graph in an
    order that changes with Python's hash seed.  Under DVC's repository lock, as DVC writes it."""
    from dvc.repo import Repo
    from dvc.utils.serialize import modify_yaml

    rank = {name: i for i, name in enumerate(list(before) + [n for n in order if n not in before])}
    with Repo(str(root), _wait_for_lock=True) as repo, repo.lock:
        path = Path(root) / "dvc.lock"
        if not path.exists():
            return
        with modify_yaml(path) as data:
            stages = data.get("stages", {})
            entries = sorted(stages.items(), key=lambda kv: rank.get(kv[0], len(rank)))
            for name in list(stages):
                del stages[name]
            for name, entry in entries:
                stages[name] = entry


# -- one task: on a worker ---------------------------------------------------------------------

def run_stage(stage, root, changed, *upstream):
    """Run `dvc --wait-for-lock repro -s stage` in the workspace `root` (a Dask task; `upstream`
    are the results of the stages it needs).  A stage that was not changed itself, and whose
    upstream stages all found nothing to do, is up to date without asking DVC (a DVC process costs
    about a second: after an edit that reaches only `check_params`, its 110 dependents would each
    pay it).  Returns {stage, outcome, seconds, worker, start, end
    (epoch seconds), in_dvc (seconds inside DVC's process), upstream}; raises StageFailed when DVC
    exits non-zero."""
    import subprocess
    from distributed import get_worker

    worker = get_worker()
    start, in_dvc = time.time(), 0.0
    if not changed and upstream and all(u["outcome"] == "up to date" for u in upstream):
        return {"stage": stage, "outcome": "up to date", "seconds": 0.0, "worker": worker.address, "start": start,
                "end": start, "in_dvc": 0.0, "upstream": [u["stage"] for u in upstream]}
    worker.log_event(TOPIC, {"stage": stage, "worker": worker.address, "pid": os.getpid()})
    root = Path(root)
    log = root / LOG_DIR / f"{stage}.log"
    if not (root / "dvc.yaml").is_file():
        raise StageFailed(stage, -1, f"{root} is not a DVC workspace on worker {worker.address} "
                          f"(workers need the repository on a shared filesystem)", log)
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")   # DVC runs `python` from PATH
    command = [sys.executable, "-m", "pipeline.guard", sys.executable, "-m", "dvc", "--wait-for-lock",
               "repro", "-s", stage]
    log.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(BUSY_TRIES):
        with open(log, "a") as f:
            f.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} on {worker.address}\n")
            f.flush()
            offset, began = f.tell(), time.time()
            code = subprocess.run(command, cwd=root, env=env, stdout=f, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL).returncode
            in_dvc += time.time() - began
        with open(log, errors="replace") as f:
            f.seek(offset)
            text = f.read()
        if code == 0 or BUSY not in text:
            break
        time.sleep(BUSY_WAIT)
    if code != 0:
        raise StageFailed(stage, code, error_line(text), str(log.relative_to(root)))
    outcome = next((name for mark, name in OUTCOMES if mark in text), "ran")
    end = time.time()
    return {"stage": stage, "outcome": outcome, "seconds": end - start, "worker": worker.address, "start": start,
            "end": end, "in_dvc": in_dvc, "upstream": [u["stage"] for u in upstream]}


# -- the run: on the client --------------------------------------------------------------------

class KeepCtrlCOffWorkers(WorkerPlugin):
    """Ctrl-C reaches every process of the terminal's group: a worker leaves it to the client,
    which stops the cluster, and to the guards, which pass it on to their stages."""
    name = "cws-keep-ctrl-c-off-workers"

    def setup(self, worker):
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def prepare(client):
    """Ship this module to the workers with the tasks (they need not import it) and set them up."""
    import cloudpickle

    from pipeline import scheduler
    cloudpickle.register_pickle_by_value(scheduler)
    client.register_plugin(KeepCtrlCOffWorkers())


def depths(names, upstream):
    """Each stage's longest chain of stages that wait on it, itself included.  Dask starts the
    deepest ready stage first, so the long chains (flies: train, score, bandwidth, page, index)
    do not leave one worker alone at the end."""
    depth = dict.fromkeys(names, 1)
    for name in reversed(names):                              # names: upstream first
        for u in upstream[name]:
            depth[u] = max(depth[u], depth[name] + 1)
    return depth


def submit(client, root, plan, gpu=False):
    """One future per stage of `plan` (plan()'s), upstream first, each depending on its upstream
    stages' futures, the deepest first; a line is printed as each starts (the workers' events)."""
    names, upstream, _, changed = plan
    width = max(map(len, names), default=0)
    client.subscribe_topic(TOPIC, lambda event: print(
        f"{'start':<10} {event[1]['stage']:<{width}}  on {event[1]['worker']} (pid {event[1]['pid']})", flush=True))
    futures, depth = {}, depths(names, upstream)
    for name in names:
        extra = {"resources": {"GPU": 1}} if gpu and name.startswith(GPU_STAGES) else {}
        futures[name] = client.submit(run_stage, name, str(root), name in changed, *[futures[u] for u in upstream[name]],
                                      key=f"stage-{name}", pure=False, priority=depth[name], **extra)
    return futures


def origin(exc):
    """The stage whose failure `exc` is: StageFailed's stage (its class arrives pickled by value, so
    not by isinstance), or KilledWorker's task (a stage whose workers kept dying)."""
    key = getattr(exc, "stage", None) or str(getattr(exc, "task", "") or "")
    return key[len("stage-"):] if key.startswith("stage-") else key or None


def follow(futures):
    """Print a line as each stage ends; return the counts of {ran, restored, up to date, failed, not
    started}, the failures (each printed once to stderr with its stage's name) and the finished
    stages' records (run_stage's)."""
    from distributed import as_completed

    width = max(map(len, futures), default=0)
    counts = dict.fromkeys(("ran", "restored", "up to date", "failed", "not started"), 0)
    failures, records = [], []
    for future in as_completed(futures.values()):
        name = future.key[len("stage-"):]
        if future.status == "finished":
            done = future.result()
            records.append(done)
            counts[done["outcome"]] += 1
            print(f"{done['outcome']:<10} {name:<{width}}  {done['seconds']:.1f} s on {done['worker']}", flush=True)
            continue
        exc = future.exception()
        if origin(exc) not in (name, None):
            counts["not started"] += 1
            print(f"{'skipped':<10} {name:<{width}}  (upstream '{origin(exc)}' failed)", flush=True)
            continue
        counts["failed"] += 1
        failures.append(exc)
        print(f"error: {exc}" if getattr(exc, "stage", None) else
              f"error: stage '{name}' failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    return counts, failures, records


def summary(counts, seconds):
    """The closing line: stages run, restored from the run-cache, found up to date, failed, not started."""
    return (f"summary: {counts['ran']} run, {counts['restored']} restored from cache, {counts['up to date']} up to date, "
            f"{counts['failed']} failed, {counts['not started']} not started; {seconds:.1f} s")

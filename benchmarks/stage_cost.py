"""The fixed cost of a stage: what every stage process pays before its own work.

For each stage entry point it measures, each in a fresh process (median of --repeat runs):
  start + imports   python starting and importing the stage module (torch for most)
  data              loading the stage's prepared npz (data/prepared/, when present)
  first optimiser   torch's first Adam step in a process (it imports torch._dynamo): training stages only
and prints their sum.  It then measures DVC's own bookkeeping, paid once per stage on top: reading
dvc.yaml and dvc.lock, and rewriting dvc.lock (a round-trip YAML parse and dump of the whole file,
which grows with the number of stages), each with DVC's own functions on copies of the files.
The pipeline runs about 120 stages, so each second here costs minutes.

    python -m benchmarks.stage_cost
    python -m benchmarks.stage_cost --lock old.lock    # DVC's part also for another lock, side by side
                                                       # (e.g. `git show REV:dvc.lock > old.lock`)
"""
import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline import config, graph, layout
from tests.conftest import ROOT, env_with_venv

OPTIMISER = ("import time, torch; p = torch.zeros(3, requires_grad=True); t = time.perf_counter(); "
             "o = torch.optim.Adam([p], fused=True); p.grad = torch.ones(3); o.step(); print(time.perf_counter() - t)")
DATA = ("import sys, time, numpy; t = time.perf_counter(); f = numpy.load(sys.argv[1]); "
        "d = {k: f[k] for k in f.files}; print(time.perf_counter() - t)")


def seconds(code, *args, repeat=3):
    """Median over fresh processes of the number `python -c code` prints (a time in seconds)."""
    return statistics.median(
        float(subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env_with_venv(), capture_output=True,
                             text=True, check=True).stdout.split()[-1]) for _ in range(repeat))


def startup(module, repeat):
    """Python's start plus importing `module`, measured from outside the process."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import {module}"], cwd=ROOT, env=env_with_venv(), check=True)
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def dvc_bookkeeping(repeat, lock=ROOT / "dvc.lock"):
    """(seconds to read dvc.yaml and the lock, seconds to rewrite the lock, whether the YAML reader is
    the C one): what `dvc repro` does around each stage it runs, timed on copies of the files."""
    import ruamel.yaml
    from dvc.utils.serialize import load_yaml, modify_yaml
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(shutil.copy(ROOT / "dvc.yaml", Path(tmp) / "dvc.yaml")),
                 Path(shutil.copy(lock, Path(tmp) / "dvc.lock"))]
        read, rewrite = [], []
        for _ in range(repeat):
            began = time.perf_counter()
            for path in files:
                load_yaml(path)
            read.append(time.perf_counter() - began)
            began = time.perf_counter()
            with modify_yaml(files[1]):
                pass
            rewrite.append(time.perf_counter() - began)
    return statistics.median(read), statistics.median(rewrite), bool(getattr(ruamel.yaml, "__with_libyaml__", False))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lock", nargs="*", default=[], help="further lock files to time DVC's part on")
    args = parser.parse_args()
    start = startup("sys", args.repeat)
    optimiser = seconds(OPTIMISER, repeat=args.repeat)
    print(f"python start alone: {start:.2f} s; torch's first optimiser step: {optimiser:.2f} s\n")
    print(f"{'stage entry point':34} {'start+imports':>14} {'data':>7} {'optimiser':>10} {'fixed cost':>11}")
    modules = sorted({s.module for s in graph.stages(config.load(ROOT / 'params.yaml'))})
    for module in modules:
        imports = startup(module, args.repeat)
        experiment = next((e for e in ("mnist", "handwriting", "flies") if module.endswith(e)), None)
        data_path = ROOT / layout.prepared(experiment) if experiment else None
        loads = "prepare_" not in module and data_path is not None and data_path.exists()
        data = seconds(DATA, str(data_path), repeat=args.repeat) if loads else 0.0
        first_step = optimiser if module.startswith("stages.train_") else 0.0
        print(f"{module:34} {imports:13.2f}s {data:6.2f}s {first_step:9.2f}s {imports + data + first_step:10.2f}s")
    print()
    for lock in [ROOT / "dvc.lock", *map(Path, args.lock)]:
        if lock.exists():
            read, rewrite, c_reader = dvc_bookkeeping(args.repeat, lock)
            print(f"DVC, per stage, {lock.name} ({lock.stat().st_size / 1024:.0f} KiB): reading it and dvc.yaml "
                  f"{read:.2f} s ({'C' if c_reader else 'pure-Python'} YAML reader), rewriting it {rewrite:.2f} s")


if __name__ == "__main__":
    main()

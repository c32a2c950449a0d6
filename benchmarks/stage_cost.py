"""The fixed cost of a stage: what every stage process pays before its own work.

For each stage entry point it measures, each in a fresh process (median of --repeat runs):
  start + imports   python starting and importing the stage module (torch for most)
  data              loading the stage's prepared npz (data/prepared/, when present)
  first optimiser   torch's first Adam step in a process (it imports torch._dynamo): training stages only
and prints their sum.  The pipeline runs about 140 stages, so each second here costs minutes.

    python -m benchmarks.stage_cost
"""
import argparse
import statistics
import subprocess
import sys
import time

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
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


if __name__ == "__main__":
    main()

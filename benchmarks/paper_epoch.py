"""One paper-profile epoch of MNIST and of handwriting on this machine: time, peak memory, projected total.

It runs the stages' own code (the experiment's model_of, spec_for, batch makers, evaluator and
train_step; then score() on the trained weights) at the sizes of the `paper` profile (pipeline/profiles/paper.yaml), on
arrays of the paper's shapes filled with random values (the cost of a step does not depend on them,
and the real data need the network).  Per experiment it prints

  the epoch: seconds of its training steps (every method's step is timed on the first
    --probe steps; the paper's own method, CWS, then runs the whole epoch, or --steps of it);
  the validation pass after each epoch, and the scoring stage of one run;
  peak device memory (torch.cuda.max_memory_allocated; on the CPU the process's peak RSS);
  the projected total of the paper profile: for every run of the stage graph (the run folders its
  report reads), epochs x (its method's steps + validation), plus its scoring.

    python -m benchmarks.paper_epoch                         # both experiments, a whole CWS epoch each
    python -m benchmarks.paper_epoch --steps 40 --probe 5    # 40 CWS steps, the epoch projected
"""
import argparse
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from benchmarks.steps import synchronise
from pipeline import config, graph, runs, settings, sized
from pipeline.experiments import handwriting, mnist
from pipeline.experiments.batches import accuracy_evaluator, batch_maker
from pipeline.io import write_npz
from pipeline.train import optimisers, pick_device, seed_everything, train_step
from tests.conftest import ROOT


def timed(fn, device):
    synchronise(device)
    began = time.perf_counter()
    out = fn()
    synchronise(device)
    return time.perf_counter() - began, out


def peak_memory(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def train_steps(model, spec, batches, device, limit=None):
    """Seconds per step over `limit` steps of `batches` (after one untimed warm-up step)."""
    groups = model.parameter_groups()
    opts = optimisers(groups, spec.lr)
    batches = iter(batches)
    train_step(model, spec, next(batches), *opts, groups)
    n, seconds = 0, 0.0
    for batch in batches:
        dt, _ = timed(lambda: train_step(model, spec, batch, *opts, groups), device)
        seconds, n = seconds + dt, n + 1
        if limit and n >= limit:
            break
    return seconds / max(n, 1), n


def mnist_case(cfg, device, tmp, params):
    rng = np.random.default_rng(0)
    n_valid = 10000
    data = {"x_train": (rng.random((cfg["train_size"], 784)) < 0.13).astype(np.float32),
            "y_train": rng.integers(0, 10, cfg["train_size"]),
            "x_valid": (rng.random((n_valid, 784)) < 0.13).astype(np.float32), "y_valid": rng.integers(0, 10, n_valid)}
    path = tmp / "mnist.npz"
    write_npz(path, **data)
    labels = mnist.labelled_training_set(data["y_train"], cfg["labels"], 0)
    steps = cfg["train_size"] // cfg["batch_size"]
    return {"path": path, "steps": steps, "runs": runs_per_method(params, "mnist"),
            "model": lambda method: mnist.model_of(cfg, method, data),
            "spec": lambda method: mnist.spec_for(method, cfg, 0, f"mnist-{method}"),
            "batches": lambda method: mnist.batch_maker(data["x_train"], labels, cfg, device)(np.random.default_rng(1)),
            "evaluate": mnist.evaluator(data["x_valid"], data["y_valid"], device),
            "score": lambda run_dir: mnist.score(settings.unchecked({"mnist": cfg}),
                                                 runs.Run("cws", 0, path, run_dir, device))}


def runs_per_method(params, experiment):
    """How many runs of each method the stage graph trains: the run folders its report reads."""
    report = next(stage for stage in graph.stages(params) if stage.name == f"report_{experiment}")
    return Counter(Path(folder).name.split("-")[0] for folder in report.args["runs"])


def handwriting_case(cfg, device, tmp, params):
    rng = np.random.default_rng(0)
    T = cfg["seq_len"]

    def strokes(n):
        x = rng.standard_normal((n, T, 4)).astype(np.float32)
        x[..., 2:] = rng.random((n, T, 2)) < 0.1
        return x
    data = {"x_train": strokes(cfg["n_train"]), "y_train": rng.integers(0, handwriting.N_CLASSES, (cfg["n_train"], T)),
            "x_valid": strokes(cfg["n_valid"]), "y_valid": rng.integers(0, handwriting.N_CLASSES, (cfg["n_valid"], T)),
            "mean": np.zeros(2, np.float32), "std": np.ones(2, np.float32)}
    path = tmp / "handwriting.npz"
    write_npz(path, **data)
    rate = params["supervision"]
    steps = cfg["n_train"] // cfg["batch_size"]
    reader = tmp / "reader"
    described = handwriting.model_of(cfg, "baseline", data)
    runs.save_run(reader / "model.pt", described, described.build(), "baseline", {})

    def batches(method):
        train = handwriting.with_inputs(cfg, handwriting.training_set(data, method, rate, "scattered", 0))
        return batch_maker(train, cfg["batch_size"], device, steps)(np.random.default_rng(1))
    return {"path": path, "steps": steps, "runs": runs_per_method(params, "handwriting"),
            "model": lambda method: handwriting.model_of(cfg, method, data),
            "spec": lambda method: handwriting.spec_for(method, cfg, 0, f"handwriting-{method}"),
            "batches": batches,
            "evaluate": accuracy_evaluator(handwriting.validation_set(cfg, data), device,
                                           particles=cfg["eval_particles"]),
            "score": lambda run_dir: handwriting.score(settings.unchecked({"handwriting": cfg}), runs.Run("cws", 0, path, run_dir, device, group="main",
                                                                     rate=rate, pattern="scattered", reader=reader))}


def measure(name, case, cfg, params, device, args, tmp):
    """Time the case's steps (args: probe, steps and profile of the command line) and project the runs."""
    probe, steps = args.probe, args.steps
    print(f"\n{name}: {case['steps']} steps per epoch, {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
          f"K {cfg['particles']}, hidden {cfg['hidden']}", flush=True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    per_step = {}
    for method in case["runs"]:
        seed_everything(0)
        model = case["model"](method).build().to(device)
        per_step[method], n = train_steps(model, case["spec"](method), case["batches"](method), device, probe)
        print(f"  {method:16} {1000 * per_step[method]:9.1f} ms/step (mean of {n})", flush=True)
    seed_everything(0)
    described = case["model"]("cws")
    model = described.build().to(device)
    limit = steps or case["steps"] - 1
    cws_step, n = train_steps(model, case["spec"]("cws"), case["batches"]("cws"), device, limit)
    epoch_train = cws_step * case["steps"]
    model.eval()
    with torch.no_grad():
        valid, _ = timed(lambda: case["evaluate"](model), device)
    print(f"  CWS epoch: {n + 1} of {case['steps']} steps run, {1000 * cws_step:.1f} ms/step -> "
          f"{epoch_train:.1f} s of training steps + {valid:.1f} s validation; "
          f"peak memory {peak_memory(device) / 2 ** 30:.2f} GiB", flush=True)
    run_dir = tmp / f"{name}-run"
    runs.save_run(run_dir / "model.pt", described, model, "cws", {})
    score, _ = timed(lambda: case["score"](run_dir), device)
    print(f"  scoring one run: {score:.1f} s; peak memory with it {peak_memory(device) / 2 ** 30:.2f} GiB")
    run_seconds = {m: cfg["epochs"] * (per_step[m] * case["steps"] + valid) + score for m in case["runs"]}
    total = sum(case["runs"][m] * run_seconds[m] for m in case["runs"])
    print(f"  projected {args.profile} profile: {sum(case['runs'].values())} runs ({len(params['seeds'])} seeds); one CWS run "
          f"{run_seconds['cws'] / 3600:.2f} h; all runs one after another {total / 3600:.1f} h", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiments", nargs="+", default=["mnist", "handwriting"], choices=["mnist", "handwriting"])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--probe", type=int, default=10, help="timed steps of every method (default 10)")
    parser.add_argument("--steps", type=int, default=0, help="timed CWS steps (default: the whole epoch)")
    parser.add_argument("--profile", default="paper", choices=sized.PROFILES,
                        help="whose sizes (default paper; smoke checks this script in seconds)")
    args = parser.parse_args()
    params = sized.with_profile(config.load(ROOT / "params.yaml"), args.profile)
    device = pick_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__} on {name}; params.yaml profile {args.profile}, seeds {params['seeds']}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for experiment in args.experiments:
            cfg = params[experiment]
            case = (mnist_case(cfg, device, tmp, params) if experiment == "mnist"
                    else handwriting_case(cfg, device, tmp, params))
            measure(experiment, case, cfg, params, device, args, tmp)


if __name__ == "__main__":
    main()

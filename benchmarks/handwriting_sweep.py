"""Sweep one handwriting knob over values, method and seed, at the active profile's sizes (docs/tuning.md).

Trains each method at `supervision` under `supervision_pattern` (params.yaml), for each value of the
knob and each seed, into a scratch folder, and prints the final top-1 and top-10 accuracy, then the
mean over seeds.  With --tuning-split f, a fraction f of the training windows is held out, the runs
train on the rest, and accuracy is measured on the held-out windows (all their labels known): a
choice made there never looks at the validation windows the verdicts use.  Needs the prepared data:
`dvc repro prepare_handwriting` (or `make repro`) first.

    python -m benchmarks.handwriting_sweep --key lr --values 0.01 0.02 0.03 --seeds 0 1 --jobs 2
    python -m benchmarks.handwriting_sweep --key alpha --values 1 10 60 --methods reinforce --tuning-split 0.1
"""
import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import config, layout, runs, settings
from pipeline.experiments import handwriting
from pipeline.io import write_npz
from pipeline.runs import Run
from pipeline.train import tune_cpu
from tests.conftest import ROOT


def tuning_data(split, out, seed=0):
    """The prepared data with a fraction `split` of the training windows moved to the validation slot
    (and the real validation windows dropped): the path of that npz in `out`."""
    with np.load(ROOT / layout.prepared("handwriting")) as f:
        data = dict(f)
    n = len(data["x_train"])
    held = np.random.default_rng([seed, 23]).permutation(n)[:int(round(split * n))]
    keep = np.setdiff1d(np.arange(n), held)
    data.update(x_valid=data["x_train"][held], y_valid=data["y_train"][held],
                x_train=data["x_train"][keep], y_train=data["y_train"][keep])
    path = Path(out) / "tuning.npz"
    write_npz(path, **data)
    return path


def one_run(method, value, seed, key, data, out):
    """Train one run with the profile's settings but handwriting.<key> = value; its final numbers."""
    params = config.load(ROOT / "params.yaml")
    torch.set_num_threads(params["threads"])
    tune_cpu()
    cfg = settings.unchecked({**params, "handwriting": {**params["handwriting"], key: value}})
    folder = Path(out) / f"{method}-{key}{value}-s{seed}"
    run = Run(method, seed, data, folder, "cpu", group="main", rate=params["supervision"],
              pattern=params["supervision_pattern"])
    result = runs.train(run, handwriting.training(cfg, run))
    return {"method": method, key: value, "seed": seed, "top1": result["val_top1"], "top10": result["val_top10"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--key", default="lr", help="a key of the handwriting section")
    parser.add_argument("--values", nargs="+", type=float, default=[0.01, 0.02, 0.03])
    parser.add_argument("--methods", nargs="+", default=["cws", "ssws", "reinforce", "baseline"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--tuning-split", type=float, default=0.0,
                        help="fraction of the training windows held out to measure on (0: the validation windows)")
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one per core)")
    args = parser.parse_args()
    cells = [(m, v, s) for m in args.methods for v in args.values for s in args.seeds]
    with tempfile.TemporaryDirectory() as out, ProcessPoolExecutor(args.jobs) as pool:
        data = tuning_data(args.tuning_split, out) if args.tuning_split else ROOT / layout.prepared("handwriting")
        rows = list(pool.map(one_run, *zip(*cells), [args.key] * len(cells), [data] * len(cells), [out] * len(cells)))
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format="%.3f"))
    print(f"\nmean over seeds ({'tuning split' if args.tuning_split else 'validation windows'}):")
    print(table.groupby(["method", args.key])[["top1", "top10"]].mean().to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()

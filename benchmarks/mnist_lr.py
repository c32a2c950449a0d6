"""Learning-rate choice for MNIST on a tuning split of the training digits (docs/tuning.md).

The verdicts read the validation digits; the learning rate must not be chosen on them.  This holds
out pipeline.data.mnist.TUNE_DIGITS of the training digits (tuning_split), trains each method on the
rest at each learning rate with the active profile's other settings (its lr_decay included), and
prints each run's final accuracy of q(y | x) on the held-out digits, then the mean over seeds and
methods: the profile's `lr` is the learning rate with the highest mean.  Needs the prepared data:
`dvc repro prepare_mnist` (or `make repro`) first.

    python -m benchmarks.mnist_lr --lrs 0.003 0.006 0.01 --seeds 0 1
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from pipeline import config, layout, runs, settings
from pipeline.data.mnist import tuning_split
from pipeline.experiments import mnist
from pipeline.report.verdicts import gain_per_epoch
from pipeline.runs import Run
from pipeline.train import tune_cpu
from tests.conftest import ROOT


def tuning_data(path):
    """The prepared arrays with the validation digits replaced by the tuning split of the training ones."""
    with np.load(path) as data:
        x, y = data["x_train"], data["y_train"]
    fit, tune = tuning_split(len(y))
    return {"x_train": x[fit], "y_train": y[fit], "x_valid": x[tune], "y_valid": y[tune]}


def one_run(params, method, lr, seed, out, split):
    """Train one run with params' settings but `lr`, on the tuning split; its final numbers."""
    torch.set_num_threads(params["threads"])
    tune_cpu()
    cfg = settings.unchecked({**params, "mnist": {**params["mnist"], "lr": lr}})
    folder = Path(out) / f"{method}-lr{lr}-s{seed}"
    run = Run(method, seed, ROOT / layout.prepared("mnist"), folder, "cpu")
    began = time.perf_counter()
    runs.train(run, mnist.training(cfg, run, split=split))
    curve = pd.read_csv(folder / layout.CURVE, sep="\t")
    return {"method": method, "lr": lr, "seed": seed, "tune_accuracy": curve["val_accuracy"].iloc[-1],
            "best": curve["val_accuracy"].max(), "gain_per_epoch": gain_per_epoch([curve], "val_accuracy"),
            "seconds": round(time.perf_counter() - began, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["cws", "m1m2"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[0.003, 0.006, 0.01])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = parser.parse_args()
    params = config.load(ROOT / "params.yaml")
    split = tuning_data(ROOT / layout.prepared("mnist"))
    with tempfile.TemporaryDirectory() as out:
        rows = []
        for m in args.methods:
            for lr in args.lrs:
                for s in args.seeds:
                    rows.append(one_run(params, m, lr, s, out, split))
                    print(rows[-1], flush=True)
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format="%.3f"))
    print("\nmean over seeds:")
    print(table.groupby(["method", "lr"])[["tune_accuracy", "best", "gain_per_epoch"]].mean().to_string(float_format="%.3f"))
    print("\nmean over methods and seeds (the choice: the highest):")
    print(table.groupby("lr")["tune_accuracy"].mean().to_string(float_format="%.4f"))


if __name__ == "__main__":
    main()

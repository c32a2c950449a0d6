"""Learning-rate sweep of the handwriting methods at the active profile's sizes (docs/tuning.md).

Trains each method at 12.5% uniform supervision, for each learning rate and seed, into a scratch
folder, and prints the final validation top-1 and top-10 accuracy and the top-1 gain per epoch at
the end (the verdicts' convergence slope), then the mean over seeds.  Needs the prepared data:
`dvc repro prepare_handwriting` (or `make repro`) first.

    python -m benchmarks.lr_sweep --lrs 0.01 0.02 0.03 --seeds 0 1 --jobs 2
"""
import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import torch

from pipeline import config, layout, runs, settings
from pipeline.experiments import handwriting
from pipeline.report.verdicts import gain_per_epoch
from pipeline.runs import Run
from pipeline.train import tune_cpu
from tests.conftest import ROOT


def one_run(method, lr, seed, out):
    """Train one run with the profile's settings but `lr`; its final validation numbers."""
    params = config.load(ROOT / "params.yaml")
    torch.set_num_threads(params["threads"])
    tune_cpu()
    cfg = settings.unchecked({**params, "handwriting": {**params["handwriting"], "lr": lr}})
    folder = Path(out) / f"{method}-lr{lr}-s{seed}"
    run = Run(method, seed, ROOT / layout.prepared("handwriting"), folder, "cpu", group="main",
              rate=params["supervision"], pattern="uniform")
    runs.train(run, handwriting.training(cfg, run))
    curve = pd.read_csv(folder / layout.CURVE, sep="\t")
    return {"method": method, "lr": lr, "seed": seed, "top1": curve["val_top1"].iloc[-1],
            "top10": curve["val_top10"].iloc[-1], "top1_gain_per_epoch": gain_per_epoch([curve], "val_top1")}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="+", default=["cws", "ssws", "reinforce", "baseline"])
    parser.add_argument("--lrs", nargs="+", type=float, default=[0.01, 0.02, 0.03])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--jobs", type=int, default=2, help="runs side by side (one per core)")
    args = parser.parse_args()
    cells = [(m, lr, s) for m in args.methods for lr in args.lrs for s in args.seeds]
    with tempfile.TemporaryDirectory() as out, ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(one_run, *zip(*cells), [out] * len(cells)))
    table = pd.DataFrame(rows)
    pd.set_option("display.width", 200)
    print(table.to_string(index=False, float_format="%.3f"))
    print("\nmean over seeds:")
    print(table.groupby(["method", "lr"])[["top1", "top10", "top1_gain_per_epoch"]].mean()
          .to_string(float_format="%.3f"))


if __name__ == "__main__":
    main()

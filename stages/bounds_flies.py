"""The scale beside Table 1: the simulator's own continuations (upper, embedded data) and a
constant-velocity random walk (lower) of the scored test windows (evaluate.bounds)."""
import argparse

import numpy as np

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.flies import EXPERIMENT
from pipeline.evaluate.bounds import bounds
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True, help="the prepared flies npz")
    parser.add_argument("--out", required=True, help="the bounds' continuations to write (npz)")
    a = parser.parse_args()
    cfg = settings.load(EXPERIMENT, "bounds")["flies"]
    with np.load(a.data) as f:
        data = dict(f)
    write_npz(a.out, **bounds(data, cfg, simulated=cfg["source"] == "embedded"))


if __name__ == "__main__":
    run(main)

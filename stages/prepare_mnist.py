"""Prepare the mnist data: fetch or read MNIST into one npz."""
import argparse

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.mnist import EXPERIMENT
from pipeline.data import mnist
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the prepared npz")
    parser.add_argument("--raw", required=True, help="folder for downloads")
    args = parser.parse_args()
    cfg = settings.load(EXPERIMENT, "prepare")["mnist"]
    write_npz(args.out, **mnist.prepare(cfg["source"], cfg, cfg["split_seed"], args.raw))


if __name__ == "__main__":
    run(main)

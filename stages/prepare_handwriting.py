"""Prepare the handwriting data: render, read or download the handwriting data into one npz."""
import argparse

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.handwriting import EXPERIMENT
from pipeline.data.handwriting import sources
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the prepared npz")
    parser.add_argument("--raw", required=True, help="folder for downloads")
    args = parser.parse_args()
    cfg = settings.load(EXPERIMENT, "prepare")["handwriting"]
    write_npz(args.out, **sources.prepare(cfg["source"], cfg, cfg["data_seed"], args.raw))


if __name__ == "__main__":
    run(main)

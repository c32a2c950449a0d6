"""Prepare the flies data: simulate or read Fly-vs-Fly tracks into one npz."""
import argparse

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.flies import EXPERIMENT
from pipeline.data import flies
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the prepared npz")
    parser.add_argument("--raw", required=True, help="folder for downloads")
    args = parser.parse_args()
    cfg = settings.load(EXPERIMENT, "prepare")["flies"]
    write_npz(args.out, **flies.prepare(cfg["source"], cfg, cfg["data_seed"], args.raw))


if __name__ == "__main__":
    run(main)

"""Prepare your own sequences: read the file of sequences.path, split, thin, standardise, cut windows."""
import argparse

from pipeline import settings
from pipeline.cli import run
from pipeline.data import sequences
from pipeline.declarations.sequences import EXPERIMENT
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input", required=True, help="the researcher's file: .csv, .parquet or .npz")
    parser.add_argument("--out", required=True, help="the prepared npz")
    args = parser.parse_args()
    write_npz(args.out, **sequences.prepare(settings.load(EXPERIMENT, "prepare")["sequences"], args.input))


if __name__ == "__main__":
    run(main)

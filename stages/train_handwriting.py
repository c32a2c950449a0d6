"""Stage train_handwriting*: train the DVRNN on strokes with one method, supervision rate, pattern and seed."""
import argparse

from pipeline import config
from pipeline.cli import run
from pipeline.experiments import handwriting
from pipeline.runs import timed
from pipeline.train import pick_device


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--method", required=True, choices=handwriting.METHODS)
    parser.add_argument("--rate", type=float, required=True, help="fraction of labelled steps (or sequences, baseline)")
    parser.add_argument("--pattern", required=True, choices=["uniform", "variable"])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", required=True, help="run folder")
    parser.add_argument("--name", required=True, help="stage name, for messages")
    args = parser.parse_args()
    params = config.load()
    config.check_fraction("supervision", args.rate)
    device = pick_device(params["device"])
    with timed(f"{args.out}/timing.json", device):
        handwriting.run(config.settings(params, "handwriting"), args.method, args.rate, args.pattern, args.seed,
                        "data/prepared/handwriting.npz", args.out, device, args.name)


if __name__ == "__main__":
    run(main)

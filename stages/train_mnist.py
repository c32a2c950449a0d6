"""Stage train_mnist@<objective>-<seed>: train M2 with one objective and seed."""
import argparse

from pipeline import config
from pipeline.cli import run
from pipeline.experiments import mnist
from pipeline.runs import timed
from pipeline.train import pick_device


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objective", required=True, choices=["cws", "m1m2", "rws", "m1", "ssws"])
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    params = config.load()
    out, device = f"runs/mnist/{args.objective}-s{args.seed}", pick_device(params["device"])
    with timed(f"{out}/timing.json", device):
        mnist.run(config.settings(params, "mnist"), args.objective, args.seed, "data/prepared/mnist.npz", out, device)


if __name__ == "__main__":
    run(main)

"""Stage train_flies@<model>-<seed>: train one fly model (cws, rws, vrnn or rnn)."""
import argparse

from pipeline import config
from pipeline.cli import run
from pipeline.experiments import flies
from pipeline.train import pick_device


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, choices=flies.MODELS)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    params = config.load()
    flies.run(config.settings(params, "flies"), args.model, args.seed, "data/prepared/flies.npz",
              f"runs/flies/{args.model}-s{args.seed}", pick_device(params["device"]),
              f"train_flies@{args.model}-{args.seed}")


if __name__ == "__main__":
    run(main)

"""Stage train_flies@<model>-<seed>: train one fly model (cws, rws, vrnn or rnn)."""
import argparse

from pipeline import config
from pipeline.cli import run
from pipeline.experiments import flies
from pipeline.runs import timed
from pipeline.train import pick_device


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, choices=flies.MODELS)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    params = config.load()
    out, device = f"runs/flies/{args.model}-s{args.seed}", pick_device(params["device"])
    with timed(f"{out}/timing.json", device):
        flies.run(config.settings(params, "flies"), args.model, args.seed, "data/prepared/flies.npz", out, device,
                  f"train_flies@{args.model}-{args.seed}")


if __name__ == "__main__":
    run(main)

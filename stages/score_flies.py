"""Stage score_flies@<model>-<seed>: sample continuations of test tracks and score them by KDE."""
import argparse

from pipeline import config
from pipeline.cli import run
from pipeline.experiments import flies
from pipeline.io import write_json, write_npz
from pipeline.runs import timed
from pipeline.train import pick_device


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, choices=flies.MODELS)
    parser.add_argument("--seed", type=int, required=True)
    args = parser.parse_args()
    params = config.load()
    folder, device = f"runs/flies/{args.model}-s{args.seed}", pick_device(params["device"])
    with timed(f"{folder}/score_timing.json", device):
        arrays, metrics = flies.score(config.settings(params, "flies"), args.model, args.seed,
                                      "data/prepared/flies.npz", f"{folder}/model.pt", device)
        write_npz(f"{folder}/continuations.npz", **arrays)
        write_json(f"{folder}/kde.json", metrics)


if __name__ == "__main__":
    run(main)

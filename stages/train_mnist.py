"""Train M2 on MNIST with one method and seed."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.mnist import EXPERIMENT
from pipeline.experiments import mnist


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "train", run_parser(__doc__, EXPERIMENT.methods))
    with runs.timed(this, layout.TRAIN_TIME):
        runs.train(this, mnist.training(cfg, this))


if __name__ == "__main__":
    run(main)

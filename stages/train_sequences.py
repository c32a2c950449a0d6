"""Train one model of your own sequences (CWS, SSWS, the baseline or RWS) with one seed."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.sequences import EXPERIMENT
from pipeline.experiments import sequences


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "train", run_parser(__doc__, EXPERIMENT.methods))
    with runs.timed(this, layout.TRAIN_TIME):
        runs.train(this, sequences.training(cfg, this))


if __name__ == "__main__":
    run(main)

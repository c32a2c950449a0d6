"""Train the DVRNN on pen strokes with one method, supervision rate, pattern and seed."""
from pipeline import layout, rules, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.declarations.handwriting import EXPERIMENT
from pipeline.experiments import handwriting


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "train", handwriting_args(run_parser(__doc__, EXPERIMENT.methods)))
    rules.require("supervision", this.rate, rules.fraction)
    with runs.timed(this, layout.TRAIN_TIME):
        runs.train(this, handwriting.training(cfg, this))


if __name__ == "__main__":
    run(main)

"""Train one fly model (CWS or RWS DVRNN, VRNN or binned RNN) with one seed."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.flies import EXPERIMENT
from pipeline.experiments import flies


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "train", run_parser(__doc__, EXPERIMENT.methods))
    with runs.timed(this, layout.TRAIN_TIME):
        runs.train(this, flies.training(cfg, this))


if __name__ == "__main__":
    run(main)

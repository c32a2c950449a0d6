"""Score one trained MNIST run: its generative model's own classifier and the Fig. 2b/c grids."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.mnist import EXPERIMENT
from pipeline.experiments import mnist
from pipeline.run_folder import write_scores


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "score", run_parser(__doc__, EXPERIMENT.methods, scoring=True))
    with runs.timed(this, layout.SCORE_TIME):
        write_scores(EXPERIMENT, this.folder, *mnist.score(cfg, this))


if __name__ == "__main__":
    run(main)

"""Score one model of your own sequences: accuracy, confusion, continuations and conditioned samples."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.sequences import EXPERIMENT
from pipeline.experiments import sequences
from pipeline.run_folder import write_scores


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "score", run_parser(__doc__, EXPERIMENT.methods, scoring=True))
    with runs.timed(this, layout.SCORE_TIME):
        write_scores(EXPERIMENT, this.folder, *sequences.score(cfg, this))


if __name__ == "__main__":
    run(main)

"""Score one trained fly model: continuations of test tracks and their KDE scores (Table 1)."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.flies import EXPERIMENT
from pipeline.experiments import flies
from pipeline.run_folder import write_scores


def main():
    cfg, this = runs.stage_inputs(EXPERIMENT, "score", run_parser(__doc__, EXPERIMENT.methods, scoring=True))
    with runs.timed(this, layout.SCORE_TIME):
        write_scores(EXPERIMENT, this.folder, *flies.score(cfg, this))


if __name__ == "__main__":
    run(main)

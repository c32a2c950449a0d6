"""Score one trained handwriting run: teacher-forced accuracy, the Fig. 4 generation and its legibility."""
from pipeline import layout, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.declarations.handwriting import EXPERIMENT
from pipeline.experiments import handwriting
from pipeline.run_folder import write_scores


def main():
    parser = handwriting_args(run_parser(__doc__, EXPERIMENT.methods, scoring=True))
    parser.add_argument("--reader", required=True, help="the ceiling run whose classifier reads the generations")
    cfg, this = runs.stage_inputs(EXPERIMENT, "score", parser)
    with runs.timed(this, layout.SCORE_TIME):
        write_scores(EXPERIMENT, this.folder, *handwriting.score(cfg, this))


if __name__ == "__main__":
    run(main)

"""Score one trained handwriting run: teacher-forced accuracy, the Fig. 4 generation and its legibility."""
from pipeline import methods, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.experiments import handwriting


def main():
    parser = handwriting_args(run_parser(__doc__, methods.HANDWRITING, scoring=True))
    parser.add_argument("--reader", required=True, help="the ceiling run whose classifier reads the generations")
    runs.score_stage("handwriting", parser.parse_args(), handwriting.score)


if __name__ == "__main__":
    run(main)

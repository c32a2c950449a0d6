"""Score one trained handwriting run: teacher-forced accuracy, the Fig. 4 generation and its legibility."""
from pipeline import methods, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.experiments import handwriting


def main():
    parser = handwriting_args(run_parser(__doc__, methods.HANDWRITING, scoring=True))
    parser.add_argument("--reader", required=True, help="the ceiling run whose classifier reads the generations")
    a = parser.parse_args()
    runs.score_stage("handwriting", a.run, lambda cfg, device: handwriting.score(
        cfg, a.method, a.group, a.rate, a.pattern, a.seed, a.data, a.run, a.reader, device))


if __name__ == "__main__":
    run(main)

"""Score one trained handwriting run: teacher-forced accuracy and the Fig. 4 generation."""
from pipeline import methods, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.experiments import handwriting


def main():
    a = handwriting_args(run_parser(__doc__, methods.HANDWRITING, scoring=True)).parse_args()
    runs.score_stage("handwriting", a.run, lambda cfg, device: handwriting.score(
        cfg, a.method, a.group, a.rate, a.pattern, a.seed, a.data, a.run, device))


if __name__ == "__main__":
    run(main)

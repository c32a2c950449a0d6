"""Score one trained fly model: continuations of test tracks and their KDE scores (Table 1)."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import flies


def main():
    a = run_parser(__doc__, methods.FLIES, scoring=True).parse_args()
    runs.score_stage("flies", a.run, lambda cfg, device: flies.score(cfg, a.method, a.seed, a.data, a.run, device))


if __name__ == "__main__":
    run(main)

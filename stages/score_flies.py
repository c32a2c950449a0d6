"""Score one trained fly model: continuations of test tracks and their KDE scores (Table 1)."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import flies


def main():
    runs.score_stage("flies", run_parser(__doc__, methods.FLIES, scoring=True).parse_args(), flies.score)


if __name__ == "__main__":
    run(main)

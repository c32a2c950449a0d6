"""Score one model of your own sequences: accuracy, confusion, continuations and conditioned samples."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import sequences


def main():
    runs.score_stage("sequences", run_parser(__doc__, methods.SEQUENCES, scoring=True).parse_args(), sequences.score)


if __name__ == "__main__":
    run(main)

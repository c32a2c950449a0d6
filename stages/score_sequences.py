"""Score one model of your own sequences: accuracy, confusion, continuations and conditioned samples."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import sequences


def main():
    a = run_parser(__doc__, methods.SEQUENCES, scoring=True).parse_args()
    runs.score_stage("sequences", a.run, lambda cfg, device: sequences.score(cfg, a.method, a.seed, a.data, a.run,
                                                                             device))


if __name__ == "__main__":
    run(main)

"""Train one model of your own sequences (CWS, SSWS, the baseline or RWS) with one seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import sequences


def main():
    runs.train_stage("sequences", run_parser(__doc__, methods.SEQUENCES).parse_args(), sequences.run)


if __name__ == "__main__":
    run(main)

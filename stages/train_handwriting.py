"""Train the DVRNN on pen strokes with one method, supervision rate, pattern and seed."""
from pipeline import config, methods, runs
from pipeline.cli import handwriting_args, run, run_parser
from pipeline.experiments import handwriting


def main():
    a = handwriting_args(run_parser(__doc__, methods.HANDWRITING)).parse_args()
    config.check_fraction("supervision", a.rate)
    runs.train_stage("handwriting", a, handwriting.run)


if __name__ == "__main__":
    run(main)

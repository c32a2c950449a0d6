"""Score one trained MNIST run: its generative model's own classifier and the Fig. 2b/c grids."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import mnist


def main():
    runs.score_stage("mnist", run_parser(__doc__, methods.MNIST, scoring=True).parse_args(), mnist.score)


if __name__ == "__main__":
    run(main)

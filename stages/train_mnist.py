"""Train M2 on MNIST with one method and seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import mnist


def main():
    runs.train_stage("mnist", run_parser(__doc__, methods.MNIST).parse_args(), mnist.run)


if __name__ == "__main__":
    run(main)

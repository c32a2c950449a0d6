"""Train M2 on MNIST with one method and seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import mnist


def main():
    a = run_parser(__doc__, methods.MNIST).parse_args()
    runs.train_stage("mnist", a.out, lambda cfg, device: mnist.run(cfg, a.method, a.seed, a.data, a.out, device))


if __name__ == "__main__":
    run(main)

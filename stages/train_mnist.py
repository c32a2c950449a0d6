"""Train M2 on MNIST with one method and seed."""
from pipeline import layout, runs
from pipeline.cli import run, run_parser
from pipeline.declarations.mnist import EXPERIMENT
from pipeline.experiments import mnist


def main():
    parser = run_parser(__doc__, EXPERIMENT.methods)
    parser.add_argument("--pool", type=int, help="train on this many training digits (the pool row), as many steps")
    cfg, this = runs.stage_inputs(EXPERIMENT, "train", parser)
    with runs.timed(this, layout.TRAIN_TIME):
        runs.train(this, mnist.training(cfg, this, pool=parser.parse_args().pool))


if __name__ == "__main__":
    run(main)

"""Stage prepare_mnist: fetch or read MNIST and write data/prepared/mnist.npz."""
from pipeline import config
from pipeline.cli import run
from pipeline.data import mnist
from pipeline.io import write_npz

OUT = "data/prepared/mnist.npz"


def main():
    cfg = config.settings(config.load(), "mnist")
    write_npz(OUT, **mnist.prepare(cfg["source"], cfg, cfg["split_seed"], "data/raw"))


if __name__ == "__main__":
    run(main)

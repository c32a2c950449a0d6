"""Stage prepare_flies: simulate or read Fly-vs-Fly tracks -> data/prepared/flies.npz."""
from pipeline import config
from pipeline.cli import run
from pipeline.data import flies
from pipeline.io import write_npz

OUT = "data/prepared/flies.npz"


def main():
    cfg = config.settings(config.load(), "flies")
    write_npz(OUT, **flies.prepare(cfg["source"], cfg, cfg["data_seed"], "data/raw"))


if __name__ == "__main__":
    run(main)

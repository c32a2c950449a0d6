"""Stage prepare_handwriting: render, read or download the handwriting data -> data/prepared/handwriting.npz."""
from pipeline import config
from pipeline.cli import run
from pipeline.data import handwriting
from pipeline.io import write_npz

OUT = "data/prepared/handwriting.npz"


def main():
    cfg = config.settings(config.load(), "handwriting")
    write_npz(OUT, **handwriting.prepare(cfg["source"], cfg, cfg["data_seed"], "data/raw"))


if __name__ == "__main__":
    run(main)

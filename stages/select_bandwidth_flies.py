"""Choose one KDE bandwidth for every fly model on validation windows, then score the test windows with it."""
import argparse
from pathlib import Path

from pipeline import layout
from pipeline.cli import run
from pipeline.evaluate.kde import shared_bandwidth_scores
from pipeline.io import read_json, write_json
from pipeline.results import read_arrays


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", required=True, help="scored fly run folders")
    parser.add_argument("--floor", type=float, required=True, help="smallest bandwidth (mm)")
    parser.add_argument("--out", required=True, help="the shared-bandwidth scores to write (JSON)")
    a = parser.parse_args()
    scores = layout.SCORES["flies"][0]
    grids, test = {}, {}
    for folder in a.runs:
        grids[folder] = read_json(Path(folder) / scores)["valid_kde_by_bandwidth"]
        arrays = read_arrays("flies", folder)
        test[folder] = arrays["positions"], arrays["truth"]
    write_json(a.out, shared_bandwidth_scores(grids, test, a.floor))


if __name__ == "__main__":
    run(main)

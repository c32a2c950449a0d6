"""Choose the KDE rules for every fly model on validation windows, then score the test windows with them,
and the scale's bounds (bounds_flies) with the same rules (the bounds take no part in choosing them)."""
import argparse
from pathlib import Path

import numpy as np

from pipeline.cli import run
from pipeline.declarations.flies import EXPERIMENT
from pipeline.evaluate.kde import scored_by_rules, table1_scores
from pipeline.io import write_json, write_npz
from pipeline.run_folder import read_arrays, read_scores


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", nargs="+", required=True, help="scored fly run folders")
    parser.add_argument("--floor", type=float, required=True, help="smallest bandwidth (mm)")
    parser.add_argument("--bounds", required=True, help="the bounds' continuations (npz)")
    parser.add_argument("--half", nargs="*", default=[], help="the plateau check's scored run folders (half the steps)")
    parser.add_argument("--out", required=True, help="the scores under the chosen rules to write (JSON)")
    parser.add_argument("--steps", required=True, help="each rule's per-step test scores to write (npz)")
    a = parser.parse_args()
    grids, defensive, test = {}, {}, {}
    for folder in a.runs:
        numbers = read_scores(EXPERIMENT, folder)
        grids[folder], defensive[folder] = numbers["valid_kde_by_bandwidth"], numbers["valid_defensive"]
        test[folder] = read_arrays(EXPERIMENT, folder)
    numbers, steps = table1_scores(grids, defensive, test, a.floor)
    rules = (numbers["bandwidth_mm"], numbers["defensive_bandwidth_mm"], numbers["defensive_eps"])
    with np.load(a.bounds) as f:
        b = dict(f)
    numbers["bounds"], numbers["half"] = {}, {}
    for folder in a.half:                       # scored by the rules chosen on the full runs; they choose nothing
        arrays = read_arrays(EXPERIMENT, folder)
        numbers["half"][folder], _ = scored_by_rules(arrays["positions"], arrays["truth"], arrays["radius"], rules, a.floor)
    for name in ("upper", "lower"):
        if name in b:
            numbers["bounds"][name], steps[f"bound_{name}"] = scored_by_rules(b[name], b["truth"], b["radius"], rules, a.floor)
    write_npz(a.steps, **{f"{Path(folder).name}.{rule}": s.astype("float32")
                          for folder, by_rule in steps.items() for rule, s in by_rule.items()})
    write_json(a.out, numbers)


if __name__ == "__main__":
    run(main)

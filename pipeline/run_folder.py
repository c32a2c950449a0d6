"""The run folder's files, written and read here (their names in layout.py).

Training writes model.pt (runs.save_model: the weights, the one torch file, kept out of this module
so that report code never imports torch), curve.tsv (one row per epoch) and metrics.json; scoring
writes one JSON of numbers and one npz of arrays (the names its experiment's declaration gives:
Experiment.scores).  Reports and fan-in stages read
them back from here; no model is loaded."""
import csv
import io
import math
from pathlib import Path

import numpy as np

from pipeline import PipelineError, layout
from pipeline.io import read_json, write_json, write_npz, write_text


def write_training(folder, history, metrics):
    """curve.tsv (every epoch's row of `history`) and metrics.json, each written atomically; non-finite
    metrics become null."""
    folder = Path(folder)
    table = io.StringIO()          # csv, not pandas: training stages need not import it
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for row in history for k in row)),
                            delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(folder / layout.CURVE, table.getvalue())
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    write_json(folder / layout.METRICS, clean)


def write_scores(experiment, folder, arrays, numbers):
    """A score stage's npz of arrays and JSON of numbers, under the names `experiment` (a declaration) gives."""
    numbers_name, arrays_name = experiment.scores
    write_npz(Path(folder) / arrays_name, **arrays)
    write_json(Path(folder) / numbers_name, numbers)


def _need(path):
    if not path.exists():
        raise PipelineError(f"{path}: missing; run `dvc repro` to produce it")
    return path


def read_scores(experiment, folder):
    """The JSON of numbers a score stage wrote for the run in `folder` (experiment: its declaration)."""
    return read_json(_need(Path(folder) / experiment.scores[0]))


def read_arrays(experiment, folder):
    """The npz a score stage wrote for the run in `folder`, as a dict of arrays."""
    with np.load(_need(Path(folder) / experiment.scores[1])) as f:
        return dict(f)


def read_runs(experiment, folders):
    """(frame, curves): one row per run folder, its metrics.json and scores JSON merged, plus
    `folder`; and each folder's per-epoch curve.tsv as a DataFrame, keyed by folder."""
    import pandas as pd            # here, not above: the training stages write run folders without pandas
    rows, curves = [], {}
    for folder in map(Path, folders):
        row = {**read_json(_need(folder / layout.METRICS)), **read_scores(experiment, folder)}
        rows.append({**row, "folder": str(folder)})
        curves[str(folder)] = pd.read_csv(_need(folder / layout.CURVE), sep="\t")
    return pd.DataFrame(rows), curves


def read_trained(folders):
    """One row per run folder of its metrics.json alone (runs that are trained and not scored), plus `folder`."""
    import pandas as pd
    rows = [{**read_json(_need(Path(f) / layout.METRICS)), "folder": str(f)} for f in folders]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["method", "seed", "group", "folder"])


def curves_by(frame, curves, key):
    """{value of `key`: [curve DataFrame of each run with that value]}, in frame order."""
    out = {}
    for _, row in frame.iterrows():
        out.setdefault(row[key], []).append(curves[row["folder"]])
    return out

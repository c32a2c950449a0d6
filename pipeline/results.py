"""Reading finished runs: the metrics, score and array files of each run folder a report or fan-in
stage is given (names in layout.py).  Files only: no model is loaded here."""
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import PipelineError, layout
from pipeline.io import read_json


def _need(path):
    if not path.exists():
        raise PipelineError(f"{path}: missing; run `dvc repro` to produce it")
    return path


def read_runs(experiment, folders):
    """(frame, curves): one row per run folder, its metrics.json and scores JSON merged, plus
    `folder`; and each folder's per-epoch curve.tsv as a DataFrame, keyed by folder."""
    scores_name = layout.SCORES[experiment][0]
    rows, curves = [], {}
    for folder in map(Path, folders):
        row = {**read_json(_need(folder / layout.METRICS)), **read_json(_need(folder / scores_name))}
        rows.append({**row, "folder": str(folder)})
        curves[str(folder)] = pd.read_csv(_need(folder / layout.CURVE), sep="\t")
    return pd.DataFrame(rows), curves


def read_arrays(experiment, folder):
    """The npz a score stage wrote for the run in `folder`, as a dict of arrays."""
    with np.load(_need(Path(folder) / layout.SCORES[experiment][1])) as f:
        return dict(f)


def curves_by(frame, curves, key):
    """{value of `key`: [curve DataFrame of each run with that value]}, in frame order."""
    out = {}
    for _, row in frame.iterrows():
        out.setdefault(row[key], []).append(curves[row["folder"]])
    return out

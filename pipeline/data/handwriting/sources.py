"""`prepare`: the standardised windows of one handwriting source (SOURCES), the same arrays from each."""
import logging
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data.handwriting.deepwriting import deepwriting
from pipeline.data.handwriting.embedded import embedded
from pipeline.data.handwriting.iamondb import iamondb
from pipeline.data.handwriting.strokes import standardise

log = logging.getLogger(__name__)

SOURCES = {"embedded": lambda cfg, seed, raw_dir: embedded(cfg, seed),
           "deepwriting": deepwriting, "iamondb": iamondb}


def prepare(source, cfg, seed, raw_dir):
    """Standardised train/validation windows from `source`.

    Returns numpy arrays: x_train/x_valid [N, T, 4] float32, y_train/y_valid [N, T] int64,
    text_*, writer_*, mean [2], std [2] (dx, dy statistics of the training split),
    labelled (bool scalar: whether y holds real labels) and source (str scalar)."""
    if source not in SOURCES:
        raise PipelineError(f"params.yaml: handwriting.source is {source!r}; use one of {', '.join(SOURCES)}")
    data = SOURCES[source](cfg, seed, Path(raw_dir))
    if len(data["x_train"]) == 0:
        raise PipelineError(f"handwriting ({source}): no training window; lower handwriting.n_valid or seq_len")
    steps = data["x_train"][..., :2].reshape(-1, 2).astype(np.float64)
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    std[std < 1e-8] = 1.0
    data["mean"], data["std"] = mean.astype(np.float32), std.astype(np.float32)
    for split in ("train", "valid"):
        data[f"x_{split}"] = standardise(data[f"x_{split}"], data["mean"], data["std"])
    data["source"] = np.array(source)
    log.info("handwriting (%s): %d training and %d validation windows of %d steps", source,
             len(data["x_train"]), len(data["x_valid"]), data["x_train"].shape[1])
    return data

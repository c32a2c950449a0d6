"""A researcher's own partly labelled time series (the `sequences` experiment; docs/sequences.md).

Three formats, chosen by the file's suffix:

  .csv, .parquet (.pq)  long format: one row per time step, a sequence id column, an optional time
                        column, numeric feature columns and a label column, empty where unlabelled;
                        column names come from params.yaml (sequences.*)
  .npz                  x [N, T, D] numbers, labels [N, T] integers (-1 unlabelled), optional
                        lengths [N] (steps of each sequence that count; the rest is padding)

`prepare` reads the file, holds out a seeded fraction of whole sequences for validation, keeps a
fraction of the training split's labelled bouts (sequences.supervision), marks the training windows
whose sequence is then fully labelled (the baseline's data), standardises the features
with the training split's mean and standard deviation, and cuts every sequence into windows.  Bad
input stops it with one PipelineError naming the file, the column and the row, before anything is
written.
"""
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data.supervision import thin_annotations

log = logging.getLogger(__name__)

FORMATS = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


@dataclass
class Table:
    """Sequences as read, before any split: per sequence its id, features [T, D] (float64), labels [T]
    (str, or None where unlabelled) and, for the messages, the file row of each step."""
    path: str
    kind: str                                   # csv | parquet | npz
    features: list
    id_column: str
    label_column: str
    ids: list = field(default_factory=list)
    x: list = field(default_factory=list)
    labels: list = field(default_factory=list)
    rows: list = field(default_factory=list)

    def where(self, i, t):
        """Where the label of step t of sequence i is in the file."""
        if self.kind == "npz":
            return f"{self.path}: array 'labels', sequence {i}, step {t}"
        return f"{self.path}: column '{self.label_column}', {row_text(self.kind, self.rows[i][t])}"

    def start(self, i):
        """Where sequence i begins in the file."""
        if self.kind == "npz":
            return f"{self.path}: array 'x', sequence {i}"
        return f"{self.path}: column '{self.id_column}', {row_text(self.kind, self.rows[i][0])}"


def row_text(kind, row):
    """Rows count from 1 and leave the header out; a CSV's line number is one more."""
    return f"row {row} (line {row + 1})" if kind == "csv" else f"row {row}"


def _label_text(value):
    """A label cell as a class name, or None where the step is unlabelled (empty, NA, NaN)."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------- long tables
def _read_frame(path, kind, cfg):
    import pandas as pd         # here: the training stages never read tables
    try:
        if kind == "csv":
            text_columns = {c: str for c in (cfg["id_column"], cfg["label_column"]) if c}
            return pd.read_csv(path, dtype=text_columns, skipinitialspace=True)
        return pd.read_parquet(path)
    except ImportError:
        raise PipelineError(f"{path}: reading Parquet needs pyarrow (pinned in requirements.txt): "
                            f"`pip install -r requirements.txt`") from None
    except (OSError, ValueError, UnicodeDecodeError) as err:          # parser and Arrow errors are ValueErrors
        first = (str(err).splitlines() or [err.__class__.__name__])[0][:160]
        raise PipelineError(f"{path}: not a readable {kind} file ({first})") from None


def _numeric(path, kind, frame, column):
    """A column as float64, or one error naming the first cell that is not a finite number."""
    import pandas as pd
    original = frame[column]
    values = pd.to_numeric(original, errors="coerce").astype("float64").to_numpy()
    text = original.notna().to_numpy() & np.isnan(values)
    if text.any():
        r = int(np.flatnonzero(text)[0])
        raise PipelineError(f"{path}: column '{column}', {row_text(kind, r + 1)}: {original.iloc[r]!r} is not a "
                            f"number; feature and time columns must be numeric")
    bad = ~np.isfinite(values)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        what = "empty or NaN" if np.isnan(values[r]) else "infinite"
        raise PipelineError(f"{path}: column '{column}', {row_text(kind, r + 1)} is {what}; every step needs a "
                            f"finite value (fill it, or drop the step)")
    return values


def read_long(path, kind, cfg):
    """A CSV or Parquet file in long format as a Table."""
    frame = _read_frame(path, kind, cfg)
    id_col, time_col, label_col = cfg["id_column"], cfg.get("time_column"), cfg["label_column"]
    named = {"id_column": id_col, "label_column": label_col, **({"time_column": time_col} if time_col else {})}
    features = cfg.get("feature_columns") or [c for c in frame.columns if c not in named.values()]
    listed = [*named.items(), *(("feature_columns", c) for c in cfg.get("feature_columns") or [])]
    have = ", ".join(map(str, frame.columns))
    for key, column in listed:
        if column not in frame.columns:
            raise PipelineError(f"{path}: no column '{column}' (sequences.{key} in params.yaml); the header row "
                                f"has: {have}")
    if not features:
        raise PipelineError(f"{path}: no feature column besides '{id_col}', '{label_col}'"
                            f"{f', {time_col!r}' if time_col else ''}; the header row has: {have}")
    x = np.stack([_numeric(path, kind, frame, c) for c in features], -1)
    time = _numeric(path, kind, frame, time_col) if time_col else None
    ids = frame[id_col]
    if ids.isna().any():
        r = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise PipelineError(f"{path}: column '{id_col}', {row_text(kind, r + 1)} is empty; every row needs "
                            f"a sequence id")
    ids = ids.map(lambda v: _label_text(v) or "").to_numpy(dtype=object)
    labels = np.array([_label_text(v) for v in frame[label_col].to_numpy(dtype=object)], dtype=object)
    table = Table(str(path), kind, list(map(str, features)), id_col, label_col)
    for name in ordered(ids):                        # sorted: the split does not depend on the rows' order
        idx = np.flatnonzero(ids == name)
        if time is not None:
            idx = idx[np.argsort(time[idx], kind="stable")]
        table.ids.append(str(name))
        table.x.append(x[idx])
        table.labels.append(labels[idx])
        table.rows.append(idx + 1)
    return table


# --------------------------------------------------------------------------- npz
def read_npz(path):
    """An npz of x [N, T, D], labels [N, T] (-1 unlabelled) and optional lengths [N] as a Table."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (OSError, ValueError) as err:
        raise PipelineError(f"{path}: not a readable npz file ({str(err).splitlines()[0][:160]})") from None
    for key in ("x", "labels"):
        if key not in arrays:
            raise PipelineError(f"{path}: no array '{key}' (the file has: {', '.join(arrays) or 'nothing'}); "
                                f"it needs x [N, T, D], labels [N, T] and optionally lengths [N]")
    x, labels = arrays["x"], arrays["labels"]
    if x.ndim != 3 or not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
        raise PipelineError(f"{path}: array 'x' is {x.dtype} of shape {list(x.shape)}; it must be numbers, [N, T, D]")
    N, T, D = x.shape
    integral = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating) and np.isfinite(labels).all() and (labels == np.round(labels)).all())
    if labels.shape != (N, T) or not integral:
        raise PipelineError(f"{path}: array 'labels' is {labels.dtype} of shape {list(labels.shape)}; it must be "
                            f"whole numbers of shape {[N, T]} (-1 where unlabelled)")
    lengths = arrays.get("lengths", np.full(N, T))
    if lengths.shape != (N,) or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 1).any() or (lengths > T).any():
        raise PipelineError(f"{path}: array 'lengths' must be {N} whole numbers in [1, {T}] (the steps of each "
                            f"sequence); it is {lengths.dtype} of shape {list(lengths.shape)}")
    table = Table(str(path), "npz", [f"x[..., {d}]" for d in range(D)], "x", "labels")
    labels = labels.astype(np.int64)
    for i, n in enumerate(lengths.astype(int)):
        xi = x[i, :n].astype(np.float64)
        bad = np.argwhere(~np.isfinite(xi))
        if len(bad):
            t, d = map(int, bad[0])
            raise PipelineError(f"{path}: array 'x', sequence {i}, step {t}, feature {d} is "
                                f"{'NaN' if np.isnan(xi[t, d]) else 'infinite'}; every step needs finite values")
        low = np.flatnonzero(labels[i, :n] < -1)
        if len(low):
            raise PipelineError(f"{path}: array 'labels', sequence {i}, step {int(low[0])} is {labels[i, low[0]]}; "
                                f"a label is a class >= 0, or -1 where the step is unlabelled")
        table.ids.append(str(i))
        table.x.append(xi)
        table.labels.append(np.array([str(v) if v >= 0 else None for v in labels[i, :n]], dtype=object))
        table.rows.append(np.arange(n))
    return table


def read(path, cfg):
    """The sequences of `path` (its suffix names the format) as a Table."""
    path = Path(path)
    kind = FORMATS.get(path.suffix.lower())
    if kind is None:
        raise PipelineError(f"{path}: unknown format; sequences.path must end in {', '.join(FORMATS)}")
    if not path.is_file():
        raise PipelineError(f"{path}: not found (sequences.path in params.yaml); paths are relative to the "
                            f"repository root")
    table = read_npz(path) if kind == "npz" else read_long(path, kind, cfg)
    if not table.ids:
        raise PipelineError(f"{path}: holds no time step")
    return table


# --------------------------------------------------------------------------- preparation
def ordered(values):
    """Class names or sequence ids, sorted as numbers when every one is a whole number, else as text."""
    values = sorted(set(values))
    try:
        return sorted(values, key=int)
    except ValueError:
        return values


def window_starts(length, window, stride):
    return np.arange(0, length - window + 1, stride)


def cut(x, labels, window, stride):
    """Windows of one sequence: x [W, window, D], labels [W, window] and their first steps [W]."""
    starts = window_starts(len(x), window, stride)
    idx = starts[:, None] + np.arange(window)
    return x[idx], labels[idx], starts


def split(n, fraction, seed):
    """(training, validation) sequence indices: a seeded round(fraction * n) of the n sequences (at
    least one, and at least one left for training) are held out."""
    order = np.random.default_rng([seed, 17]).permutation(n)
    n_valid = min(n - 1, max(1, int(round(fraction * n))))
    return np.sort(order[n_valid:]), np.sort(order[:n_valid])


def _check_lengths(table, window):
    for i, x in enumerate(table.x):
        if len(x) < window:
            raise PipelineError(f"{table.start(i)}: sequence '{table.ids[i]}' has {len(x)} steps, fewer than a "
                                f"window of {window}; lower sequences.window in params.yaml, or drop the sequence")


def _check_labels(table, valid, classes):
    """Every validation label is a class of the training split."""
    known = set(classes)
    for i in valid:
        unseen = [t for t, v in enumerate(table.labels[i]) if v is not None and v not in known]
        if unseen:
            t = unseen[0]
            raise PipelineError(f"{table.where(i, t)}: label '{table.labels[i][t]}' is not seen in the training "
                                f"split (its classes: {', '.join(classes)}); relabel it, or change "
                                f"sequences.split_seed or valid_fraction so that a training sequence has it")


def prepare(cfg, path):
    """The prepared arrays of the sequences experiment (written to data/prepared/sequences.npz)."""
    table = read(path, cfg)
    window = cfg["window"]
    stride = cfg.get("stride") or window
    label = table.label_column
    _check_lengths(table, window)
    given = ordered(v for labels in table.labels for v in labels if v is not None)
    if len(given) < 2:
        raise PipelineError(f"{table.path}: column '{label}' labels {len(given)} class"
                            f"{'es' if len(given) != 1 else ''}{' (' + given[0] + ')' if given else ''} in the "
                            f"whole file; CWS needs at least two classes labelled")
    if len(table.ids) < 2:
        raise PipelineError(f"{table.start(0)}: the file holds one sequence ('{table.ids[0]}'); the split into "
                            f"training and validation is by sequence, so it needs at least two")
    train, valid = split(len(table.ids), cfg["valid_fraction"], cfg["split_seed"])
    classes = ordered(v for i in train for v in table.labels[i] if v is not None)
    _check_labels(table, valid, classes)
    code = {c: k for k, c in enumerate(classes)}
    encode = lambda labels: np.array([code.get(v, -1) if v is not None else -1 for v in labels], np.int64)  # noqa: E731
    rng = np.random.default_rng([cfg["split_seed"], 13])
    train_labels = {i: encode(table.labels[i]) for i in train}
    given_steps = int(sum((v >= 0).sum() for v in train_labels.values()))
    kept = {i: thin_annotations(v[:, None], cfg["supervision"], rng)[:, 0] for i, v in train_labels.items()}
    kept_steps = int(sum((v >= 0).sum() for v in kept.values()))
    labelled = sorted({int(c) for v in kept.values() for c in v[v >= 0]})
    if len(labelled) < 2:
        raise PipelineError(f"{table.path}: column '{label}': the training split keeps {len(labelled)} labelled "
                            f"class{'es' if len(labelled) != 1 else ''} at sequences.supervision = "
                            f"{cfg['supervision']} (of {len(classes)} classes); CWS needs at least two: raise "
                            f"sequences.supervision, or label more steps")
    steps = np.concatenate([table.x[i] for i in train])
    mean, std = steps.mean(0), steps.std(0)
    constant = [table.features[d] for d in np.flatnonzero(std == 0)]
    if constant:
        log.warning("%s: feature%s %s constant over the training split; left unscaled", table.path,
                    "s" * (len(constant) > 1), ", ".join(constant))
    std = np.where(std > 0, std, 1.0)
    out = {}
    for name, members, labels_of, step in (("train", train, kept, stride),
                                           ("valid", valid, {i: encode(table.labels[i]) for i in valid}, window)):
        parts = [cut((table.x[i] - mean) / std, labels_of[i], window, step) for i in members]
        out[f"x_{name}"] = np.concatenate([p[0] for p in parts]).astype(np.float32)
        out[f"labels_{name}"] = np.concatenate([p[1] for p in parts])
        out[f"window_sequence_{name}"] = np.concatenate([np.full(len(p[2]), i) for i, p in zip(members, parts)])
        out[f"window_start_{name}"] = np.concatenate([p[2] for p in parts])
        out[f"{name}_ids"] = np.array([table.ids[i] for i in members])
    full = {i: bool((v >= 0).all()) for i, v in kept.items()}          # the baseline's data, where there are any
    out["window_full_train"] = np.array([full[i] for i in out["window_sequence_train"]], dtype=bool)
    if not (out["labels_valid"] >= 0).any():
        raise PipelineError(f"{table.path}: column '{label}': no labelled step in the validation split (sequences "
                            f"{', '.join(out['valid_ids'])}), so nothing could score the classifiers; label some of "
                            f"their steps, or change sequences.split_seed or valid_fraction")
    counts = lambda labels: np.bincount(labels[labels >= 0], minlength=len(classes))  # noqa: E731
    log.info("%s: %d training sequences (%d windows, %d of %d labelled steps kept), %d validation sequences "
             "(%d windows), %d features, %d classes", table.path, len(train), len(out["x_train"]),
             kept_steps, given_steps, len(valid), len(out["x_valid"]),
             len(table.features), len(classes))
    return {**out, "mean": mean, "std": std, "features": np.array(table.features), "classes": np.array(classes),
            "source": np.array(str(path)), "format": np.array(table.kind), "label_column": np.array(label),
            "labelled_given": np.array(given_steps), "labelled_kept": np.array(kept_steps),
            "full_sequences": np.array(sum(full.values())),
            "train_steps": np.array(int(sum(len(table.x[i]) for i in train))),
            "valid_steps": np.array(int(sum(len(table.x[i]) for i in valid))),
            "class_counts_train": counts(out["labels_train"]), "class_counts_valid": counts(out["labels_valid"])}

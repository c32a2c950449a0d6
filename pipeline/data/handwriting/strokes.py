"""Steps and windows: steps from absolute points, fixed-length windows, standardisation, and
ink polylines for drawing."""
import numpy as np


def to_steps(points, pen, eoc):
    """[N, 4] float32 steps (dx, dy, pen, eoc) from absolute points; the first step is (0, 0)."""
    d = np.diff(points, axis=0, prepend=points[:1])
    return np.column_stack([d, pen, eoc]).astype(np.float32)


def cut_windows(x, seq_len, *per_step):
    """Consecutive windows of exactly `seq_len` steps (remainder dropped), each starting at (0, 0).

    Returns (x [n, T, 4], then each extra per-step array as [n, T])."""
    n = len(x) // seq_len
    xw = x[: n * seq_len].reshape(n, seq_len, x.shape[-1]).copy()
    xw[:, 0, :2] = 0
    return (xw, *(np.asarray(a)[: n * seq_len].reshape(n, seq_len) for a in per_step))


def standardise(x, mean, std):
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., :2] = (out[..., :2] - mean) / std
    return out


def destandardise(x, mean, std):
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., :2] = out[..., :2] * std + mean
    return out


def to_polylines(x, mean=None, std=None):
    """Ink of one sequence [T, >=3]: a list of (n, 2) arrays, split where the pen lifts."""
    x = np.asarray(x, dtype=np.float64)
    d = x[:, :2] * (1 if std is None else std) + (0 if mean is None else mean)
    points = np.cumsum(d, axis=0)
    cuts = np.flatnonzero(x[:, 2] > 0.5) + 1
    return [p for p in np.split(points, cuts) if len(p)]

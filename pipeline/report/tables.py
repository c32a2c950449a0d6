"""Summaries over seeds: mean and 95% t-interval, as pandas tables."""
import numpy as np
import pandas as pd
from scipy import stats

ACCURACY = (0.0, 1.0)   # the range an accuracy interval is clipped to


def mean_ci(values, level=0.95, bounds=None):
    """(mean, low, high) of a t-interval over seeds; a single value gives a zero-width interval.

    bounds=(lo, hi) clips the interval to the quantity's range (accuracies: (0, 1)).
    """
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    m = v.mean()
    if len(v) < 2:
        return (m, m, m)
    half = stats.t.ppf(0.5 + level / 2, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v))
    low, high = m - half, m + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (m, low, high)


def summarise(frame, by, columns, bounds=None):
    """One row per group: n and, per column, mean, ci_low, ci_high (see mean_ci for bounds)."""
    rows = []
    for key, group in frame.groupby(by, sort=False):
        row = {by: key, "n": len(group)}
        for col in columns:
            row[col], row[f"{col}_low"], row[f"{col}_high"] = mean_ci(group[col], bounds=bounds)
        rows.append(row)
    return pd.DataFrame(rows)


def fmt_col(row, col, scale=1.0, digits=1):
    """fmt of one column of a summarise() row: its mean, col_low and col_high."""
    return fmt(row[col], row[col + "_low"], row[col + "_high"], scale, digits)


def fmt(mean, low, high, scale=1.0, digits=1):
    """'85.2 [83.1, 87.3]' (values multiplied by scale)."""
    if not np.isfinite(mean):
        return "n/a"
    if low == high:
        return f"{mean * scale:.{digits}f}"
    return f"{mean * scale:.{digits}f} [{low * scale:.{digits}f}, {high * scale:.{digits}f}]"

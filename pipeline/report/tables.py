"""Summaries over seeds as pandas tables (mean and 95% t-interval: pipeline.stats), and their formatting."""
import numpy as np
import pandas as pd

from pipeline.stats import t_interval

ACCURACY = (0.0, 1.0)   # the range an accuracy interval is clipped to


def summarise(frame, by, columns, bounds=None):
    """One row per group: n and, per column, mean, ci_low, ci_high (stats.t_interval; bounds clip it)."""
    rows = []
    for key, group in frame.groupby(by, sort=False):
        row = {by: key, "n": len(group)}
        for col in columns:
            row[col], row[f"{col}_low"], row[f"{col}_high"] = t_interval(group[col], bounds=bounds)
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

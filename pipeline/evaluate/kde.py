"""Gaussian kernel density scores of sampled fly positions (paper Table 1, Fig. 6): numpy only, so
report code may use them.  Per step and fly, a KDE of the K sampled positions scores the true one.

The paper gives no bandwidth.  Three rules are computed:
  Scott     per model, per step: n^(-1/6) times each coordinate's sample deviation (concentrated
            samples get narrow kernels, so the rule itself can decide a ranking)
  fixed     the same bandwidth (mm) for every model: FIXED_MM
  shared    one bandwidth for every model, chosen from GRID_MM on validation windows only
            (select_bandwidth), then used on the test windows: the rule the verdicts use
"""
import math

import numpy as np

FIXED_MM = (0.5, 1.0, 2.0, 4.0)
GRID_MM = tuple(round(0.25 * 2 ** (i / 2), 3) for i in range(11))     # 0.25 ... 8 mm in steps of sqrt(2)


def scott_bandwidth(samples, floor):
    """Per-dimension bandwidth n^(-1/(d+4)) * std (Scott's rule), never below `floor`."""
    n, d = samples.shape[-2:]
    return np.maximum(samples.std(axis=-2, ddof=1) * n ** (-1.0 / (d + 4)), floor)


def kde_log_density(samples, points, floor=0.05, bandwidth=None):
    """log of a Gaussian KDE (diagonal) of samples [..., n, d] at points [..., d]: Scott's rule, or
    the given bandwidth in every dimension."""
    if bandwidth is None:
        h = scott_bandwidth(samples, floor)[..., None, :]
    else:
        h = np.full(samples.shape[:-2] + (1, samples.shape[-1]), float(bandwidth))
    z = (points[..., None, :] - samples) / h
    log_k = -0.5 * (z ** 2).sum(-1) - np.log(h).sum(-1) - 0.5 * samples.shape[-1] * math.log(2 * math.pi)
    return np.logaddexp.reduce(log_k, axis=-1) - math.log(samples.shape[-2])


def kde_scores(positions, truth, floor=0.05, bandwidth=None):
    """Per step and fly, log KDE density of the true position: positions [K, H, 2, 2], truth [H, 2, 2] -> [H, 2]."""
    samples = np.moveaxis(np.asarray(positions, np.float64), 0, -2)      # [H, 2, K, 2]
    return kde_log_density(samples, np.asarray(truth, np.float64), floor, bandwidth)


def window_totals(positions, truths, floor=0.05, bandwidth=None):
    """Per window and fly, the log density summed over the horizon: positions [n, K, H, 2, 2],
    truths [n, H, 2, 2] -> [n, 2] (a Table 1 entry is its mean over windows)."""
    return np.stack([kde_scores(p, t, floor, bandwidth).sum(0) for p, t in zip(positions, truths)])


def select_bandwidth(valid_totals):
    """The shared bandwidth: the grid value with the highest total validation log density,
    {bandwidth: total over models, seeds, windows and flies} -> bandwidth.  Test windows never enter."""
    return max(sorted(valid_totals), key=lambda h: valid_totals[h])


def effective_sample_size(log_w):
    """Kish's effective sample size of each column's normalised weights: [K, B] -> [B], in 1..K."""
    w = np.exp(log_w - log_w.max(0, keepdims=True))
    return w.sum(0) ** 2 / (w ** 2).sum(0)


def shared_bandwidth_scores(valid_grids, test, floor=0.05):
    """Table 1 under one bandwidth for every model, chosen before the test windows are scored.

    valid_grids: {run: {bandwidth: total validation log density}}; test: {run: (positions, truth)}
    of the test windows.  The bandwidth is chosen from the validation totals summed over runs;
    only then are the test continuations scored with it."""
    grid = {h: sum(float(g[h]) for g in valid_grids.values()) for h in next(iter(valid_grids.values()))}
    h = select_bandwidth(grid)
    runs = {}
    for run, (positions, truth) in test.items():
        totals = window_totals(positions, truth, floor, float(h)).mean(0)
        runs[run] = {"kde_fly1": float(totals[0]), "kde_fly2": float(totals[1])}
    return {"bandwidth_mm": float(h), "valid_total_by_bandwidth": grid, "runs": runs}

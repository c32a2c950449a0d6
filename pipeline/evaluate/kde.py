"""Gaussian kernel density scores of sampled fly positions (paper Table 1, Fig. 6): numpy only, so
report code may use them.  Per step and fly, a KDE of the K sampled positions scores the true one."""
import math

import numpy as np


def scott_bandwidth(samples, floor):
    """Per-dimension bandwidth n^(-1/(d+4)) * std (Scott's rule), never below `floor`."""
    n, d = samples.shape[-2:]
    return np.maximum(samples.std(axis=-2, ddof=1) * n ** (-1.0 / (d + 4)), floor)


def kde_log_density(samples, points, floor=0.05):
    """log of a Gaussian KDE (diagonal, Scott's rule) of samples [..., n, d] at points [..., d]."""
    h = scott_bandwidth(samples, floor)[..., None, :]
    z = (points[..., None, :] - samples) / h
    log_k = -0.5 * (z ** 2).sum(-1) - np.log(h).sum(-1) - 0.5 * samples.shape[-1] * math.log(2 * math.pi)
    return np.logaddexp.reduce(log_k, axis=-1) - math.log(samples.shape[-2])


def kde_scores(positions, truth, floor=0.05):
    """Per step and fly, log KDE density of the true position: positions [K, H, 2, 2], truth [H, 2, 2] -> [H, 2]."""
    samples = np.moveaxis(np.asarray(positions, np.float64), 0, -2)      # [H, 2, K, 2]
    return kde_log_density(samples, np.asarray(truth, np.float64), floor)

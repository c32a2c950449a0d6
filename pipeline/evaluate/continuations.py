"""Closed-loop continuations of fly tracks and their KDE score (paper Table 1, Fig. 5b, Fig. 6).

A model is conditioned on a true seed sequence of both flies, then K continuations are sampled
step by step: each fly's sampled motion is integrated into its pose, and both flies' vision and
own state are recomputed from the sampled poses before the next step.  Per step and fly, a
Gaussian KDE of the K sampled positions scores the true position.
"""
import math

import numpy as np
import torch

from pipeline.data import flies


def model_inputs(pose, radius, stats):
    """Per-fly model inputs u [..., 2, 148] from poses [..., 2, S]: vision (other fly, wall; 72 bins
    each) and the standardised own state."""
    vision = flies.vision_encoding(pose, radius)
    state = (flies.own_state(pose, radius) - stats["state_mean"]) / stats["state_std"]
    return torch.cat([vision.flatten(-2), state], -1) if torch.is_tensor(pose) else \
        np.concatenate([vision.reshape(*vision.shape[:-2], -1), state], -1)


def resample(state, log_w, generator):
    """Draw K particles per sequence in proportion to their weights; state rows are k * B + b."""
    K, B = log_w.shape
    picks = torch.multinomial(torch.softmax(log_w.T, -1), K, replacement=True, generator=generator)  # [B, K]
    rows = (picks.T * B + torch.arange(B, device=log_w.device)).reshape(-1)
    return tuple(s[rows] for s in state)


@torch.no_grad()
def continue_tracks(model, seed_motion, seed_u, start_pose, horizon, K, radius, fps, stats, generator):
    """K continuations of `horizon` steps after a seed.

    seed_motion [2, T0, D] and seed_u [2, T0, U]: the two flies' standardised seed sequences;
    start_pose [2, S]: both flies' pose after the seed.  Returns positions [K, horizon, 2, 2].
    """
    device = seed_motion.device
    batch = {"x": seed_motion, "u": seed_u}
    state, log_w = model.condition(batch, K)
    state = resample(state, log_w, generator)
    pose = start_pose.expand(K, -1, -1).clone()
    mean, std = torch.as_tensor(stats["motion_mean"], device=device), torch.as_tensor(stats["motion_std"], device=device)
    tstats = {k: torch.as_tensor(v, device=device) for k, v in stats.items()}
    out = torch.empty(K, horizon, 2, 2, device=device)
    for t in range(horizon):
        u = model_inputs(pose, radius, tstats).reshape(K * 2, -1)
        x_t, _, state = model.step_prior(state, u)
        motion = (x_t * std + mean).view(K, 2, -1)
        pose = flies.integrate(pose, motion, radius, fps)
        out[:, t] = pose[..., :2]
    return out


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

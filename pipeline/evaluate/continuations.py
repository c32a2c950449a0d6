"""Closed-loop continuations of fly tracks and their KDE score (paper Table 1, Fig. 5b, Fig. 6).

A model is conditioned on a true seed sequence of both flies, then K continuations are sampled
step by step: each fly's sampled motion is integrated into its pose, and both flies' vision and
own state are recomputed from the sampled poses before the next step.  kde.py scores them.
"""
from typing import NamedTuple

import torch

from pipeline.data.fly_geometry import integrate, model_inputs
from pipeline.evaluate.particles import resample
from pipeline.objectives import kish_ess


class Seed(NamedTuple):
    """W windows' true seeds: motion [2W, T0, D] and inputs u [2W, T0, U], each window's two flies in rows
    2w, 2w + 1 (standardised), and both flies' pose after the seed, pose [W, 2, S]."""
    motion: torch.Tensor
    u: torch.Tensor
    pose: torch.Tensor


class Arena(NamedTuple):
    """The dish: its radius (a number or one per window [W]), frames per second, and the
    standardisation statistics of motion and own state."""
    radius: object
    fps: float
    stats: dict


@torch.no_grad()
def condition_by_filter(model, batch, K, chunk, generator):
    """A particle filter over the seed: the seed is cut into chunks of `chunk` steps, and after each
    the K particles are resampled by their weights over that chunk (sequential importance
    resampling; the proposal is the one-shot conditioning's, with q(y) reading the whole seed's
    BiLSTM features).  Returns the resampled final state and the effective sample size of the
    weights at each resampling, [chunks, B].  With chunk >= the seed's length it is the one-shot
    conditioning followed by one resampling."""
    x, u = batch["x"], batch.get("u")
    features = model.y_features(x, u) if getattr(model, "n_classes", 0) else None
    state, ess = None, []
    for start in range(0, x.shape[1], chunk):
        part = {"x": x[:, start:start + chunk], "u": None if u is None else u[:, start:start + chunk],
                "y_features": None if features is None else features[:, start:start + chunk]}
        state, log_w = model.condition(part, K, state)
        ess.append(kish_ess(log_w))
        state = resample(state, log_w, generator)
    return state, torch.stack(ess)


@torch.no_grad()
def continue_tracks(model, seed, arena, horizon, K, generator, filter_chunk=0):
    """K continuations of `horizon` steps after the seeds of W windows (a Seed), all windows at once,
    in their arenas (an Arena).  The particles are conditioned on the seed at once and
    resampled at its end, or, with filter_chunk > 0 and a model with latent variables, by a particle
    filter resampling every filter_chunk steps (condition_by_filter).  Returns positions
    [K, horizon, W, 2, 2] and the effective sample size of the weights at each resampling, [R, 2W]
    (R = 1 for the one-shot conditioning).
    """
    (seed_motion, seed_u, start_pose), (radius, fps, stats) = seed, arena
    device = seed_motion.device
    W = start_pose.shape[0]
    batch = {"x": seed_motion, "u": seed_u}
    if filter_chunk and hasattr(model, "z_dim"):      # a deterministic model has no weights to resample by
        state, ess = condition_by_filter(model, batch, K, filter_chunk, generator)
    else:
        state, log_w = model.condition(batch, K)
        state, ess = resample(state, log_w, generator), kish_ess(log_w)[None]
    pose = start_pose.expand(K, -1, -1, -1).clone()                 # [K, W, 2, S]: rows k * 2W + 2w + fly
    radius = torch.as_tensor(radius, dtype=pose.dtype, device=device)
    mean, std = torch.as_tensor(stats["motion_mean"], device=device), torch.as_tensor(stats["motion_std"], device=device)
    tstats = {k: torch.as_tensor(v, device=device) for k, v in stats.items()}
    out = torch.empty(K, horizon, W, 2, 2, device=device)
    for t in range(horizon):
        u = model_inputs(pose, radius, tstats).reshape(K * 2 * W, -1)
        x_t, _, state = model.step_prior(state, u)
        motion = (x_t * std + mean).view(K, W, 2, -1)
        pose = integrate(pose, motion, radius, fps)
        out[:, t] = pose[..., :2]
    return out, ess


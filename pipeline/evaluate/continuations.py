"""Closed-loop continuations of fly tracks and their KDE score (paper Table 1, Fig. 5b, Fig. 6).

A model is conditioned on a true seed sequence of both flies, then K continuations are sampled
step by step: each fly's sampled motion is integrated into its pose, and both flies' vision and
own state are recomputed from the sampled poses before the next step.  kde.py scores them.
"""
import torch

from pipeline.data.fly_geometry import integrate, model_inputs


def resample(state, log_w, generator):
    """Draw K particles per sequence in proportion to their weights; state rows are k * B + b."""
    K, B = log_w.shape
    picks = torch.multinomial(torch.softmax(log_w.T, -1), K, replacement=True, generator=generator)  # [B, K]
    rows = (picks.T * B + torch.arange(B, device=log_w.device)).reshape(-1)
    return tuple(s[rows] for s in state)


@torch.no_grad()
def continue_tracks(model, seed_motion, seed_u, start_pose, horizon, K, radius, fps, stats, generator):
    """K continuations of `horizon` steps after the seeds of W windows, all windows at once.

    seed_motion [2W, T0, D] and seed_u [2W, T0, U]: each window's two flies' standardised seed
    sequences (rows 2w, 2w + 1); start_pose [W, 2, S]: both flies' pose after the seed; radius: the
    arena's, a number or one per window [W].  Returns positions [K, horizon, W, 2, 2] and the
    particles' log-weights after the seed [K, 2W] (from which they were resampled).
    """
    device = seed_motion.device
    W = start_pose.shape[0]
    batch = {"x": seed_motion, "u": seed_u}
    state, log_w = model.condition(batch, K)
    state = resample(state, log_w, generator)
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
    return out, log_w

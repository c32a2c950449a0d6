"""Particles of a sequence model: resampling by weight and closed-loop
continuations of sequences without per-step inputs (the sequences experiment; the flies' continuations,
whose inputs are recomputed from the sampled poses, are in continuations.py)."""
import torch

from pipeline.objectives import kish_ess


def resample(state, log_w, generator):
    """Draw K particles per sequence in proportion to their weights; state rows are k * B + b."""
    K, B = log_w.shape
    picks = torch.multinomial(torch.softmax(log_w.T, -1), K, replacement=True, generator=generator)  # [B, K]
    rows = (picks.T * B + torch.arange(B, device=log_w.device)).reshape(-1)
    return tuple(s[rows] for s in state)


@torch.no_grad()
def continue_sequences(model, seed_x, horizon, K, generator):
    """K continuations of `horizon` steps after each of B seed segments seed_x [B, T0, D] of a model
    without per-step inputs: the particles are conditioned on the seed at once and resampled at its
    end, then the generative model runs in closed loop (each sampled x_t feeds step t + 1).
    Returns samples [B, K, horizon, D] and the effective sample size of the weights at the seed's end [B]."""
    B, D = seed_x.shape[0], seed_x.shape[-1]
    state, log_w = model.condition({"x": seed_x}, K)
    state = resample(state, log_w, generator)
    w = model.split_weights()
    steps = []
    for _ in range(horizon):
        x_t, _, state = model.step_prior(state, w=w)
        steps.append(x_t.view(K, B, D))
    return torch.stack(steps, 2).transpose(0, 1), kish_ess(log_w)

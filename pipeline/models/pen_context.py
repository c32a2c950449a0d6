"""Pen context: where the pen is within the character it is writing, as per-step inputs u_t of the DVRNN.

u_t is a fixed function of the strokes before step t: the pen's displacement since the current
character began (the step after the last end-of-character flag, or the window's first step) and
the number of steps since then,

    u_t = (sum_{s=b_t}^{t-1} dx_s, sum_{s=b_t}^{t-1} dy_s, t - b_t) / SCALE,    b_t = 1 + last s < t with eoc_s = 1

in the standardised units of x.  It is a summary of x_{<t}, like h_{t-1}, so the model's factorisation
(paper eq. 5) is unchanged: p(x_t | z_t, y_t, h_{t-1}) becomes p(x_t | z_t, y_t, h_{t-1}, u_t), with u_t
computed exactly instead of learnt by the LSTM.  It departs from the paper's and Deep-Writing's
networks, which leave that sum to the recurrence: with the small default model, free-running
generation loses its place within a letter within a few steps (docs/tuning.md), and a pen that
knows where it is within the glyph can steer back.  Training computes u from the data
(`pen_context`); generation tracks it from the model's own strokes (`PenTracker`).
"""
import torch

SCALE = 10.0
DIM = 3


def pen_context(x):
    """u [..., T, 3] from strokes x [..., T, 4] (numpy or torch; returns the same kind, float32)."""
    as_numpy = not torch.is_tensor(x)
    x = torch.as_tensor(x, dtype=torch.float32)
    T = x.shape[-2]
    steps = torch.arange(T, device=x.device).expand(x.shape[:-1])
    ends = torch.where(x[..., 3] > 0.5, steps, -1)                          # eoc steps, else -1
    last_end = torch.cat([torch.full_like(ends[..., :1], -1), ends[..., :-1].cummax(-1).values], -1)  # before t
    total = torch.cat([torch.zeros_like(x[..., :1, :2]), x[..., :-1, :2].cumsum(-2)], -2)  # sum_{s<t} d_s
    since = total - torch.gather(total, -2, (last_end + 1)[..., None].expand(*last_end.shape, 2))
    u = torch.cat([since, (steps - last_end - 1)[..., None].to(x.dtype)], -1) / SCALE
    return u.numpy() if as_numpy else u


class PenTracker:
    """pen_context one step at a time, for n strokes being generated."""

    def __init__(self, n, device="cpu"):
        self.since = torch.zeros(n, 2, device=device)
        self.steps = torch.zeros(n, 1, device=device)

    def features(self):
        """u_t [n, 3] for the step about to be written."""
        return torch.cat([self.since, self.steps], -1) / SCALE

    def update(self, x_t):
        """Record the written step x_t [n, 4]."""
        ended = x_t[:, 3:4] > 0.5
        self.since = torch.where(ended, 0.0, self.since + x_t[:, :2])
        self.steps = torch.where(ended, 0.0, self.steps + 1)

"""A model small enough to enumerate: y in {0..C-1}, z in R, x in R.

p(y) = softmax(pi),  p(z) = N(0, 1),  p(x | y, z) = N(a_y + b z, s^2)
q(y | x) = softmax(logits),  q(z | x, y) = N(m_y, exp(log_sd_y))
With q_reads_theta, q(y | x) = softmax(logits + 0.7 a): q depends on the generative parameters, as
a sequence model's q(y_t) does through the recurrent state h_{t-1}.

Closed forms: p(x | y) = N(a_y, b^2 + s^2); p(z | x, y) = N(v b (x - a_y) / s^2, v), v = 1 / (1 + b^2 / s^2).
"""
import math

import torch
from torch import nn
from torch.distributions import Categorical, Normal

import pipeline.models  # noqa: F401  (argument validation off, as for every model)
from pipeline.objectives import Trace


class Tiny(nn.Module):
    def __init__(self, C=3, seed=0, q_reads_theta=False):
        super().__init__()
        self.q_reads_theta = q_reads_theta
        g = torch.Generator().manual_seed(seed)
        r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
        self.pi = nn.Parameter(r(C) * 0.5)
        self.a = nn.Parameter(r(C) * 2.0)
        self.b = nn.Parameter(torch.tensor(1.3, dtype=torch.float64))
        self.log_s = nn.Parameter(torch.tensor(-0.2, dtype=torch.float64))
        self.logits = nn.Parameter(r(C))
        self.m = nn.Parameter(r(C))
        self.log_sd = nn.Parameter(r(C) * 0.3)

    def parameter_groups(self):
        return {"theta": [self.pi, self.a, self.b, self.log_s],
                "phi_z": [self.m, self.log_sd], "phi_y": [self.logits]}

    # exact quantities ---------------------------------------------------------------
    def log_px_given_y(self, x):
        s2 = torch.exp(2 * self.log_s)
        return Normal(self.a, torch.sqrt(self.b ** 2 + s2)).log_prob(torch.as_tensor(x, dtype=torch.float64))

    def log_joint_y(self, x):
        """log p(x, y) for every y, [C]."""
        return torch.log_softmax(self.pi, 0) + self.log_px_given_y(x)

    def log_evidence(self, x):
        return torch.logsumexp(self.log_joint_y(x), 0)

    def posterior_y(self, x):
        return torch.softmax(self.log_joint_y(x), 0)

    def posterior_z(self, x):
        """(mean [C], sd) of p(z | x, y) for every y."""
        s2 = torch.exp(2 * self.log_s)
        v = 1.0 / (1.0 + self.b ** 2 / s2)
        return v * self.b * (x - self.a) / s2, torch.sqrt(v)

    def set_q_to_posterior(self, x, z_only=False):
        with torch.no_grad():
            mean, sd = self.posterior_z(x)
            self.m.copy_(mean)
            self.log_sd.copy_(torch.log(sd).expand_as(self.log_sd))
            if not z_only:
                self.logits.copy_(torch.log(self.posterior_y(x)))

    # the trace ----------------------------------------------------------------------
    def forward(self, batch, K, enumerate_y=False):
        x, labels, mask = batch["x"], batch["labels"][:, 0], batch["mask"][:, 0]
        B = x.shape[0]
        q_y = Categorical(logits=self.logits + 0.7 * self.a if self.q_reads_theta else self.logits)
        y = torch.arange(K)[:, None].expand(K, B) if enumerate_y else q_y.sample((K, B))
        y = torch.where(mask, labels, y)
        q_z = Normal(self.m[y], torch.exp(self.log_sd[y]))
        z = q_z.rsample()
        s = torch.exp(self.log_s)
        log_px = Normal(self.a[y] + self.b * z, s).log_prob(x)
        col = lambda t: t[..., None]  # noqa: E731
        return Trace(log_px=col(log_px), log_pz=col(Normal(0.0, 1.0).log_prob(z)),
                     log_py=col(torch.log_softmax(self.pi, 0)[y]), log_qz=col(q_z.log_prob(z)),
                     log_qy=col(q_y.log_prob(y)), y=col(y), z=col(z))


def batch(x, B, labels=None):
    """B copies of the scalar observation x; labels (list of int or None per copy)."""
    lab = torch.tensor([-1 if l is None else l for l in (labels or [None] * B)])
    return {"x": torch.full((B,), float(x), dtype=torch.float64), "labels": lab[:, None],
            "mask": (lab >= 0)[:, None]}


def log_mean_exp(t, dim=0):
    return torch.logsumexp(t, dim) - math.log(t.shape[dim])


class TinyChain(nn.Module):
    """Two steps, small enough to enumerate: y_t in {0..C-1}, x_t in R, no z.

    p(y_1) = softmax(pi), p(y_2 | y_1) = softmax(trans[y_1]), p(x_t | y_t) = N(mu_{y_t}, 1);
    q(y_1 | x) = softmax(q1), q(y_2 | x, y_1) = softmax(q2 + reads * w[y_1]): with `reads_history`
    q(y_2) reads the particle's own y_1, as the DVRNN's q(y_t) reads the particle's state h_{t-1}."""

    def __init__(self, C=3, seed=0, reads_history=False):
        super().__init__()
        self.reads = 1.0 if reads_history else 0.0
        g = torch.Generator().manual_seed(seed)
        r = lambda *s: torch.randn(*s, generator=g, dtype=torch.float64)  # noqa: E731
        self.pi, self.trans, self.mu = nn.Parameter(r(C) * 0.5), nn.Parameter(r(C, C)), nn.Parameter(r(C) * 1.5)
        self.q1, self.q2, self.w = nn.Parameter(r(C)), nn.Parameter(r(C)), nn.Parameter(r(C, C))

    def phi(self):
        return [self.q1, self.q2, self.w]

    def _q2(self, y1):
        return torch.log_softmax(self.q2 + self.reads * self.w[y1], -1)

    def log_joint(self, x, y1, y2):
        """log p(x_1, x_2, y_1, y_2) and log q(y_1, y_2 | x) per step: ([..., 2], [..., 2])."""
        log_p = torch.stack([torch.log_softmax(self.pi, 0)[y1] + Normal(self.mu[y1], 1.0).log_prob(x[0]),
                             torch.log_softmax(self.trans[y1], -1).gather(-1, y2[..., None])[..., 0]
                             + Normal(self.mu[y2], 1.0).log_prob(x[1])], -1)
        log_q = torch.stack([torch.log_softmax(self.q1, 0)[y1], self._q2(y1).gather(-1, y2[..., None])[..., 0]], -1)
        return log_p, log_q

    def exact_elbo(self, x):
        """sum over (y_1, y_2) of q(y | x) [log p(x, y) - log q(y | x)], by enumeration."""
        C = len(self.pi)
        y1, y2 = torch.meshgrid(torch.arange(C), torch.arange(C), indexing="ij")
        log_p, log_q = self.log_joint(x, y1.reshape(-1), y2.reshape(-1))
        return (log_q.sum(-1).exp() * (log_p - log_q).sum(-1)).sum()

    def forward(self, x, labels, K):
        """A Trace [K, B, 2] for B copies of x with labels [B, 2] (-1: sample y_t from q)."""
        B = labels.shape[0]
        y1 = Categorical(logits=self.q1).sample((K, B))
        y1 = torch.where(labels[:, 0] >= 0, labels[:, 0], y1)
        y2 = Categorical(logits=self._q2(y1)).sample()
        y2 = torch.where(labels[:, 1] >= 0, labels[:, 1], y2)
        log_p, log_q = self.log_joint(x, y1, y2)
        zero = torch.zeros_like(log_p)
        return Trace(log_px=log_p, log_pz=zero, log_py=zero, log_qz=zero, log_qy=log_q, y=torch.stack([y1, y2], -1))

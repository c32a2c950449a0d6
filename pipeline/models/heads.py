"""Emission distributions p(x_t | ...) of the sequential models, built from one network output."""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Independent, MixtureSameFamily, Normal


class StrokeHead(nn.Module):
    """x_t = (dx, dy, pen, eoc): a mixture of M bivariate Gaussians for (dx, dy) with correlation,
    and Bernoullis for pen-up and end-of-character (as in Deep-Writing / Graves 2013).
    Densities are written out in closed form: torch's batched 2x2 solves are slow on CPU."""

    def __init__(self, in_dim, mixture=3):
        super().__init__()
        self.m = mixture
        self.out = nn.Linear(in_dim, mixture * 6 + 2)

    def params(self, features):
        p = self.out(features)
        m = self.m
        log_pi = torch.log_softmax(p[..., :m], -1)
        mu = p[..., m:3 * m].unflatten(-1, (m, 2))
        sd = F.softplus(p[..., 3 * m:5 * m]).unflatten(-1, (m, 2)) + 1e-3
        rho = 0.95 * torch.tanh(p[..., 5 * m:6 * m])
        return log_pi, mu, sd, rho, p[..., 6 * m:]

    def log_prob(self, features, x):
        log_pi, mu, sd, rho, flag_logits = self.params(features)
        u = (x[..., None, :2] - mu) / sd                                   # [..., M, 2]
        one_minus = 1 - rho ** 2
        quad = (u[..., 0] ** 2 + u[..., 1] ** 2 - 2 * rho * u[..., 0] * u[..., 1]) / one_minus
        log_n = -math.log(2 * math.pi) - sd.log().sum(-1) - 0.5 * one_minus.log() - 0.5 * quad
        flags = -F.binary_cross_entropy_with_logits(flag_logits, x[..., 2:4], reduction="none").sum(-1)
        return torch.logsumexp(log_pi + log_n, -1) + flags

    def sample(self, features):
        log_pi, mu, sd, rho, flag_logits = self.params(features)
        k = torch.distributions.Categorical(logits=log_pi).sample()[..., None]
        pick = lambda a: torch.gather(a, -1, k)[..., 0]                     # noqa: E731
        mu1, mu2 = pick(mu[..., 0]), pick(mu[..., 1])
        s1, s2, r = pick(sd[..., 0]), pick(sd[..., 1]), pick(rho)
        e1, e2 = torch.randn_like(mu1), torch.randn_like(mu1)
        dx, dy = mu1 + s1 * e1, mu2 + s2 * (r * e1 + torch.sqrt(1 - r ** 2) * e2)
        flags = torch.bernoulli(torch.sigmoid(flag_logits))
        return torch.cat([dx[..., None], dy[..., None], flags], -1)

    def mode(self, features, params=None):
        """The mean of the most probable component, and each pen flag where it is more likely than not.
        params: self.params(features), when the caller has them."""
        log_pi, mu, _, _, flag_logits = params or self.params(features)
        k = log_pi.argmax(-1)[..., None, None].expand(*mu.shape[:-2], 1, 2)
        return torch.cat([torch.gather(mu, -2, k)[..., 0, :], (flag_logits > 0).to(mu.dtype)], -1)


class GaussianHead(nn.Module):
    """x_t in R^D: a mixture of M diagonal Gaussians (M = 1: one Gaussian)."""

    def __init__(self, in_dim, x_dim, mixture=1):
        super().__init__()
        self.m, self.d = mixture, x_dim
        self.out = nn.Linear(in_dim, mixture * (1 + 2 * x_dim))

    def distribution(self, features):
        p = self.out(features)
        m, d = self.m, self.d
        logits = p[..., :m]
        mu = p[..., m:m + m * d].unflatten(-1, (m, d))
        sd = F.softplus(p[..., m + m * d:]).unflatten(-1, (m, d)) + 1e-3
        return MixtureSameFamily(Categorical(logits=logits), Independent(Normal(mu, sd), 1))

    def log_prob(self, features, x):
        return self.distribution(features).log_prob(x)

    def sample(self, features):
        return self.distribution(features).sample()


class BinnedHead(nn.Module):
    """x_t in R^D, each dimension discretised into bins and predicted by its own categorical
    (the RNN of Eyjolfsdottir et al. 2016).  Log-probabilities are of the bins (discrete)."""

    def __init__(self, in_dim, edges):
        super().__init__()
        self.register_buffer("edges", edges)                 # [D, n_bins + 1], increasing
        self.d, self.n = edges.shape[0], edges.shape[1] - 1
        self.out = nn.Linear(in_dim, self.d * self.n)

    def bins(self, x):
        inner = self.edges[:, 1:-1].contiguous()
        return torch.stack([torch.bucketize(x[..., i].contiguous(), inner[i]) for i in range(self.d)], -1)

    def distribution(self, features):
        return Categorical(logits=self.out(features).unflatten(-1, (self.d, self.n)))

    def log_prob(self, features, x):
        return self.distribution(features).log_prob(self.bins(x)).sum(-1)

    def sample(self, features):
        """A bin per dimension, then a uniform value inside it."""
        b = self.distribution(features).sample()
        low = torch.gather(self.edges[:, :-1].expand(*b.shape[:-1], -1, -1), -1, b[..., None])[..., 0]
        high = torch.gather(self.edges[:, 1:].expand(*b.shape[:-1], -1, -1), -1, b[..., None])[..., 0]
        return low + (high - low) * torch.rand_like(low)

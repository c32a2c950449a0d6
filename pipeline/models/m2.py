"""M2 of Kingma et al. (2014): p(x | y, z) p(y) p(z) with q(y | x) q(z | x, y).

Sizes follow the paper's MNIST setup (one hidden layer of 500 softplus units, 50-dim z);
the profile may shrink them.  Particles are a leading batch dimension: every network runs
once on [K, B, ...] tensors.
"""
import math

import torch
from torch import nn
from torch.distributions import Categorical, Normal
import torch.nn.functional as F

from pipeline.models.layers import mlp
from pipeline.objectives import Trace


class M2(nn.Module):
    def __init__(self, x_dim=784, n_classes=10, z_dim=50, hidden=500):
        super().__init__()
        self.n_classes, self.z_dim = n_classes, z_dim
        self.decoder = mlp([z_dim + n_classes, hidden, x_dim])          # theta
        # phi_z: q(z | x, y) = MLP([x, onehot(y)]), its first layer split so that the x part runs
        # once per example rather than once per particle
        self.encoder_x = nn.Linear(x_dim, hidden)
        self.encoder_y = nn.Linear(n_classes, hidden, bias=False)
        self.encoder_z = nn.Sequential(nn.Softplus(), nn.Linear(hidden, 2 * z_dim))
        self.classifier = mlp([x_dim, hidden, n_classes])               # phi_y

    def parameter_groups(self):
        return {"theta": list(self.decoder.parameters()),
                "phi_z": [*self.encoder_x.parameters(), *self.encoder_y.parameters(), *self.encoder_z.parameters()],
                "phi_y": list(self.classifier.parameters())}

    def class_logits(self, x):
        """Logits of q(y | x), [B, n_classes]."""
        return self.classifier(x)

    def q_z(self, x, y):
        """q(z | x, y) for x [..., D] and y [...] (long)."""
        onehot = F.one_hot(y, self.n_classes).to(x.dtype)
        loc, raw_scale = self.encoder_z(self.encoder_x(x) + self.encoder_y(onehot)).chunk(2, -1)
        return Normal(loc, F.softplus(raw_scale) + 1e-4)

    def p_x(self, z, y):
        """p(x | y, z): independent Bernoullis over pixels (grey levels as soft targets)."""
        onehot = F.one_hot(y, self.n_classes).to(z.dtype)
        return self.decoder(torch.cat([z, onehot], -1))

    def _sample_z(self, x, y):
        """z ~ q(z | x, y) (reparameterised) and its densities: (log p(x | y, z), log p(z), log q(z | x, y), z)."""
        z_dist = self.q_z(x, y)
        z = z_dist.rsample()
        logits_x = self.p_x(z, y)
        log_px = -F.binary_cross_entropy_with_logits(logits_x, x.expand_as(logits_x), reduction="none").sum(-1)
        return log_px, Normal(0.0, 1.0).log_prob(z).sum(-1), z_dist.log_prob(z).sum(-1), z

    def forward(self, batch, K, enumerate_y=False):
        """Trace for a batch {x [B, D], labels [B, 1], mask [B, 1]} with K particles (T = 1).

        enumerate_y: particle k of an unlabelled example takes y = k (K must equal the number
        of classes), which turns the particle average into the exact sum over y.  "both": K sampled
        particles followed by n_classes enumerated ones (objectives.split_particles cuts them apart).
        """
        if enumerate_y == "both":
            sampled, enumerated = self(batch, K), self(batch, self.n_classes, enumerate_y=True)
            return Trace(**{f: torch.cat([getattr(sampled, f), getattr(enumerated, f)]) for f in
                            ("log_px", "log_pz", "log_py", "log_qz", "log_qy", "y", "z")})
        x, labels, mask = batch["x"], batch["labels"], batch["mask"]
        logits = self.class_logits(x)
        q_y = Categorical(logits=logits)
        if enumerate_y:
            assert K == self.n_classes
            y = torch.arange(K, device=x.device)[:, None].expand(K, x.shape[0])
        else:
            y = q_y.sample((K,))
        y = torch.where(mask[:, 0], labels[:, 0], y)                     # teacher forcing
        log_px, log_pz, log_qz, z = self._sample_z(x, y)
        log_py = torch.full_like(log_px, -math.log(self.n_classes))
        return Trace(log_px=log_px[..., None], log_pz=log_pz[..., None], log_py=log_py[..., None],
                     log_qz=log_qz[..., None], log_qy=q_y.log_prob(y)[..., None], y=y[..., None], z=z[..., None, :])

    @torch.no_grad()
    def joint_log_likelihood(self, x, samples=8):
        """IWAE estimate of log p(x, y) for every class y, [B, C]: the model's own classifier,
        argmax_y p(y | x), which wake-phi pulls q(y | x) towards."""
        out = []
        for c in range(self.n_classes):
            log_px, log_pz, log_qz, _ = self._sample_z(x, torch.full((samples, x.shape[0]), c, device=x.device))
            out.append(torch.logsumexp(log_px + log_pz - log_qz, 0) - math.log(samples) - math.log(self.n_classes))
        return torch.stack(out, -1)

    @torch.no_grad()
    def reconstruct(self, x, y=None):
        """Mean image from (y, z) inferred by q (y = argmax q(y|x) unless given), [B, D]."""
        if y is None:
            y = self.class_logits(x).argmax(-1)
        z = self.q_z(x, y).mean
        return torch.sigmoid(self.p_x(z, y)), z

    @torch.no_grad()
    def vary_class(self, x, y):
        """Infer the style z from (x, y), keep it, and decode it with every class: [B, C, D]."""
        z = self.q_z(x, y).mean
        classes = torch.arange(self.n_classes, device=x.device)
        zz = z[:, None, :].expand(-1, self.n_classes, -1)
        return torch.sigmoid(self.p_x(zz, classes.expand(x.shape[0], -1)))

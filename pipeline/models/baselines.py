"""The RNN of Eyjolfsdottir et al. (2016): a deterministic LSTM over [x_{t-1}, u_t] whose output
predicts x_t with one categorical per motion dimension over fixed bins.  (The plain VRNN
baseline is `DVRNN(n_classes=0)`.)"""
import torch
from torch import nn

from pipeline.models.heads import BinnedHead
from pipeline.models.layers import mlp
from pipeline.objectives import Trace


def quantile_edges(x, n_bins):
    """Bin edges [D, n_bins + 1] at the quantiles of training data x [..., D] (outer edges widened)."""
    flat = torch.as_tensor(x, dtype=torch.float32).reshape(-1, x.shape[-1])
    q = torch.quantile(flat, torch.linspace(0, 1, n_bins + 1), dim=0).T.contiguous()
    q[:, 0] -= 1.0
    q[:, -1] += 1.0
    for i in range(1, n_bins + 1):                     # strictly increasing, even with ties
        q[:, i] = torch.maximum(q[:, i], q[:, i - 1] + 1e-4)
    return q


class BinnedRNN(nn.Module):
    def __init__(self, x_dim, u_dim, hidden, edges):
        super().__init__()
        self.x_dim, self.hidden = x_dim, hidden
        self.embed = mlp([x_dim + u_dim, hidden, hidden], nn.ReLU)
        self.rnn = nn.LSTM(hidden, hidden, batch_first=True)
        self.head = BinnedHead(hidden, torch.as_tensor(edges, dtype=torch.float32))

    def parameter_groups(self):
        return {"theta": list(self.parameters()), "phi_z": [], "phi_y": []}

    def _inputs(self, x, u):
        previous = torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], 1)
        return self.embed(torch.cat([previous, u], -1))

    def forward(self, batch, K=1):
        """Exact log-likelihood of the bins (no latent variables), shaped as a Trace [K, B, T]."""
        x, u = batch["x"], batch["u"]
        out, _ = self.rnn(self._inputs(x, u))
        log_px = self.head.log_prob(out, x).expand(K, -1, -1)
        zeros = torch.zeros_like(log_px)
        return Trace(log_px=log_px, log_pz=zeros, log_py=zeros, log_qz=zeros, log_qy=zeros,
                     y=zeros.long())

    @torch.no_grad()
    def condition(self, batch, K):
        """Run over a seed sequence; returns K identical copies of the final state, zero log-weights."""
        x, u = batch["x"], batch["u"]
        _, (h, c) = self.rnn(self._inputs(x, u))
        rep = lambda a: a[0].repeat(K, 1)  # noqa: E731  particle-major rows k * B + b
        return (rep(h), rep(c), x[:, -1].repeat(K, 1)), torch.zeros(K, x.shape[0], device=x.device)

    @torch.no_grad()
    def step_prior(self, state, u_t=None, y_t=None):
        h, c, x_prev = state
        inp = self.embed(torch.cat([x_prev, u_t], -1))[:, None]
        out, (h2, c2) = self.rnn(inp, (h[None], c[None]))
        x_t = self.head.sample(out[:, 0])
        return x_t, None, (h2[0], c2[0], x_t)

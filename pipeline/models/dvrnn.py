"""The structured VRNN of paper Fig. 1 (eq. 5-6): per step a discrete y_t, a Gaussian z_t and an
LSTM state h_t summarising (x, y, z)_{<t}.  With n_classes = 0 it is the plain VRNN (no y).

Generative (theta), with c_t = [h_{t-1}, u_t] (u_t: optional per-step inputs, e.g. a fly's vision):
    p(y_t | c_t)   p(z_t | c_t)   p(x_t | z_t, y_t, c_t)   h_t = LSTM(h_{t-1}, [x_t, z_t, y_t])
Inference:
    q(z_t | x_t, y_t, c_t)                                   phi_z, trained by IWAE (reparameterised)
    q(y_t | BiLSTM(x, u)_t, h_{t-1})                          phi_y; depends on the particle's
                                                             y_{<t}, z_{<t} through h_{t-1} (eq. 6)
Particles are folded into the batch: every step runs once on K * B rows.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Normal

from pipeline.models.heads import GaussianHead, StrokeHead
from pipeline.models.m2 import mlp
from pipeline.objectives import Trace


class DVRNN(nn.Module):
    def __init__(self, x_dim, n_classes, z_dim, hidden, u_dim=0, emission="stroke", mixture=3, q_hidden=None):
        super().__init__()
        self.x_dim, self.n_classes, self.z_dim, self.hidden, self.u_dim = x_dim, n_classes, z_dim, hidden, u_dim
        ctx = hidden + (hidden if u_dim else 0)
        y_dim = hidden if n_classes else 0
        # theta
        self.embed_x = mlp([x_dim, hidden, hidden], nn.ReLU)
        self.embed_z = mlp([z_dim, hidden], nn.ReLU)
        self.embed_y = nn.Embedding(n_classes, hidden) if n_classes else None
        self.embed_u = mlp([u_dim, hidden, hidden], nn.ReLU) if u_dim else None
        self.rnn = nn.LSTMCell(2 * hidden + y_dim, hidden)
        self.prior_y = mlp([ctx, hidden, n_classes], nn.ReLU) if n_classes else None
        self.prior_z = mlp([ctx, hidden, 2 * z_dim], nn.ReLU)
        self.decoder = mlp([ctx + hidden + y_dim, hidden], nn.ReLU)
        self.head = StrokeHead(hidden, mixture) if emission == "stroke" else GaussianHead(hidden, x_dim, mixture)
        # phi_z
        self.encoder_z = mlp([ctx + hidden + y_dim, hidden, 2 * z_dim], nn.ReLU)
        # phi_y
        if n_classes:
            q_hidden = q_hidden or hidden
            self.birnn = nn.LSTM(x_dim + u_dim, q_hidden, batch_first=True, bidirectional=True)
            self.q_y_head = mlp([2 * q_hidden + hidden, hidden, n_classes], nn.ReLU)

    def parameter_groups(self):
        phi_z = list(self.encoder_z.parameters())
        phi_y = list(self.birnn.parameters()) + list(self.q_y_head.parameters()) if self.n_classes else []
        ids = {id(p) for p in phi_z + phi_y}
        return {"theta": [p for p in self.parameters() if id(p) not in ids], "phi_z": phi_z, "phi_y": phi_y}

    # pieces shared by inference and generation ---------------------------------------
    def _gaussian(self, net, inputs):
        loc, raw = net(inputs).chunk(2, -1)
        return Normal(loc, F.softplus(raw) + 1e-3)

    def _context(self, h, eu_t):
        return h if eu_t is None else torch.cat([h, eu_t], -1)

    def _with_y(self, *parts, ey=None):
        return torch.cat([*parts, ey] if ey is not None else list(parts), -1)

    def initial_state(self, n, device):
        zeros = torch.zeros(n, self.hidden, device=device)
        return zeros, zeros.clone()

    def y_features(self, x, u=None):
        """BiLSTM features of the whole sequence for q(y | x), [B, T, 2 q_hidden]."""
        return self.birnn(x if u is None else torch.cat([x, u], -1))[0]

    # the trace -------------------------------------------------------------------------
    def forward(self, batch, K, state=None):
        """Trace of K particles for {x [B, T, Dx], labels [B, T], mask [B, T], u [B, T, Du]?}.

        Labelled steps use the label (teacher forcing); the rest sample y_t ~ q.  With `state`
        (h, c) of K*B rows the recurrence starts there.  The final state is in trace.state.
        """
        x, labels, mask, u = batch["x"], batch["labels"], batch["mask"], batch.get("u")
        B, T, _ = x.shape
        N = K * B
        rep = lambda a: a.repeat(K, *([1] * (a.dim() - 1)))  # noqa: E731  particle-major rows
        # unbind once: indexing [:, t] inside the loop would cost O(T^2) in the backward pass
        ex = rep(self.embed_x(x)).unbind(1)
        eu = rep(self.embed_u(u)).unbind(1) if self.u_dim else None
        feats = rep(self.y_features(x, u)).unbind(1) if self.n_classes else None
        labels, mask = rep(labels).unbind(1), rep(mask).unbind(1)
        h, c = state if state is not None else self.initial_state(N, x.device)
        # The loop does only what sampling needs (q's parameters, the samples, the recurrence);
        # every density is evaluated afterwards on whole [N, T] tensors at once.
        steps = {k: [] for k in ("ctx", "y", "ey", "q_logits", "z", "ez", "q_loc", "q_scale")}
        for t in range(T):
            ctx = self._context(h, eu[t] if eu is not None else None)
            ey = None
            if self.n_classes:
                logits = self.q_y_head(torch.cat([feats[t], h], -1))
                sampled = torch.multinomial(torch.softmax(logits.detach(), -1), 1)[:, 0]
                y_t = torch.where(mask[t], labels[t].clamp(min=0), sampled)
                ey = self.embed_y(y_t)
                steps["q_logits"].append(logits)
                steps["y"].append(y_t)
                steps["ey"].append(ey)
            q_z = self._gaussian(self.encoder_z, self._with_y(ctx, ex[t], ey=ey))
            z_t = q_z.rsample()
            ez = self.embed_z(z_t)
            for k, v in (("ctx", ctx), ("z", z_t), ("ez", ez), ("q_loc", q_z.loc), ("q_scale", q_z.scale)):
                steps[k].append(v)
            h, c = self.rnn(self._with_y(ex[t], ez, ey=ey), (h, c))
        st = {k: torch.stack(v, 1) for k, v in steps.items() if v}          # [N, T, ...]
        ctx, z, ez = st["ctx"], st["z"], st["ez"]
        ey = st.get("ey")
        log_qz = Normal(st["q_loc"], st["q_scale"]).log_prob(z).sum(-1)
        log_pz = self._gaussian(self.prior_z, ctx).log_prob(z).sum(-1)
        log_px = self.head.log_prob(self.decoder(self._with_y(ctx, ez, ey=ey)), x.repeat(K, 1, 1))
        zeros = torch.zeros_like(log_px)
        if self.n_classes:
            y = st["y"]
            log_qy = torch.log_softmax(st["q_logits"], -1).gather(-1, y[..., None])[..., 0]
            log_py = torch.log_softmax(self.prior_y(ctx), -1).gather(-1, y[..., None])[..., 0]
        else:
            y, log_qy, log_py = zeros.long(), zeros, zeros
        view = lambda v: v.view(K, B, T)  # noqa: E731
        trace = Trace(log_px=view(log_px), log_pz=view(log_pz), log_py=view(log_py), log_qz=view(log_qz),
                      log_qy=view(log_qy), y=view(y), z=z.view(K, B, T, -1))
        trace.state = (h, c)
        return trace

    # generation ------------------------------------------------------------------------
    @torch.no_grad()
    def step_prior(self, state, u_t=None, y_t=None):
        """Sample one step from the generative model: (x_t, y_t, new state).  y_t may be forced."""
        h, c = state
        eu = self.embed_u(u_t) if self.u_dim else None
        ctx = self._context(h, eu)
        ey = None
        if self.n_classes:
            if y_t is None:
                y_t = Categorical(logits=self.prior_y(ctx)).sample()
            ey = self.embed_y(y_t)
        z_t = self._gaussian(self.prior_z, ctx).sample()
        ez = self.embed_z(z_t)
        x_t = self.head.sample(self.decoder(self._with_y(ctx, ez, ey=ey)))
        h, c = self.rnn(self._with_y(self.embed_x(x_t), ez, ey=ey), (h, c))
        return x_t, y_t, (h, c)

    @torch.no_grad()
    def generate(self, y, n=1):
        """Sample n sequences with y forced to the given labels [T] (text-conditioned writing)."""
        device = next(self.parameters()).device
        state = self.initial_state(n, device)
        y = torch.as_tensor(y, device=device)
        xs = []
        for t in range(len(y)):
            x_t, _, state = self.step_prior(state, y_t=y[t].expand(n) if self.n_classes else None)
            xs.append(x_t)
        return torch.stack(xs, 1)

    @torch.no_grad()
    def class_probabilities(self, batch, K=4):
        """q(y_t | x, y_{<t}, z_{<t}) with no label given, averaged over K particles: [B, T, C]."""
        x, u = batch["x"], batch.get("u")
        B, T, _ = x.shape
        rep = lambda a: a.repeat(K, *([1] * (a.dim() - 1)))  # noqa: E731
        ex = rep(self.embed_x(x))
        eu = rep(self.embed_u(u)) if self.u_dim else None
        feats = rep(self.y_features(x, u))
        h, c = self.initial_state(K * B, x.device)
        probs = []
        for t in range(T):
            ctx = self._context(h, eu[:, t] if eu is not None else None)
            p = torch.softmax(self.q_y_head(torch.cat([feats[:, t], h], -1)), -1)
            ey = self.embed_y(Categorical(probs=p).sample())
            z_t = self._gaussian(self.encoder_z, self._with_y(ctx, ex[:, t], ey=ey)).sample()
            h, c = self.rnn(self._with_y(ex[:, t], self.embed_z(z_t), ey=ey), (h, c))
            probs.append(p)
        return torch.stack(probs, 1).view(K, B, T, -1).mean(0)

    @torch.no_grad()
    def condition(self, batch, K):
        """Run the inference recurrence over a seed sequence with no labels: the final state of
        each of K particles (rows k * B + b) and their log-weights [K, B]."""
        from pipeline.objectives import log_weights
        x = batch["x"]
        unlabelled = {**batch, "labels": torch.full(x.shape[:2], -1, device=x.device),
                      "mask": torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)}
        trace = self(unlabelled, K)
        return trace.state, log_weights(trace, unlabelled["mask"])

"""The structured VRNN of paper Fig. 1 (eq. 5-6): per step a discrete y_t, a Gaussian z_t and an
LSTM state h_t summarising (x, y, z)_{<t}.  With n_classes = 0 it is the plain VRNN (no y).

Generative (theta), with c_t = [h_{t-1}, u_t] (u_t: optional per-step inputs, e.g. a fly's vision):
    p(y_t | c_t)   p(z_t | c_t)   p(x_t | z_t, y_t, c_t)   h_t = LSTM(h_{t-1}, [x_t, z_t, y_t])
Inference:
    q(z_t | x_t, y_t, c_t)                                   phi_z, trained by IWAE (reparameterised)
    q(y_t | BiLSTM(x, u)_t, h_{t-1})                          phi_y; depends on the particle's
                                                             y_{<t}, z_{<t} through h_{t-1} (eq. 6)
    q(y_t | BiLSTM(x, u)_t)                                  with q_reads_state=False: a classifier
                                                             of x alone (the supervised baseline)
Particles are folded into the batch: every step runs once on K * B rows.
"""
import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Normal

from pipeline.models.heads import GaussianHead, StrokeHead
from pipeline.models.layers import mlp
from pipeline.objectives import Trace, log_weights


class DVRNN(nn.Module):
    def __init__(self, x_dim, n_classes, z_dim, hidden, u_dim=0, emission="stroke", mixture=3, q_hidden=None,
                 q_reads_state=True):
        super().__init__()
        self.q_reads_state = q_reads_state
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
            self.q_y_head = mlp([2 * q_hidden + (hidden if q_reads_state else 0), hidden, n_classes], nn.ReLU)

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

    # the recurrence ----------------------------------------------------------------------
    def step(self, state, eu_t=None, ex_t=None, feat_t=None, label_t=None, mask_t=None, y_t=None):
        """One step of the recurrence, shared by inference, classification and generation.

        Inference (ex_t, the embedded x_t, given): y_t ~ q(y_t | feat_t, h_{t-1}) except where mask_t
        holds, which takes label_t (teacher forcing); z_t ~ q(z_t | c_t, x_t, y_t), reparameterised.
        Generation (ex_t None): y_t ~ p(y_t | c_t) unless y_t is given; z_t ~ p(z_t | c_t);
        x_t ~ p(x_t | c_t, z_t, y_t).  Returns the new state (h, c) and the step's values.
        """
        h, c = state
        ctx = self._context(h, eu_t)
        out = {"ctx": ctx}
        ey = None
        if self.n_classes:
            if ex_t is not None:
                logits = self.q_y_head(torch.cat([feat_t, h], -1) if self.q_reads_state else feat_t)
                sampled = torch.multinomial(torch.softmax(logits.detach(), -1), 1)[:, 0]
                y_t = sampled if mask_t is None else torch.where(mask_t, label_t.clamp(min=0), sampled)
                out["q_logits"] = logits
            elif y_t is None:
                y_t = Categorical(logits=self.prior_y(ctx)).sample()
            ey = self.embed_y(y_t)
            out.update(y=y_t, ey=ey)
        if ex_t is not None:
            q_z = self._gaussian(self.encoder_z, self._with_y(ctx, ex_t, ey=ey))
            z_t = q_z.rsample()
            out.update(q_loc=q_z.loc, q_scale=q_z.scale)
        else:
            z_t = self._gaussian(self.prior_z, ctx).sample()
        ez = self.embed_z(z_t)
        if ex_t is None:
            out["x"] = self.head.sample(self.decoder(self._with_y(ctx, ez, ey=ey)))
            ex_t = self.embed_x(out["x"])
        out.update(z=z_t, ez=ez)
        return self.rnn(self._with_y(ex_t, ez, ey=ey), (h, c)), out

    def recur(self, batch, K, state=None):
        """Inference over {x [B, T, Dx], u?, labels?, mask?} with K particles folded into the batch
        (rows k * B + b): every step's values stacked to [K * B, T, ...], and the final state.
        Without a mask no step is labelled."""
        x, u, mask = batch["x"], batch.get("u"), batch.get("mask")
        B, T, _ = x.shape
        rep = lambda a: a.repeat(K, *([1] * (a.dim() - 1)))  # noqa: E731  particle-major rows
        none = [None] * T
        # unbind once: indexing [:, t] inside the loop would cost O(T^2) in the backward pass
        ex = rep(self.embed_x(x)).unbind(1)
        eu = rep(self.embed_u(u)).unbind(1) if self.u_dim else none
        feats = rep(self.y_features(x, u)).unbind(1) if self.n_classes else none
        labels, mask = (rep(batch["labels"]).unbind(1), rep(mask).unbind(1)) if mask is not None else (none, none)
        state = state if state is not None else self.initial_state(K * B, x.device)
        steps = []
        for t in range(T):
            state, out = self.step(state, eu[t], ex[t], feats[t], labels[t], mask[t])
            steps.append(out)
        return {k: torch.stack([s[k] for s in steps], 1) for k in steps[0]}, state

    def forward(self, batch, K, state=None):
        """Trace of K particles for {x [B, T, Dx], labels [B, T], mask [B, T], u [B, T, Du]?}.

        Labelled steps use the label (teacher forcing); the rest sample y_t ~ q.  With `state`
        (h, c) of K*B rows the recurrence starts there; trace.state is where it ends.
        """
        x = batch["x"]
        B, T, _ = x.shape
        # The loop does only what sampling needs; every density is evaluated afterwards on
        # whole [N, T] tensors at once.
        st, state = self.recur(batch, K, state)
        ctx, z, ez, ey = st["ctx"], st["z"], st["ez"], st.get("ey")
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
        return Trace(log_px=view(log_px), log_pz=view(log_pz), log_py=view(log_py), log_qz=view(log_qz),
                     log_qy=view(log_qy), y=view(y), z=z.view(K, B, T, -1), state=state)

    @torch.no_grad()
    def class_probabilities(self, batch, K=4, teacher_forced=False):
        """q(y_t | x, y_{<t}, z_{<t}) averaged over K particles: [B, T, C].  No label is given, so
        y_{<t} are q's own samples; teacher_forced feeds the recurrence batch["labels"] instead
        (where they are known, >= 0)."""
        B, T, _ = batch["x"].shape
        if not self.q_reads_state:                  # a classifier of x alone: no recurrence, no particles
            return torch.softmax(self.q_y_head(self.y_features(batch["x"], batch.get("u"))), -1)
        given = {"x": batch["x"], "u": batch.get("u")}
        if teacher_forced:
            given.update(labels=batch["labels"], mask=batch["labels"] >= 0)
        st, _ = self.recur(given, K)
        return torch.softmax(st["q_logits"], -1).view(K, B, T, -1).mean(0)

    @torch.no_grad()
    def condition(self, batch, K):
        """Run the inference recurrence over a seed sequence with no labels: the final state of
        each of K particles (rows k * B + b) and their log-weights [K, B]."""
        x = batch["x"]
        unlabelled = {"x": x, "u": batch.get("u"), "labels": torch.full(x.shape[:2], -1, device=x.device),
                      "mask": torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device)}
        trace = self(unlabelled, K)
        return trace.state, log_weights(trace, unlabelled["mask"])

    # generation ------------------------------------------------------------------------
    @torch.no_grad()
    def step_prior(self, state, u_t=None, y_t=None):
        """Sample one step from the generative model: (x_t, y_t, new state).  y_t may be forced."""
        state, out = self.step(state, eu_t=self.embed_u(u_t) if self.u_dim else None, y_t=y_t)
        return out["x"], out.get("y"), state

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

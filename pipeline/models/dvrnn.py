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
Deep-Writing's latent structure (Aksan et al. 2018, `VRNNGmmCell`), two switches, off by default:
    content_latent    a content latent c_t ~ N(mu_{y_t}, sigma_{y_t}), one learnt Gaussian per
                      character selected by y_t (Deep-Writing's `gmm_mu_vars` with its labels given,
                      `use_real_pi_labels`), in training and in sampling; the decoder reads c_t in
                      place of y's embedding.  It has no posterior: c_t is drawn from its prior, so
                      its density cancels in every importance weight and the per-step log-densities
                      stay those of eq. 5 with p(x_t | z_t, y_t, c_t) averaged over c_t.  The LSTM
                      still reads y's embedding (Deep-Writing's reads c_t).
    decoder_reads_h   False: p(x_t | ...) reads z_t, the content (c_t or y's embedding) and the pen
                      context u_t, not h_{t-1} (`use_latent_h_in_outputs=False`), so what the
                      history says about x_t must pass through z_t, whose prior p(z_t | h_{t-1}) is
                      Deep-Writing's style prior.  Training anneals z's KL (train.Spec.kl_warmup).
Particles are folded into the batch: every step runs once on K * B rows.  The loop over time does
only what sampling needs (models/recurrence.py, with its backward pass written out); every density
is evaluated afterwards on whole [K * B, T] tensors.  The first layers that read h, x and y are
applied by parts (split_weights): the x parts for all steps at once before the loop, the h parts
as one stacked product per step, the y parts as table lookups.  The arithmetic is that of the
layers as written, in another order.
"""
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, Normal

from pipeline.models.heads import GaussianHead, StrokeHead
from pipeline.models.layers import mlp
from pipeline.models.recurrence import InferenceRecurrence
from pipeline.objectives import Trace, log_weights


TINY = 2.0 ** -24        # keeps the uniform draws of the Gumbel noise inside (0, 1)


def _per_particle(a, b):
    """a [T, K * B, D] plus b [T, B, D], broadcast over the K particles (rows k * B + b)."""
    return (a.view(a.shape[0], -1, b.shape[1], a.shape[-1]) + b[:, None]).flatten(1, 2)


class DVRNN(nn.Module):
    def __init__(self, x_dim, n_classes, z_dim, hidden, u_dim=0, emission="stroke", mixture=3, q_hidden=None,
                 q_reads_state=True, content_latent=0, decoder_reads_h=True):
        super().__init__()
        self.q_reads_state, self.decoder_reads_h = q_reads_state, decoder_reads_h
        self.x_dim, self.n_classes, self.z_dim, self.hidden, self.u_dim = x_dim, n_classes, z_dim, hidden, u_dim
        ctx = self.ctx_dim = hidden + (hidden if u_dim else 0)
        y_dim = hidden if n_classes else 0
        self.q_feat_dim = 2 * (q_hidden or hidden)
        # theta
        self.embed_x = mlp([x_dim, hidden, hidden], nn.ReLU)
        self.embed_z = mlp([z_dim, hidden], nn.ReLU)
        self.embed_y = nn.Embedding(n_classes, hidden) if n_classes else None
        self.embed_u = mlp([u_dim, hidden, hidden], nn.ReLU) if u_dim else None
        self.rnn = nn.LSTMCell(2 * hidden + y_dim, hidden)
        self.prior_y = mlp([ctx, hidden, n_classes], nn.ReLU) if n_classes else None
        self.prior_z = mlp([ctx, hidden, 2 * z_dim], nn.ReLU)
        self.content_dim = content_latent if n_classes else 0        # c_t's size (0: y's embedding)
        if self.content_dim:                                          # Deep-Writing's initial values
            self.content_loc = nn.Parameter(torch.empty(n_classes, content_latent).uniform_(-1.0, 1.0))
            self.content_scale = nn.Parameter(torch.ones(n_classes, content_latent))   # softplus(.) is sigma
            self.embed_content = mlp([content_latent, hidden], nn.ReLU)
        self.decoder = mlp([(ctx if decoder_reads_h else ctx - hidden) + hidden + y_dim, hidden], nn.ReLU)
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

    def content(self, y, eps=None):
        """What the decoder reads of y_t: y's embedding, or with content_latent the content latent
        c_t = mu_{y_t} + sigma_{y_t} * eps (eps ~ N(0, 1) unless given), embedded."""
        if not self.content_dim:
            return self.embed_y(y)
        eps = torch.randn(*y.shape, self.content_dim, device=y.device) if eps is None else eps
        c = self.content_loc[y] + (F.softplus(self.content_scale[y]) + 1e-3) * eps
        return self.embed_content(c)

    def decode(self, ctx, z, y=None):
        """The features of p(x_t | ...) from c_t = [h_{t-1}, e(u_t)], z_t and y_t: the decoder reads
        [h, e(u), e(z), content(y)], or without h when decoder_reads_h is off."""
        return self._decode(ctx, self.embed_z(z), self.content(y) if self.n_classes else None)

    def _decode(self, ctx, ez, ey):
        """decode() from embedded z and y."""
        return self.decoder(self._with_y(ctx if self.decoder_reads_h else ctx[..., self.hidden:], ez, ey=ey))

    def initial_state(self, n):
        zeros = self.rnn.weight_hh.new_zeros(n, self.hidden)
        return zeros, zeros.clone()

    def y_features(self, x, u=None):
        """BiLSTM features of the whole sequence for q(y | x), [B, T, 2 q_hidden]."""
        return self.birnn(x if u is None else torch.cat([x, u], -1))[0]

    # the recurrence ----------------------------------------------------------------------
    def split_weights(self):
        """The first layers that the recurrence feeds h, x, y and z into, split by input, so that each
        part is applied where it is cheapest: x (and u) parts for all steps at once before the loop;
        the h parts stacked into one matrix, one product per step; the y parts as a table [C, .] of
        the embedded classes; z through embed_z (linear) folded into the LSTM's input weights.
        Layout of the step's pre-activations: [encoder_z hidden (H) | LSTM gates (4H)].  q's h part
        (q_h) joins that product inside the loop for sampling only, without gradient; q's logits are
        formed again after the loop, so the inference loss's backward pass never runs through the steps."""
        H, ctx, cell, enc, embed_z = self.hidden, self.ctx_dim, self.rnn, self.encoder_z[0], self.embed_z[0]
        z_gates = cell.weight_ih[:, H:2 * H]
        w = SimpleNamespace(x=torch.cat([enc.weight[:, ctx:ctx + H], cell.weight_ih[:, :H]], 0),
                            u=enc.weight[:, H:ctx],
                            bias=torch.cat([enc.bias, cell.bias_ih + cell.bias_hh + z_gates @ embed_z.bias]),
                            z=z_gates @ embed_z.weight)
        w.h = torch.cat([enc.weight[:, :H], cell.weight_hh], 0)
        if self.n_classes:
            q1, embedded = self.q_y_head[0], self.embed_y.weight
            w.q_feat, w.q_h, w.q_b = q1.weight[:, :self.q_feat_dim], q1.weight[:, self.q_feat_dim:], q1.bias
            w.y = torch.cat([embedded @ enc.weight[:, ctx + H:].T, embedded @ cell.weight_ih[:, 2 * H:].T], -1)
        return w

    def _choose_y(self, q_x, gumbel, K):
        """y_t for the recurrence, (t, read) -> [K * B]: the argmax of q's logits plus Gumbel noise
        (labelled steps carry +inf at their label); read: q's first layer at step t, [K * B, .].
        q_x: q's first layer on the BiLSTM features alone, [T, B, .]."""
        head = self.q_y_head[2]
        if not self.q_reads_state:                  # q reads x alone: every y at once
            ys = (head(torch.relu(q_x)).repeat(1, K, 1) + gumbel).argmax(-1)
            return lambda t, read: ys[t]
        noisy_bias = gumbel + head.bias
        return lambda t, read: torch.addmm(noisy_bias[t], torch.relu(read), head.weight.T).max(-1).indices

    def recur(self, batch, K, state=None, noise=None):
        """recur_time_major's values as [K * B, T, ...]."""
        out, state = self.recur_time_major(batch, K, state, noise)
        return {k: v.transpose(0, 1) for k, v in out.items()}, state

    def recur_time_major(self, batch, K, state=None, noise=None):
        """Inference over {x [B, T, Dx], u?, labels?, mask?} with K particles folded into the batch
        (rows k * B + b): every step's values stacked time-major, [T, K * B, ...], and the final state.
        y_t ~ q(y_t | x, h_{t-1}) by Gumbel-max, except where mask holds, which takes the label
        (teacher forcing); z_t ~ q(z_t | c_t, x_t, y_t), reparameterised.  Without a mask no step is
        labelled.  The sampling noise of every step is drawn up front (noise, for tests:
        {"eps": [T, K*B, Z], "gumbel": [T, K*B, C]}); the loop itself is InferenceRecurrence."""
        x, u, mask = batch["x"], batch.get("u"), batch.get("mask")
        B, T, _ = x.shape
        N = K * B
        w = self.split_weights()
        # the x (and u) parts of every step at once, time-major, on the B sequences (shared by their K particles)
        ex = self.embed_x(x).transpose(0, 1)
        pre_x = F.linear(ex, w.x, w.bias)
        eu = self.embed_u(u).transpose(0, 1) if self.u_dim else None
        if self.u_dim:
            pre_x = pre_x + F.pad(F.linear(eu, w.u), (0, 4 * self.hidden))
        noise = noise or {}
        eps = noise["eps"] if "eps" in noise else torch.randn(T, N, self.z_dim, device=x.device)
        choose_y = w_y = None
        if self.n_classes:
            features = batch.get("y_features")
            features = self.y_features(x, u) if features is None else features
            q_x = F.linear(features.transpose(0, 1), w.q_feat, w.q_b)                  # [T, B, q]
            gumbel = noise.get("gumbel")
            if gumbel is None:                                       # Gumbel-max: argmax(logits + g) ~ q
                gumbel = torch.rand(T, N, self.n_classes, device=x.device).clamp_(TINY, 1 - TINY)
                gumbel.log_().neg_().log_().neg_()                   # -log(-log u), in place
            if mask is not None:                                     # a labelled step's label wins the argmax
                forced = F.one_hot(batch["labels"].clamp(min=0), self.n_classes).bool() & mask[..., None]
                gumbel = gumbel.masked_fill(forced.transpose(0, 1).repeat(1, K, 1), float("inf"))
            with torch.no_grad():
                choose_y = self._choose_y(q_x, gumbel, K)
            w_y = w.y
        h0, c0 = state if state is not None else self.initial_state(N)
        reads = (w.q_h.detach(), q_x.detach()) if self.n_classes and self.q_reads_state else (None, None)
        hs, z, loc, scale, y, h, c = InferenceRecurrence.apply(pre_x, w.h, w_y, self.encoder_z[2].weight,
                                                               self.encoder_z[2].bias, w.z, h0, c0, eps, choose_y,
                                                               *reads)
        out = {"z": z, "q_loc": loc, "q_scale": scale, "ctx": self._context(hs, eu.repeat(1, K, 1) if self.u_dim else None)}
        if self.n_classes:
            q_in = _per_particle(hs @ w.q_h.T, q_x) if self.q_reads_state else q_x.repeat(1, K, 1)
            out.update(y=y, q_logits=self.q_y_head[2](torch.relu(q_in)))
        return out, (h, c)

    def forward(self, batch, K, state=None):
        """Trace of K particles for {x [B, T, Dx], labels [B, T], mask [B, T], u [B, T, Du]?}.

        Labelled steps use the label (teacher forcing); the rest sample y_t ~ q.  With `state`
        (h, c) of K*B rows the recurrence starts there; trace.state is where it ends.
        """
        x = batch["x"]
        B, T, _ = x.shape
        st, state = self.recur_time_major(batch, K, state)          # densities on [T, K * B] rows
        ctx, z = st["ctx"], st["z"]
        ez, ey = self.embed_z(z), self.content(st["y"]) if self.n_classes else None   # (this order: autograd's sums)
        log_qz = Normal(st["q_loc"], st["q_scale"]).log_prob(z).sum(-1)
        log_pz = self._gaussian(self.prior_z, ctx).log_prob(z).sum(-1)
        log_px = self.head.log_prob(self._decode(ctx, ez, ey), x.transpose(0, 1).repeat(1, K, 1))
        zeros = torch.zeros_like(log_px)
        if self.n_classes:
            y = st["y"]
            log_qy = torch.log_softmax(st["q_logits"], -1).gather(-1, y[..., None])[..., 0]
            log_py = torch.log_softmax(self.prior_y(ctx), -1).gather(-1, y[..., None])[..., 0]
        else:
            y, log_qy, log_py = zeros.long(), zeros, zeros
        view = lambda v: v.transpose(0, 1).reshape(K, B, T, *v.shape[2:])  # noqa: E731
        return Trace(log_px=view(log_px), log_pz=view(log_pz), log_py=view(log_py), log_qz=view(log_qz),
                     log_qy=view(log_qy), y=view(y), z=view(z), state=state)

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
    def condition(self, batch, K, state=None):
        """Run the inference recurrence over a seed sequence with no labels, from `state` (K * B rows)
        or the start: the final state of each of K particles (rows k * B + b) and their log-weights
        [K, B].  batch["y_features"], when given, are q(y)'s BiLSTM features (of a longer sequence
        that this batch is a part of: the particle filter's chunks)."""
        x = batch["x"]
        unlabelled = {"x": x, "u": batch.get("u"), "labels": torch.full(x.shape[:2], -1, device=x.device),
                      "mask": torch.zeros(x.shape[:2], dtype=torch.bool, device=x.device),
                      "y_features": batch.get("y_features")}
        trace = self(unlabelled, K, state)
        return trace.state, log_weights(trace, unlabelled["mask"])

    # generation ------------------------------------------------------------------------
    @torch.no_grad()
    def emit(self, state, u_t=None, y_t=None):
        """The generative model's step t before x_t is drawn: y_t ~ p(y_t | c_t) unless y_t is given
        (forced), z_t ~ p(z_t | c_t); returns (the features that parameterise p(x_t | c_t, z_t, y_t), y_t, z_t)."""
        ctx = self._context(state[0], self.embed_u(u_t) if self.u_dim else None)
        if self.n_classes and y_t is None:
            y_t = Categorical(logits=self.prior_y(ctx)).sample()
        z_t = self._gaussian(self.prior_z, ctx).sample()
        return self.decode(ctx, z_t, y_t), y_t, z_t

    @torch.no_grad()
    def advance(self, state, x_t, y_t, z_t, w=None):
        """h_t, c_t from h_{t-1}, c_{t-1} and step t's values (the LSTM of the recurrence).
        w = split_weights(), when the caller keeps it across steps."""
        w = w or self.split_weights()
        (h, c), H = state, self.hidden
        gates = torch.addmm(w.bias[H:], self.embed_x(x_t), w.x[H:].T) + h @ w.h[H:].T
        if self.n_classes:
            gates = gates + w.y[y_t, H:]
        i, f, g, o = torch.addmm(gates, z_t, w.z.T).chunk(4, -1)
        c = torch.addcmul(torch.sigmoid(f) * c, torch.sigmoid(i), torch.tanh(g))
        return torch.sigmoid(o) * torch.tanh(c), c

    @torch.no_grad()
    def step_prior(self, state, u_t=None, y_t=None, w=None):
        """Sample one step from the generative model (emit, x_t ~ p(x_t | ...), advance);
        returns (x_t, y_t, new state)."""
        features, y_t, z_t = self.emit(state, u_t, y_t)
        x_t = self.head.sample(features)
        return x_t, y_t, self.advance(state, x_t, y_t, z_t, w)

    @torch.no_grad()
    def generate(self, y, n=1, tracker=None):
        """Sample n sequences with y forced to the given labels [T], one per step (text-conditioned
        writing with the durations given).  tracker: the per-step inputs u_t computed from the strokes
        written so far (features() -> u_t, update(x_t)), e.g. models.pen_context.PenTracker."""
        device = next(self.parameters()).device
        state = self.initial_state(n)
        y = torch.as_tensor(y, device=device)
        w = self.split_weights()
        xs = []
        for t in range(len(y)):
            u_t = tracker.features() if tracker is not None else None
            x_t, _, state = self.step_prior(state, u_t, y_t=y[t].expand(n) if self.n_classes else None, w=w)
            if tracker is not None:
                tracker.update(x_t)
            xs.append(x_t)
        return torch.stack(xs, 1)

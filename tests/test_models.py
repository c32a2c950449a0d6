"""The sequence models and heads: shapes, finiteness, exact densities, teacher forcing, sampling;
the closed-loop continuation and its KDE score."""
import math

import numpy as np
import pytest
import torch
from scipy import stats

from pipeline.evaluate.continuations import Arena, Seed, condition_by_filter, continue_tracks, resample
from pipeline.evaluate.kde import kde_log_density, kde_scores
from pipeline.models.baselines import BinnedRNN, quantile_edges
from pipeline.models.dvrnn import DVRNN
from pipeline.models.heads import BinnedHead, GaussianHead, StrokeHead
from pipeline.objectives import cws, kish_ess


def stroke_batch(B=3, T=7, rate=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, 4, generator=g)
    x[..., 2:] = (torch.rand(B, T, 2, generator=g) < 0.3).float()
    labels = torch.randint(0, 70, (B, T), generator=g)
    mask = torch.rand(B, T, generator=g) < rate
    return {"x": x, "labels": torch.where(mask, labels, -1), "mask": mask}


def test_dvrnn_trace_has_k_b_t_shapes_and_finite_values():
    model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
    batch = stroke_batch()
    trace = model(batch, 4)
    for name in ("log_px", "log_pz", "log_py", "log_qz", "log_qy"):
        value = getattr(trace, name)
        assert value.shape == (4, 3, 7) and torch.isfinite(value).all(), name
    assert trace.z.shape == (4, 3, 7, 5)
    assert (trace.y[:, batch["mask"]] == batch["labels"][batch["mask"]]).all()       # teacher forcing
    losses = cws(trace, batch["mask"])
    (losses.model + losses.inference).backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_q_y_depends_on_the_particles_earlier_samples():
    """Otherwise q(y_S) would cancel from the CWS weights and CWS would equal SSWS."""
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
    batch = stroke_batch(B=1, T=6, rate=0.5)
    labelled_late = batch["mask"][0].nonzero()[-1].item()
    trace = model(batch, 8)
    assert trace.log_qy[:, 0, labelled_late].std() > 0


def test_vrnn_and_fly_inputs():
    batch = {"x": torch.randn(2, 5, 5), "u": torch.randn(2, 5, 148),
             "labels": torch.full((2, 5), -1), "mask": torch.zeros(2, 5, dtype=torch.bool)}
    vrnn = DVRNN(5, 0, 6, 16, u_dim=148, emission="gaussian")
    trace = vrnn(batch, 3)
    assert trace.log_px.shape == (3, 2, 5) and (trace.log_qy == 0).all() and vrnn.parameter_groups()["phi_y"] == []
    state, log_w = vrnn.condition(batch, 3)
    assert state[0].shape == (6, 16) and log_w.shape == (3, 2)
    x_t, _, state = vrnn.step_prior(state, torch.randn(6, 148))
    assert x_t.shape == (6, 5)


def test_stroke_head_density_is_a_normalised_mixture():
    head = StrokeHead(3, mixture=2)
    f = torch.randn(1, 3)
    xs = torch.linspace(-12, 12, 241)
    gx, gy = torch.meshgrid(xs, xs, indexing="ij")
    grid = torch.stack([gx.flatten(), gy.flatten()], -1)
    mass = 0.0
    for pen in (0.0, 1.0):
        for eoc in (0.0, 1.0):
            x = torch.cat([grid, torch.tensor([[pen, eoc]]).expand(len(grid), 2)], -1)
            mass += head.log_prob(f.expand(len(grid), 3), x).exp().sum().item() * (xs[1] - xs[0]).item() ** 2
    assert mass == pytest.approx(1.0, abs=0.02)


def test_gaussian_head_matches_scipy():
    head = GaussianHead(2, 3, mixture=1)
    f, x = torch.randn(4, 2), torch.randn(4, 3)
    d = head.distribution(f)
    mu, sd = d.component_distribution.base_dist.loc[:, 0], d.component_distribution.base_dist.scale[:, 0]
    expected = stats.norm(mu.detach().numpy(), sd.detach().numpy()).logpdf(x.numpy()).sum(-1)
    assert np.allclose(head.log_prob(f, x).detach().numpy(), expected, atol=1e-5)


def test_binned_head_puts_values_in_their_bins_and_samples_inside_them():
    edges = torch.tensor([[-2.0, -1.0, 0.0, 1.0, 2.0]])
    head = BinnedHead(3, edges)
    assert head.bins(torch.tensor([[-1.5], [-0.5], [0.5], [1.5]])).flatten().tolist() == [0, 1, 2, 3]
    samples = head.sample(torch.randn(500, 3))
    assert ((samples >= -2) & (samples <= 2)).all()
    probs = head.distribution(torch.randn(1, 3)).probs
    assert probs.sum().item() == pytest.approx(1.0)


def test_binned_rnn_likelihood_and_edges():
    x = torch.randn(4, 10, 5)
    edges = quantile_edges(x, 6)
    assert edges.shape == (5, 7) and (edges[:, 1:] > edges[:, :-1]).all()
    model = BinnedRNN(5, 148, 16, edges)
    trace = model({"x": x, "u": torch.randn(4, 10, 148)}, 1)
    assert trace.log_px.shape == (1, 4, 10) and (trace.log_px <= 0).all()


def test_generation_forces_the_given_labels():
    model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
    ink = model.generate(torch.arange(1, 13), n=2)
    assert ink.shape == (2, 12, 4) and torch.isfinite(ink).all()


def test_a_generation_step_equals_the_layers_as_written():
    """emit + advance: the decoder reads [h, embed_u(u), embed_z(z), embed_y(y)]; the LSTM cell reads
    [embed_x(x), embed_z(z), embed_y(y)] (split_weights folds them into parts)."""
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, u_dim=3, emission="stroke", mixture=2)
    h, c, u, y = torch.randn(3, 16), torch.randn(3, 16), torch.randn(3, 3), torch.tensor([4, 0, 69])
    torch.manual_seed(1)
    features, _, z = model.emit((h, c), u, y)
    torch.manual_seed(1)
    prior = model.prior_z(torch.cat([h, model.embed_u(u)], -1))
    loc, raw = prior.chunk(2, -1)
    expected_z = loc + (torch.nn.functional.softplus(raw) + 1e-3) * torch.randn_like(loc)
    assert torch.allclose(z, expected_z, atol=1e-6)
    ctx = torch.cat([h, model.embed_u(u)], -1)
    assert torch.allclose(features, model.decoder(torch.cat([ctx, model.embed_z(z), model.embed_y(y)], -1)), atol=1e-6)
    x = torch.randn(3, 4)
    h_new, c_new = model.advance((h, c), x, y, z)
    h_ref, c_ref = model.rnn(torch.cat([model.embed_x(x), model.embed_z(z), model.embed_y(y)], -1), (h, c))
    assert torch.allclose(h_new, h_ref, atol=1e-5) and torch.allclose(c_new, c_ref, atol=1e-5)


def deep_writing(seed=0):
    """A DVRNN with Deep-Writing's latent structure: a content latent per character, a decoder without h."""
    torch.manual_seed(seed)
    return DVRNN(4, 70, 5, 16, u_dim=3, emission="stroke", mixture=2, content_latent=6, decoder_reads_h=False)


def test_the_content_latent_is_the_component_that_y_selects():
    model = deep_writing()
    y, eps = torch.tensor([3, 3, 41]), torch.randn(3, 6)
    sigma = torch.nn.functional.softplus(model.content_scale) + 1e-3
    expected = model.embed_content(model.content_loc[y] + sigma[y] * eps)
    assert torch.allclose(model.content(y, eps), expected)
    with torch.no_grad():
        model.content_loc[41] += 5.0                       # another character's component: no effect on y = 3
    assert torch.equal(model.content(y, eps)[:2], expected[:2]) and not torch.allclose(model.content(y, eps)[2], expected[2])
    assert DVRNN(4, 70, 5, 16).content(y).shape == (3, 16)                      # off: y's embedding


@pytest.mark.parametrize("reads_h", [True, False])
def test_the_decoder_reads_h_only_when_the_switch_says(reads_h):
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, u_dim=3, emission="stroke", mixture=2, content_latent=6, decoder_reads_h=reads_h)
    eu, z, y, eps = torch.randn(2, 16), torch.randn(2, 5), torch.tensor([1, 2]), torch.randn(2, 6)
    outs = []
    for h in (torch.randn(2, 16), torch.randn(2, 16)):
        torch.manual_seed(1)                               # the same content draw
        outs.append(model.decode(torch.cat([h, eu], -1), z, y))
    assert torch.equal(*outs) != reads_h
    trace = model({"x": torch.randn(2, 7, 4), "u": torch.randn(2, 7, 3), "labels": torch.randint(0, 70, (2, 7)),
                   "mask": torch.ones(2, 7, dtype=torch.bool)}, 3)
    assert trace.log_px.shape == (3, 2, 7) and torch.isfinite(trace.log_px).all()


def test_writing_a_forced_character_draws_from_its_component():
    """emit under a forced y_t: the decoder reads y_t's component (sigma made tiny, so the draw is its mean)."""
    model = deep_writing()
    with torch.no_grad():
        model.content_scale.fill_(-30.0)
    h, c, u = torch.randn(2, 16), torch.randn(2, 16), torch.randn(2, 3)
    def features_of(char, z):
        return model.decoder(torch.cat([model.embed_u(u), model.embed_z(z), model.embed_content(model.content_loc[char])
                                        .expand(2, -1)], -1))
    for char, other in ((7, 52), (52, 7)):
        features, y_t, z = model.emit((h, c), u, torch.tensor([char, char]))
        assert (y_t == char).all()
        assert (features - features_of(char, z)).abs().max() < 0.01 < (features - features_of(other, z)).abs().max()


def test_kl_annealing_follows_its_schedule():
    from dataclasses import replace

    from pipeline.train import Spec, annealed, kl_weight
    spec = Spec(name="t", objective=None, epochs=1, particles=1, lr=0.1, seed=0, kl_warmup=0.4)
    assert [kl_weight(spec, p) for p in (0.0, 0.1, 0.2, 0.4, 0.9)] == pytest.approx([0.0, 0.25, 0.5, 1.0, 1.0])
    assert kl_weight(replace(spec, kl_warmup=0.0), 0.0) == 1.0
    trace = DVRNN(4, 70, 5, 16)({"x": torch.randn(2, 5, 4)}, 2)
    half = annealed(trace, 0.5)
    assert torch.equal(half.log_pz, 0.5 * trace.log_pz) and torch.equal(half.log_qz, 0.5 * trace.log_qz)
    assert torch.equal(half.log_px, trace.log_px) and annealed(trace, 1.0) is trace


def test_kde_of_one_sample_is_a_gaussian_with_the_floor_bandwidth():
    """Every sample identical: the KDE is N(sample, floor^2 I) per dimension."""
    samples = np.zeros((10, 2))
    point = np.array([0.3, -0.4])
    expected = stats.norm(0, 0.5).logpdf(point).sum()
    assert kde_log_density(samples, point, floor=0.5) == pytest.approx(expected)


def test_kde_matches_a_hand_computed_mixture():
    samples = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    point = np.array([1.0, 1.0])
    h = np.maximum(samples.std(axis=0, ddof=1) * 3 ** (-1 / 6), 0.05)
    dens = np.mean([stats.norm(s[0], h[0]).pdf(1.0) * stats.norm(s[1], h[1]).pdf(1.0) for s in samples])
    assert kde_log_density(samples, point) == pytest.approx(math.log(dens))


def test_kde_scores_reward_samples_near_the_truth():
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(5, 2, 2))
    near = truth[None] + 0.1 * rng.normal(size=(50, 5, 2, 2))
    far = truth[None] + 3.0 + 0.1 * rng.normal(size=(50, 5, 2, 2))
    assert kde_scores(near, truth).shape == (5, 2)
    assert (kde_scores(near, truth) > kde_scores(far, truth)).all()


def test_resampling_picks_particles_by_weight():
    state = (torch.arange(6.0)[:, None],)           # rows k * B + b, K = 3, B = 2
    log_w = torch.tensor([[0.0, -1e9], [-1e9, 0.0], [-1e9, -1e9]])
    picked = resample(state, log_w, torch.Generator().manual_seed(0))[0].flatten().tolist()
    assert picked == [0.0, 3.0, 0.0, 3.0, 0.0, 3.0]


class _KnownWeights:
    """A stand-in model whose conditioning on a chunk gives fixed log-weights [K, 2]: sequence 0's are
    uniform; sequence 1's put all weight on particle 2.  Its state rows carry the particle's index."""
    z_dim, n_classes = 1, 0

    def __init__(self, K):
        self.K, self.calls = K, []

    def condition(self, batch, K, state=None):
        self.calls.append((batch["x"].shape[1], state))
        log_w = torch.zeros(K, 2)
        log_w[:, 1] = -1e9
        log_w[2, 1] = 0.0
        return (torch.arange(K * 2.0)[:, None],), log_w


def test_the_particle_filter_resamples_each_chunk_and_reports_its_ess():
    K = 8
    model = _KnownWeights(K)
    batch = {"x": torch.zeros(2, 12, 5), "u": torch.zeros(2, 12, 3)}
    state, ess = condition_by_filter(model, batch, K, 5, torch.Generator().manual_seed(0))
    assert [length for length, _ in model.calls] == [5, 5, 2]          # chunks of 5 steps, the last shorter
    assert model.calls[0][1] is None and model.calls[1][1] is not None  # each chunk starts where the last ended
    assert ess.shape == (3, 2)
    assert torch.allclose(ess[:, 0], torch.full((3,), float(K))) and torch.allclose(ess[:, 1], torch.ones(3))
    rows = state[0].view(K, 2)                                          # rows k * B + b
    assert (rows[:, 1] == 2 * 2 + 1).all()                              # sequence 1 keeps only particle 2
    assert kish_ess(torch.log(torch.tensor([[0.5], [0.5], [0.0]]))).item() == pytest.approx(2.0)


def test_a_filter_with_one_chunk_is_the_one_shot_conditioning():
    torch.manual_seed(0)
    model = DVRNN(5, 6, 4, 16, u_dim=148, emission="gaussian")
    batch = {"x": torch.randn(4, 6, 5), "u": torch.rand(4, 6, 148)}
    torch.manual_seed(1)
    state, ess = condition_by_filter(model, batch, 10, 6, torch.Generator().manual_seed(0))
    torch.manual_seed(1)
    one_state, log_w = model.condition(batch, 10)
    one_state = resample(one_state, log_w, torch.Generator().manual_seed(0))
    assert torch.allclose(state[0], one_state[0]) and torch.allclose(ess[0], kish_ess(log_w))
    torch.manual_seed(1)
    _, chunked = condition_by_filter(model, batch, 10, 2, torch.Generator().manual_seed(0))
    assert chunked.shape == (3, 4) and (chunked > 1.0).all()          # short chunks keep more particles alive


def test_closed_loop_continuation_stays_in_each_windows_arena():
    """Two windows continued at once, in arenas of different radii: each stays inside its own."""
    from pipeline.data import fly_geometry
    torch.manual_seed(0)
    model = DVRNN(5, 6, 4, 16, u_dim=148, emission="gaussian")
    stats_ = {"motion_mean": np.zeros(5, np.float32), "motion_std": np.full(5, 40.0, np.float32),
              "state_mean": np.zeros(4, np.float32), "state_std": np.ones(4, np.float32)}
    pose = torch.tensor([[1.0, 0.0, 0.0, 0.3, 0.3, 2.5, 0.9], [-3.0, 2.0, 1.0, 0.3, 0.3, 2.5, 0.9]])
    radius = torch.tensor([15.0, 5.0])
    out, ess = continue_tracks(model, Seed(torch.randn(4, 6, 5), torch.rand(4, 6, 148), pose.expand(2, -1, -1)),
                               Arena(radius, 30.0, stats_), 20, 10, torch.Generator().manual_seed(0))
    assert ess.shape == (1, 4) and ((1 <= ess) & (ess <= 10)).all()
    assert out.shape == (10, 20, 2, 2, 2)
    distance = out.norm(dim=-1)                                       # [K, H, window, fly]
    assert (distance[:, :, 0] <= 15.0).all() and (distance[:, :, 1] <= 5.0).all()
    assert (distance[:, :, 0] > 5.0).any()                            # the wide arena's flies do use their room
    assert len(fly_geometry.POSE) == 7


def test_the_baseline_classifier_never_reads_the_particle_history():
    """q(y_t | x) of the baseline: the same for every particle whatever it sampled before t, and
    equal with and without the true labels fed to the recurrence (no exposure bias possible)."""
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2, q_reads_state=False)
    batch = stroke_batch(B=2, T=8, rate=0.5)
    trace = model(batch, 6)
    assert (trace.log_qy[:, batch["mask"]].std(0) == 0).all()
    direct = torch.softmax(model.q_y_head(model.y_features(batch["x"])), -1)
    labelled = {**batch, "labels": torch.randint(0, 70, (2, 8))}
    assert torch.allclose(model.class_probabilities(labelled, 4), direct)
    assert torch.allclose(model.class_probabilities(labelled, 4, teacher_forced=True), direct)
    reads = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
    assert not torch.allclose(reads.class_probabilities(labelled, 4),
                              reads.class_probabilities(labelled, 4, teacher_forced=True))


def _layers_as_written(model, batch, K, eps, gumbel):
    """The DVRNN recurrence with each layer applied to its concatenated inputs, as eq. 5-6 read, and
    the given noise: what recur computes by parts."""
    x, u, mask, labels = batch["x"], batch.get("u"), batch["mask"], batch["labels"]
    B, T, _ = x.shape
    rep = lambda a: a.repeat(K, *([1] * (a.dim() - 1)))  # noqa: E731
    ex = rep(model.embed_x(x))
    eu = rep(model.embed_u(u)) if model.u_dim else None
    h = c = torch.zeros(K * B, model.hidden, dtype=x.dtype)
    out = {"ctx": [], "z": [], "q_loc": [], "q_scale": []}
    if model.n_classes:
        feats = rep(model.y_features(x, u))
        out.update(q_logits=[], y=[])
    for t in range(T):
        ctx = h if eu is None else torch.cat([h, eu[:, t]], -1)
        y_parts = []
        if model.n_classes:
            logits = model.q_y_head(torch.cat([feats[:, t], h], -1))
            y = torch.where(rep(mask)[:, t], rep(labels)[:, t].clamp(min=0), (logits + gumbel[t]).argmax(-1))
            y_parts = [model.embed_y(y)]
            out["q_logits"].append(logits)
            out["y"].append(y)
        loc, raw = model.encoder_z(torch.cat([ctx, ex[:, t], *y_parts], -1)).chunk(2, -1)
        scale = torch.nn.functional.softplus(raw) + 1e-3
        z = loc + eps[t] * scale
        for k, v in zip(("ctx", "z", "q_loc", "q_scale"), (ctx, z, loc, scale)):
            out[k].append(v)
        h, c = model.rnn(torch.cat([ex[:, t], model.embed_z(z), *y_parts], -1), (h, c))
    return {k: torch.stack(v, 1) for k, v in out.items()}, (h, c)


def _recurrence_case(kind, dtype=torch.float32):
    """A small DVRNN (stroke head; fly inputs; the VRNN), a batch with some labelled steps, K and noise."""
    torch.manual_seed(0)
    B, T, K = 3, 9, 4
    if kind == "stroke":
        model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
        batch = stroke_batch(B=B, T=T, rate=0.4)
    else:
        model = DVRNN(5, 6 if kind == "fly" else 0, 5, 16, u_dim=148, emission="gaussian", mixture=2)
        mask = torch.rand(B, T) < 0.4
        batch = {"x": torch.randn(B, T, 5), "u": torch.rand(B, T, 148), "mask": mask,
                 "labels": torch.where(mask, torch.randint(0, 6, (B, T)), -1)}
    model.to(dtype)
    batch = {k: v.to(dtype) if v.is_floating_point() else v for k, v in batch.items()}
    noise = {"eps": torch.randn(T, B * K, 5, dtype=dtype),
             "gumbel": -torch.rand(T, B * K, max(model.n_classes, 1), dtype=dtype).log().neg().log()}
    return model, batch, K, noise


KINDS = ["stroke", "fly", "vrnn"]


@pytest.mark.parametrize("kind", KINDS)
def test_the_recurrence_by_parts_equals_the_layers_as_written(kind):
    model, batch, K, noise = _recurrence_case(kind)
    got, (h, c) = model.recur(batch, K, noise=noise)
    expected, (h2, c2) = _layers_as_written(model, batch, K, noise["eps"], noise["gumbel"])
    assert set(got) == set(expected)
    if model.n_classes:
        assert torch.equal(got["y"], expected["y"])
    for key in set(expected) - {"y"}:
        assert torch.allclose(got[key], expected[key], atol=1e-5), key
    assert torch.allclose(h, h2, atol=1e-5) and torch.allclose(c, c2, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_the_written_out_backward_pass_equals_autograd_through_the_layers_as_written(kind):
    """Every parameter's gradient of a random linear function of all the recurrence's outputs (each
    step's context, z, q(z)'s location and scale, q(y)'s logits, the final state), in float64: the
    backward pass through time of models/recurrence.py against autograd on the layers as written."""
    model, batch, K, noise = _recurrence_case(kind, torch.float64)
    names, params = zip(*model.named_parameters())

    def gradients(out, state):
        g = torch.Generator().manual_seed(1)
        values = [out[k] for k in sorted(out) if k != "y"] + list(state)
        loss = sum((torch.randn(v.shape, generator=g, dtype=v.dtype) * v).sum() for v in values)
        return torch.autograd.grad(loss, params, allow_unused=True)

    got = gradients(*model.recur(batch, K, noise=noise))
    expected = gradients(*_layers_as_written(model, batch, K, noise["eps"], noise["gumbel"]))
    for name, p, a, b in zip(names, params, got, expected):
        a, b = (torch.zeros_like(p) if v is None else v for v in (a, b))
        assert torch.allclose(a, b, atol=1e-10, rtol=1e-8), name
    assert sum(int(a is not None and a.abs().sum() > 0) for a in got) > len(params) // 2

"""Every objective against exact enumeration on a model whose posterior is known in closed form."""
import math

import pytest
import torch

from pipeline import objectives as obj
from pipeline.objectives import Trace
from pipeline.train import Spec, train_step
from tests.tiny_model import Tiny, batch

X = 0.7


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_iwae_is_below_log_evidence_and_tightens_with_k():
    model = Tiny()
    log_px = model.log_evidence(X).item()
    gaps = []
    for K in (1, 10, 100, 1000):
        tr = model(batch(X, 2000), K)
        estimate = obj.iwae_bound(obj.log_weights(tr, batch(X, 2000)["mask"])).mean().item()
        gaps.append(log_px - estimate)
    assert all(g > -0.01 for g in gaps), gaps                      # a lower bound, up to MC error
    assert gaps[0] > gaps[1] > gaps[2] > gaps[3], gaps              # tighter as K grows
    assert gaps[0] > 0.1 and gaps[-1] < 0.02, gaps


def test_iwae_is_exact_when_q_is_the_posterior():
    model = Tiny()
    model.set_q_to_posterior(X)
    b = batch(X, 50)
    log_w = obj.log_weights(model(b, 5), b["mask"])
    assert torch.allclose(log_w, torch.full_like(log_w, model.log_evidence(X).item()), atol=1e-9)


def _wake_gradient(model, K, B=400):
    b = batch(X, B)
    tr = model(b, K)
    loss = obj.rws(tr, b["mask"]).inference
    (grad,) = torch.autograd.grad(loss, model.logits)
    return grad


def test_wake_phi_gradient_approaches_the_gradient_of_kl_p_q():
    model = Tiny()
    # d/dlogits KL(p(y|x) || q(y|x)) = q - p for a softmax q
    exact = torch.softmax(model.logits, 0).detach() - model.posterior_y(X).detach()
    errors = {K: (_wake_gradient(model, K) - exact).abs().max().item() for K in (2, 20, 2000)}
    assert errors[2000] < 0.02, errors
    assert errors[2000] < errors[20] < errors[2], errors


def test_unsupervised_limits_equal_rws():
    model = Tiny()
    b = batch(X, 64)
    tr = model(b, 8)
    none = torch.zeros_like(b["mask"])
    reference = obj.rws(tr, none)
    for objective in (obj.cws, obj.ssws):
        losses = objective(tr, none)
        assert torch.equal(losses.model, reference.model)
        assert torch.allclose(losses.inference, reference.inference, rtol=0, atol=1e-12)


def test_rws_ignores_labels():
    model = Tiny()
    b = batch(X, 4, labels=[0, 1, None, 2])
    tr = model(b, 8)
    assert torch.equal(obj.rws(tr, b["mask"]).inference, obj.rws(tr, torch.zeros_like(b["mask"])).inference)


def _hand_trace():
    """K = 2 particles, one sequence of T = 2 steps, numbers chosen by hand."""
    t = lambda rows: torch.tensor(rows, dtype=torch.float64)[:, None, :]  # noqa: E731
    log_qy = t([[-0.2, -1.5], [-0.9, -0.4]]).requires_grad_()
    return Trace(log_px=t([[-1.0, -2.0], [-1.5, -0.5]]), log_pz=t([[-0.3, -0.1], [-0.2, -0.6]]),
                 log_py=t([[-1.1, -1.1], [-1.1, -1.1]]), log_qz=t([[-0.4, -0.7], [-0.1, -0.3]]),
                 log_qy=log_qy, y=torch.zeros(2, 1, 2, dtype=torch.long))


def test_cws_with_every_step_labelled_is_teacher_forced_wake_phi():
    tr = _hand_trace()
    mask = torch.ones(1, 2, dtype=torch.bool)
    loss = obj.cws(tr, mask).inference.item()
    # by hand: log w_k = sum_t (px + pz + py - qz - qy); weights softmax over k; loss -sum_k w_k sum_t qy
    lw = [(-1.0 - 0.3 - 1.1 + 0.4 + 0.2) + (-2.0 - 0.1 - 1.1 + 0.7 + 1.5),
          (-1.5 - 0.2 - 1.1 + 0.1 + 0.9) + (-0.5 - 0.6 - 1.1 + 0.3 + 0.4)]
    w = [math.exp(v) / sum(math.exp(u) for u in lw) for v in lw]
    expected = -(w[0] * (-0.2 - 1.5) + w[1] * (-0.9 - 0.4))
    assert loss == pytest.approx(expected, abs=1e-12)
    # and theta's bound excludes the labels' q (eq. 8)
    lw_theta = [v + q for v, q in zip(lw, (-0.2 - 1.5, -0.9 - 0.4))]
    bound = math.log(sum(math.exp(v) for v in lw_theta) / 2)
    assert obj.cws(tr, mask).model.item() == pytest.approx(-bound, abs=1e-12)


def test_cws_differs_from_ssws_when_labelled_steps_mix_with_unlabelled_ones():
    tr = _hand_trace()
    mask = torch.tensor([[True, False]])     # step 1 labelled, step 2 sampled
    g_cws, = torch.autograd.grad(obj.cws(tr, mask).inference, tr.log_qy, retain_graph=True)
    g_ssws, = torch.autograd.grad(obj.ssws(tr, mask).inference, tr.log_qy)
    assert not torch.allclose(g_cws, g_ssws)


def test_static_all_or_nothing_labels_make_cws_equal_ssws():
    """T = 1, each example fully labelled or not: q(y_S|x) cancels in the CWS weights."""
    model = Tiny()
    b = batch(X, 6, labels=[0, None, 2, None, None, 1])
    tr = model(b, 16)
    g_cws, = torch.autograd.grad(obj.cws(tr, b["mask"]).inference, model.logits, retain_graph=True)
    g_ssws, = torch.autograd.grad(obj.ssws(tr, b["mask"]).inference, model.logits)
    assert torch.allclose(g_cws, g_ssws, atol=1e-12)


def test_enumerated_m1m2_elbo_is_exact():
    """With q(z|x,y) exact, the enumerated ELBO is log p(x) - KL(q(y|x) || p(y|x)) for every sample."""
    model = Tiny()
    model.set_q_to_posterior(X, z_only=True)
    b = batch(X, 7)
    losses = obj.enumerated_m1m2(model(b, 3, enumerate_y=True), b["mask"])
    q, p = torch.softmax(model.logits, 0), model.posterior_y(X)
    expected = model.log_evidence(X) - (q * (q.log() - p.log())).sum()
    assert losses.model.item() == pytest.approx(-expected.item(), abs=1e-9)


def test_enumerated_m1m2_supervised_term_scales_with_alpha():
    model = Tiny()
    model.set_q_to_posterior(X, z_only=True)
    b = batch(X, 2, labels=[1, 1])
    tr = model(b, 3, enumerate_y=True)
    diff = obj.enumerated_m1m2(tr, b["mask"], alpha=61.0).inference - \
        obj.enumerated_m1m2(tr, b["mask"], alpha=1.0).inference
    assert diff.item() == pytest.approx(-60.0 * torch.log_softmax(model.logits, 0)[1].item(), abs=1e-9)


def test_enumerated_cws_weights_equal_hand_computation():
    """Unlabelled: the target over classes is p(x, k, z_k) / q(z_k | x, k) normalised, with no q(y | x)
    in it; theta's bound is the log of the weights' sum.  Labelled: -log q(y | x) and the IWAE bound."""
    model = Tiny()
    b = batch(X, 2, labels=[None, 2])
    tr = model(b, 3, enumerate_y=True)
    losses = obj.enumerated_cws(tr, b["mask"])
    log_q = torch.log_softmax(model.logits, 0)
    s = torch.exp(model.log_s)
    z = tr.z[:, :, 0]                                         # [K, B]
    by_hand = []
    for col, y in ((0, torch.arange(3)), (1, torch.full((3,), 2))):
        zk = z[:, col]
        log_w = (torch.log_softmax(model.pi, 0)[y] + torch.distributions.Normal(0.0, 1.0).log_prob(zk)
                 + torch.distributions.Normal(model.a[y] + model.b * zk, s).log_prob(torch.tensor(X, dtype=torch.float64))
                 - torch.distributions.Normal(model.m[y], torch.exp(model.log_sd[y])).log_prob(zk))
        by_hand.append(log_w)
    target = torch.softmax(by_hand[0], 0)
    inference = (-(target * log_q).sum() - log_q[2]) / 2
    bound = (torch.logsumexp(by_hand[0], 0) + torch.logsumexp(by_hand[1], 0) - math.log(3)) / 2
    assert losses.inference.item() == pytest.approx(inference.item(), rel=1e-7)
    assert losses.model.item() == pytest.approx(-bound.item(), rel=1e-7)


def test_enumerated_cws_is_exact_when_q_z_is_the_posterior():
    """Then each class's weight is p(x, k): the target is p(y | x) exactly, phi_y's gradient is q - p
    with no Monte Carlo error, and theta's bound is log p(x)."""
    model = Tiny()
    model.set_q_to_posterior(X, z_only=True)
    b = batch(X, 5)
    losses = obj.enumerated_cws(model(b, 3, enumerate_y=True), b["mask"])
    assert losses.model.item() == pytest.approx(-model.log_evidence(X).item(), abs=1e-9)
    (grad,) = torch.autograd.grad(losses.inference, model.logits)
    exact = torch.softmax(model.logits, 0).detach() - model.posterior_y(X).detach()
    assert torch.allclose(grad, exact, atol=1e-9)


def test_reinforce_gradient_is_unbiased():
    model = Tiny()
    model.set_q_to_posterior(X, z_only=True)
    q = torch.softmax(model.logits, 0)
    exact_elbo = (q * (model.log_joint_y(X) - q.log())).sum()
    exact, = torch.autograd.grad(exact_elbo, model.logits)
    b = batch(X, 20000)
    estimate, = torch.autograd.grad(-obj.reinforce_m1m2(model(b, 4), b["mask"]).inference, model.logits)
    assert torch.allclose(estimate, exact, atol=0.03), (estimate, exact)


def test_train_step_keeps_each_loss_on_its_own_parameters():
    """The inference loss must not move theta or phi_z; the model loss must not move phi_y."""
    model = Tiny()
    groups = model.parameter_groups()
    before = {name: [p.detach().clone() for p in ps] for name, ps in groups.items()}
    opt_theta = torch.optim.SGD(groups["theta"], lr=0.1)
    opt_phi = torch.optim.SGD(groups["phi_z"] + groups["phi_y"], lr=0.1)

    def only_inference(tr, mask):
        losses = obj.cws(tr, mask)
        return obj.Losses(model=losses.model * 0.0, inference=losses.inference)

    spec = Spec(name="t", objective=only_inference, epochs=1, particles=4, lr=0.1, seed=0)
    train_step(model, spec, batch(X, 8), opt_theta, opt_phi, groups)
    changed = {name: any(not torch.equal(a, p) for a, p in zip(before[name], ps)) for name, ps in groups.items()}
    assert changed == {"theta": False, "phi_z": False, "phi_y": True}


# ---------------------------------------------------------------- theta's gradient with a q that reads theta
THETA_OBJECTIVES = [obj.cws, obj.ssws, obj.ssws_normalised, obj.classifier, obj.iwae]


@pytest.mark.parametrize("objective", THETA_OBJECTIVES, ids=lambda f: f.__name__)
def test_the_model_loss_gradient_is_wake_theta_with_q_held_fixed(objective):
    """q(y) depends on theta (as q(y_t | h_{t-1}) does in the DVRNN); theta's gradient must still be
    -sum_k w~_k grad log p(x, y^k, z^k), the wake-theta gradient with the samples and q fixed."""
    model = Tiny(q_reads_theta=True)
    b = batch(X, 64, labels=[0, None, 2, None] * 16)
    tr = model(b, 8)
    theta = model.parameter_groups()["theta"]
    got = torch.autograd.grad(objective(tr, b["mask"]).model, theta, retain_graph=True)
    log_p = (tr.log_px + tr.log_pz + tr.log_py).sum(-1)
    weights = torch.softmax(obj.log_weights(tr, b["mask"]).detach(), 0)
    expected = torch.autograd.grad(-(weights * log_p).sum(0).mean(), theta, retain_graph=True)
    for g, e in zip(got, expected):
        assert torch.allclose(g, e, atol=1e-12), (g, e)
    # the test model can show the bug: with log q(y) left attached, theta's gradient differs
    biased = torch.autograd.grad(-obj.iwae_bound(obj.log_weights(tr, b["mask"])).mean(), theta)
    assert not torch.allclose(biased[1], expected[1], atol=1e-3)


def test_the_reinforce_model_loss_treats_q_as_a_fixed_proposal_too():
    model = Tiny(q_reads_theta=True)
    b = batch(X, 64)
    tr = model(b, 4)
    theta = model.parameter_groups()["theta"]
    got = torch.autograd.grad(obj.reinforce_m1m2(tr, b["mask"]).model, theta, retain_graph=True)
    expected = torch.autograd.grad(-(tr.log_px + tr.log_pz + tr.log_py).sum(-1).mean(), theta)
    assert all(torch.allclose(g, e, atol=1e-12) for g, e in zip(got, expected))


# ---------------------------------------------------------------- both SSWS forms, by hand
def _two_sequences():
    """K = 2 particles, B = 2 sequences of T = 2 steps: sequence 0 has step 1 labelled, sequence 1 none."""
    t = lambda rows: torch.tensor(rows, dtype=torch.float64)  # noqa: E731   [K][B][T]
    tr = Trace(log_px=t([[[-1.0, -2.0], [-0.7, -1.1]], [[-1.5, -0.5], [-1.3, -0.2]]]),
               log_pz=t([[[-0.3, -0.1], [-0.4, -0.4]], [[-0.2, -0.6], [-0.1, -0.9]]]),
               log_py=t([[[-1.1, -1.1], [-1.1, -1.1]], [[-1.1, -1.1], [-1.1, -1.1]]]),
               log_qz=t([[[-0.4, -0.7], [-0.2, -0.3]], [[-0.1, -0.3], [-0.6, -0.5]]]),
               log_qy=t([[[-0.2, -1.5], [-0.3, -0.8]], [[-0.9, -0.4], [-1.2, -0.6]]]),
               y=torch.zeros(2, 2, 2, dtype=torch.long))
    return tr, torch.tensor([[True, False], [False, False]])


def _by_hand(tr, mask):
    """Per sequence b: (sum over U of wake-phi with normalised weights, sum over S of log q averaged over k, |U|, |S|)."""
    out = []
    for b in range(2):
        labelled = [t for t in range(2) if mask[b, t]]
        unlabelled = [t for t in range(2) if not mask[b, t]]
        lw = [sum(float(tr.log_px[k, b, t] + tr.log_pz[k, b, t] + tr.log_py[k, b, t] - tr.log_qz[k, b, t])
                  for t in range(2)) - sum(float(tr.log_qy[k, b, t]) for t in unlabelled) for k in range(2)]
        w = [math.exp(v) / sum(math.exp(u) for u in lw) for v in lw]
        l_q = -sum(w[k] * sum(float(tr.log_qy[k, b, t]) for t in unlabelled) for k in range(2))
        l_s = -sum(float(tr.log_qy[k, b, t]) for k in range(2) for t in labelled) / 2
        out.append((l_q, l_s, len(unlabelled), len(labelled)))
    return out


def test_ssws_as_written_sums_both_terms_over_steps():
    tr, mask = _two_sequences()
    parts = _by_hand(tr, mask)
    expected = sum(l_q + l_s for l_q, l_s, _, _ in parts) / 2
    assert obj.ssws(tr, mask).inference.item() == pytest.approx(expected, abs=1e-12)


def test_normalised_ssws_divides_each_term_by_its_set_size_where_the_set_is_not_empty():
    tr, mask = _two_sequences()
    parts = _by_hand(tr, mask)
    expected = sum(l_q / n_u + (l_s / n_s if n_s else 0.0) for l_q, l_s, n_u, n_s in parts) / 2
    assert obj.ssws_normalised(tr, mask).inference.item() == pytest.approx(expected, abs=1e-12)
    assert obj.ssws_normalised(tr, mask).inference.item() != pytest.approx(obj.ssws(tr, mask).inference.item())
    every = torch.ones_like(mask)                   # all labelled: only L_s / |S| remains
    l_s = [-float(tr.log_qy[:, b].sum(-1).mean()) / 2 for b in range(2)]
    assert obj.ssws_normalised(tr, every).inference.item() == pytest.approx(sum(l_s) / 2, abs=1e-12)


@pytest.mark.parametrize("profile", ["smoke", "default", "paper"])
def test_every_method_of_the_registry_names_an_objective_and_binds_only_its_arguments(profile):
    """Each Method's objective is in OBJECTIVES, binds arguments that objective takes, from keys every
    profile sets; and its Spec is that objective with them bound (alpha: M1+M2 and REINFORCE)."""
    import inspect

    from pipeline import config, registry, sized
    from tests.conftest import ROOT
    params = config.load(ROOT / "params.yaml")
    for experiment in registry.EXPERIMENTS.values():
        cfg = {"epochs": 1, **params[experiment.name], **sized.profile(profile)[experiment.name]}   # flies: steps
        for name, method in experiment.methods.items():
            fn = obj.OBJECTIVES[method.objective]
            assert {arg for arg, _ in method.bind} <= set(list(inspect.signature(fn).parameters)[2:]), name
            spec = Spec.of(method, cfg, 0, name)
            bound = getattr(spec.objective, "keywords", {})
            assert getattr(spec.objective, "func", spec.objective) is fn
            assert bound == {arg: cfg[v] if isinstance(v, str) else v for arg, v in method.bind}, name
            assert spec.use_labels == method.uses_labels and spec.particles == (method.particles or cfg["particles"])
    reinforce = registry.EXPERIMENTS["handwriting"].methods["reinforce"]
    assert Spec.of(reinforce, {**cfg, "alpha": 0.3}, 0, "t").objective.keywords == {"alpha": 0.3}


# ---------------------------------------------------------------- the two halves of enumerating y
def _both(model, b, K):
    """A trace of K sampled particles followed by one per class (M2's forward with enumerate_y="both")."""
    sampled, enumerated = model(b, K), model(b, 3, enumerate_y=True)
    return Trace(**{f: torch.cat([getattr(sampled, f), getattr(enumerated, f)])
                    for f in ("log_px", "log_pz", "log_py", "log_qz", "log_qy", "y", "z")})


def _log_w_by_hand(model, y, z, with_qy):
    """log p(x, y, z) - log q(z | x, y) [- log q(y | x)] of each particle, from the Tiny model's formulas."""
    normal = torch.distributions.Normal
    log_w = (torch.log_softmax(model.pi, 0)[y] + normal(0.0, 1.0).log_prob(z)
             + normal(model.a[y] + model.b * z, torch.exp(model.log_s)).log_prob(torch.tensor(X, dtype=torch.float64))
             - normal(model.m[y], torch.exp(model.log_sd[y])).log_prob(z))
    return log_w - torch.log_softmax(model.logits, 0)[y] * with_qy


def _halves_by_hand(model, tr, K):
    """Per column (unlabelled, labelled with 2): CWS's sampled bound and wake-phi loss, and the enumerated
    bound and wake-phi loss, each computed by hand from the trace's y and z."""
    log_q = torch.log_softmax(model.logits, 0)
    y, z = tr.y[..., 0], tr.z[:, :, 0]
    out = {"iwae": [], "cws_phi": [], "exact_bound": [], "exact_phi": []}
    for col, labelled in ((0, False), (1, True)):
        ys, zs, ye, ze = y[:K, col], z[:K, col], y[K:, col], z[K:, col]
        sampled = _log_w_by_hand(model, ys, zs, with_qy=not labelled)           # IWAE: q(y_S) left out
        out["iwae"].append(torch.logsumexp(sampled, 0) - math.log(K))
        caffeinated = _log_w_by_hand(model, ys, zs, with_qy=True)               # eq. 15: q(y_S) in the weight
        out["cws_phi"].append(-(torch.softmax(caffeinated, 0) * log_q[ys]).sum())
        exact = _log_w_by_hand(model, ye, ze, with_qy=False)
        out["exact_bound"].append(torch.logsumexp(exact, 0) - (math.log(3) if labelled else 0.0))
        out["exact_phi"].append(-log_q[2] if labelled else -(torch.softmax(exact, 0) * log_q).sum())
    return {k: torch.stack(v).mean() for k, v in out.items()}


def test_phi_enumerated_cws_is_the_exact_target_for_phi_and_cws_bound_for_theta():
    model, K = Tiny(), 4
    b = batch(X, 2, labels=[None, 2])
    tr = _both(model, b, K)
    assert tr.y[K:, 0, 0].tolist() == [0, 1, 2] and tr.y[:, 1, 0].tolist() == [2] * (K + 3)
    losses = obj.phi_enumerated_cws(tr, b["mask"], classes=3)
    hand = _halves_by_hand(model, tr, K)
    assert losses.model.item() == pytest.approx(-hand["iwae"].item(), rel=1e-7)
    assert losses.inference.item() == pytest.approx(hand["exact_phi"].item(), rel=1e-7)


def test_theta_enumerated_cws_is_the_exact_bound_for_theta_and_cws_target_for_phi():
    model, K = Tiny(), 4
    b = batch(X, 2, labels=[None, 2])
    tr = _both(model, b, K)
    losses = obj.theta_enumerated_cws(tr, b["mask"], classes=3)
    hand = _halves_by_hand(model, tr, K)
    assert losses.model.item() == pytest.approx(-hand["exact_bound"].item(), rel=1e-7)
    assert losses.inference.item() == pytest.approx(hand["cws_phi"].item(), rel=1e-7)


def test_the_halves_recombine_into_enumerated_cws_and_cws():
    """phi's half + theta's half of the same trace = enumerated CWS; the other halves = CWS."""
    model = Tiny()
    b = batch(X, 3, labels=[None, 1, None])
    tr = _both(model, b, 5)
    sampled, enumerated = obj.split_particles(tr, 3)
    phi, theta = obj.phi_enumerated_cws(tr, b["mask"], 3), obj.theta_enumerated_cws(tr, b["mask"], 3)
    both, plain = obj.enumerated_cws(enumerated, b["mask"]), obj.cws(sampled, b["mask"])
    assert torch.equal(phi.inference, both.inference) and torch.equal(theta.model, both.model)
    assert torch.equal(phi.model, plain.model) and torch.equal(theta.inference, plain.inference)


# ---------------------------------------------------------------- two steps: REINFORCE's reward to go, CWS against SSWS
CHAIN_X = torch.tensor([0.4, -0.9], dtype=torch.float64)


def test_reinforce_per_step_gradient_is_unbiased_when_q_reads_the_history():
    """The reward-to-go estimator against the exact ELBO gradient of a two-step chain (enumeration)."""
    from tests.tiny_model import TinyChain
    model = TinyChain(reads_history=True)
    exact = torch.autograd.grad(model.exact_elbo(CHAIN_X), model.phi())
    none = torch.full((40000, 2), -1)
    loss = obj.reinforce_m1m2(model(CHAIN_X, none, 2), none >= 0).inference
    estimate = torch.autograd.grad(-loss, model.phi())
    for e, x in zip(estimate, exact):
        assert torch.allclose(e, x, atol=0.03), (e, x)


def test_the_reward_to_go_test_can_fail():
    """Weighting each step's score by the reward *so far* (a wrong causality) is biased on the same chain."""
    from tests.tiny_model import TinyChain
    model = TinyChain(reads_history=True)
    exact = torch.autograd.grad(model.exact_elbo(CHAIN_X), model.phi())
    none = torch.full((40000, 2), -1)
    tr = model(CHAIN_X, none, 2)
    steps = tr.log_px - tr.log_qy
    so_far = steps.cumsum(-1)
    baseline = so_far.flip(0)                                    # K = 2: the other particle
    wrong = steps.sum(-1) + ((so_far - baseline).detach() * tr.log_qy).sum(-1)
    estimate = torch.autograd.grad(wrong.mean(), model.phi())
    assert max((e - x).abs().max().item() for e, x in zip(estimate, exact)) > 0.1


@pytest.mark.parametrize("labelled_step", [0, 1])
def test_cws_and_ssws_phi_gradients_are_equal_when_q_does_not_read_the_particles_history(labelled_step):
    """With q(y_t | x) alone, q(y_S) is the same for every particle and cancels from CWS's normalised
    weights (eq. 15), leaving wake-phi on y_U minus log q(y_S): SSWS's eq. 14.  When q(y_2) reads the
    particle's y_1, q(y_S) differs between particles and the two gradients differ.  The paper's
    CWS-SSWS difference comes from there, and from nothing else."""
    from tests.tiny_model import TinyChain
    labels = torch.full((64, 2), -1)
    labels[:, labelled_step] = torch.arange(64) % 3
    for reads in (False, True):
        equal = not (reads and labelled_step == 1)   # only a labelled y_2 has a q that reads a sampled y_1
        torch.manual_seed(1)
        model = TinyChain(reads_history=reads)
        tr = model(CHAIN_X, labels, 4)
        mask = labels >= 0
        g_cws = torch.autograd.grad(obj.cws(tr, mask).inference, model.phi(), retain_graph=True, allow_unused=True)
        g_ssws = torch.autograd.grad(obj.ssws(tr, mask).inference, model.phi(), allow_unused=True)
        gap = max((a - b).abs().max().item() for a, b in zip(g_cws, g_ssws) if a is not None)
        assert (gap < 1e-12) if equal else (gap > 1e-3), (reads, gap)

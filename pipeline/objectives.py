"""Training objectives as pure functions of per-step log-probabilities.

Every model returns a `Trace` of [K, B, T] tensors for K particles, a batch of B sequences
and T steps (T = 1 for static models) plus a label mask [B, T] (True = labelled step, whose
y is teacher-forced to the label).  Each objective returns two losses:

* `model`: minimised over the generative parameters theta and the z-inference parameters
  phi_z (the IWAE bound, eq. 8; z is reparameterised, so phi_z gets a pathwise gradient -
  the paper trains q(z | y, x) by IWAE for exactly this reason);
* `inference`: minimised over the y-inference parameters phi_y (wake-phi, SSWS, CWS, ...).

The training loop differentiates each loss only with respect to its own parameters, so a
path from one loss into the other group's parameters never leaks into an update.
"""
import dataclasses
import functools
import math
from dataclasses import dataclass

import torch


@dataclass
class Trace:
    """Per-step log-densities [K, B, T] of one pass, plus the particles' samples."""
    log_px: torch.Tensor   # log p(x_t | ...)
    log_pz: torch.Tensor   # log p(z_t | ...)
    log_py: torch.Tensor   # log p(y_t | ...), at the sampled or teacher-forced y_t
    log_qz: torch.Tensor   # log q(z_t | ...), at the reparameterised sample
    log_qy: torch.Tensor   # log q(y_t | ...), at the sampled or teacher-forced y_t
    y: torch.Tensor        # [K, B, T] long
    z: torch.Tensor = None  # [K, B, T, Z] or None
    state: tuple = None     # the recurrence's final state (rows k * B + b), sequence models only


@dataclass
class Losses:
    model: torch.Tensor      # minimised over theta and phi_z
    inference: torch.Tensor  # minimised over phi_y


def log_weights(tr, mask, labels_in_q=False):
    """log w [K, B] = log p(x, y, z) - log q(y_U, z | x, y_S)   (eq. 8, 10).

    With labels_in_q the labelled steps' q(y_S | ...) joins the denominator (eq. 15, CWS).
    """
    log_p = tr.log_px + tr.log_pz + tr.log_py
    log_qy = tr.log_qy if labels_in_q else tr.log_qy.masked_fill(mask, 0.0)
    return (log_p - tr.log_qz - log_qy).sum(-1)


def iwae_bound(log_w):
    """Per-example IWAE estimate [B]: log (1/K) sum_k w_k   (eq. 2, 8)."""
    return torch.logsumexp(log_w, 0) - math.log(log_w.shape[0])


def kish_ess(log_w):
    """Kish's effective sample size of each column's normalised weights: [K, B] -> [B]."""
    w = torch.softmax(log_w, 0)
    return 1.0 / (w ** 2).sum(0)


def model_loss(tr, mask):
    """Minus the IWAE bound (eq. 8), for theta and phi_z, with q(y) a fixed proposal.

    log q(y_U) stays in the weights but enters detached.  y is sampled, not reparameterised, and
    in a sequence model q(y_t) reads the generative state h_{t-1}, which depends on theta; left
    attached, log q(y) would add sum_k w~_k grad log q(y_U^k | h^k) to theta's gradient with no
    score-function term to balance it, pushing the model to make q's own high-weight samples
    less likely.  Detached, theta's gradient is RWS's wake-theta gradient (Le et al. 2018),
    sum_k w~_k grad log p(x, y^k, z^k), plus the pathwise gradient of the reparameterised z.
    Detaching log q(y) here, rather than h where it feeds q, keeps the fix in the objective, so
    it holds for every model whatever its q reads.
    """
    detached = dataclasses.replace(tr, log_qy=tr.log_qy.detach())
    return -iwae_bound(log_weights(detached, mask)).mean()


def wake_phi(log_w, log_q):
    """Per sequence [B]: -sum_k w~_k log q_k, weights normalised over particles and detached (eq. 9, 15)."""
    return -(torch.softmax(log_w.detach(), 0) * log_q).sum(0)


def _unlabelled(tr, mask):
    return tr.log_qy.masked_fill(mask, 0.0).sum(-1)


def _labelled(tr, mask):
    return tr.log_qy.masked_fill(~mask, 0.0).sum(-1)


def iwae(tr, mask):
    """theta, phi_z: IWAE; phi_y: nothing (a model whose y is always given)."""
    loss = model_loss(tr, mask)
    return Losses(model=loss, inference=loss.new_zeros(()))


def rws(tr, mask):
    """Reweighted wake-sleep, unsupervised: labels are ignored (S is empty)."""
    none = torch.zeros_like(mask)
    return ssws(tr, none)


def ssws(tr, mask):
    """Semi-supervised wake-sleep as written (eq. 14): wake-phi on y_U (eq. 9) minus E_q[log q(y_S | ...)]
    (eq. 12), each summed over a sequence's steps and averaged over sequences."""
    supervised = _labelled(tr, mask).mean(0)
    return Losses(model=model_loss(tr, mask),
                  inference=(wake_phi(log_weights(tr, mask), _unlabelled(tr, mask)) - supervised).mean())


def ssws_normalised(tr, mask):
    """SSWS with each sequence's terms normalised by the sizes of its sets (sec. 3.3.2):
    L_q / |U_b| + L_s / |S_b| per sequence, each term only where its set is non-empty, averaged
    over the batch.  A sequence then weighs the same whatever its supervision rate."""
    n_s = mask.sum(-1)
    n_u = mask.shape[-1] - n_s
    l_q = wake_phi(log_weights(tr, mask), _unlabelled(tr, mask))
    l_s = -_labelled(tr, mask).mean(0)
    per_sequence = torch.where(n_u > 0, l_q / n_u.clamp(min=1), 0.0) + torch.where(n_s > 0, l_s / n_s.clamp(min=1), 0.0)
    return Losses(model=model_loss(tr, mask), inference=per_sequence.mean())


def cws(tr, mask):
    """Caffeinated wake-sleep: one wake-phi loss over all steps, labels teacher-forced (eq. 15)."""
    return Losses(model=model_loss(tr, mask),
                  inference=wake_phi(log_weights(tr, mask, labels_in_q=True), tr.log_qy.sum(-1)).mean())


def classifier(tr, mask):
    """Supervised baseline: IWAE for theta and phi_z, cross-entropy on the labelled steps for phi_y."""
    return Losses(model=model_loss(tr, mask), inference=-_labelled(tr, mask).mean(0).mean())


def reinforce_m1m2(tr, mask, alpha=1.0):
    """M1+M2 for sampled discrete y: ELBO with a score-function gradient for q(y_U), plus
    alpha * log q(y_S | x)   (eq. 3, 4).  Each step's score term grad log q(y_t) is weighted by its
    reward to go, sum_{s >= t} of the steps' single-sample ELBO terms (y_t cannot change earlier
    terms), minus the mean of the other particles' reward to go at t (a leave-one-out baseline).
    theta's loss is the single-sample ELBO with q(y) a fixed proposal, as in model_loss."""
    steps = tr.log_px + tr.log_pz + tr.log_py - tr.log_qz - tr.log_qy.masked_fill(mask, 0.0)   # [K, B, T]
    to_go = steps.flip(-1).cumsum(-1).flip(-1)
    K = steps.shape[0]
    baseline = (to_go.sum(0, keepdim=True) - to_go) / (K - 1) if K > 1 else to_go.mean()
    score = ((to_go - baseline).detach() * tr.log_qy.masked_fill(mask, 0.0)).sum(-1)
    surrogate = steps.sum(-1) + score
    theta_elbo = log_weights(dataclasses.replace(tr, log_qy=tr.log_qy.detach()), mask)
    return Losses(model=-theta_elbo.mean(),
                  inference=-surrogate.mean() - alpha * _labelled(tr, mask).mean(0).mean())


def enumerated_m1m2(tr, mask, alpha=1.0):
    """M1+M2 of Kingma et al. (2014) with y summed out exactly (static models).

    The trace holds one particle per class (y_k = k) for unlabelled examples and the label
    for labelled ones.  ELBO_u = sum_k q(k | x) [log p(x, k, z_k) - log q(z_k | x, k) - log q(k | x)];
    ELBO_s is the mean over particles of the labelled ELBO.  (M2's q(y | x) does not depend on
    theta, so nothing here needs model_loss's detaching.)
    """
    log_w = log_weights(tr, mask)                          # [K, B]
    labelled = mask.any(-1)                                # [B]
    q_y = torch.exp(tr.log_qy.sum(-1))                     # [K, B]
    weights = torch.where(labelled, torch.full_like(q_y, 1.0 / q_y.shape[0]), q_y)
    elbo = (weights * log_w).sum(0)
    supervised = _labelled(tr, mask).mean(0).mean()
    return Losses(model=-elbo.mean(), inference=-elbo.mean() - alpha * supervised)


def enumerated_cws(tr, mask):
    """CWS with y summed out instead of sampled (static models; the trace of enumerated_m1m2: one
    particle per class for unlabelled examples, K copies of the label for labelled ones).

    Unlabelled: the wake-phi target over the classes is each class's weight p(x, k, z_k) / q(z_k | x, k),
    normalised over the classes (no q(y | x) in it: y is not sampled), and theta's bound is the log
    of their sum, exact in y with one z per class.  Labelled: as CWS with sampled y (eq. 15), the
    target is the label, -log q(y_S | x), and theta's bound is the IWAE bound over the K copies.
    """
    labelled = mask.any(-1)                                                  # [B]
    log_w = log_weights(dataclasses.replace(tr, log_qy=torch.zeros_like(tr.log_qy)), mask)   # p / q(z): [K, B]
    bound = torch.logsumexp(log_w, 0) - torch.where(labelled, math.log(log_w.shape[0]), 0.0)
    return Losses(model=-bound.mean(), inference=wake_phi(log_w, tr.log_qy.sum(-1)).mean())


def split_particles(tr, classes):
    """(sampled, enumerated): a trace of K sampled particles followed by `classes` enumerated ones (a
    static model's forward with enumerate_y="both") cut into the two traces."""
    def cut(part):
        return dataclasses.replace(tr, **{f.name: getattr(tr, f.name)[part] for f in dataclasses.fields(tr)
                                          if isinstance(getattr(tr, f.name), torch.Tensor)})
    return cut(slice(None, -classes)), cut(slice(-classes, None))


def phi_enumerated_cws(tr, mask, classes=10):
    """CWS with only wake-phi's target exact (the trace of split_particles).  phi_y: enumerated_cws's
    loss on the enumerated particles, -sum_k w~_k log q(k | x) with w_k = p(x, k, z_k) / q(z_k | x, k)
    (labelled: -log q(y_S | x)); theta, phi_z: CWS's IWAE bound with y sampled (model_loss, eq. 8)."""
    sampled, enumerated = split_particles(tr, classes)
    return Losses(model=model_loss(sampled, mask), inference=enumerated_cws(enumerated, mask).inference)


def theta_enumerated_cws(tr, mask, classes=10):
    """CWS with only theta's bound exact in y (the trace of split_particles).  theta, phi_z:
    enumerated_cws's bound on the enumerated particles, log sum_k p(x, k, z_k) / q(z_k | x, k)
    (labelled: the IWAE bound over copies of the label); phi_y: CWS's wake-phi with y sampled (eq. 15)."""
    sampled, enumerated = split_particles(tr, classes)
    return Losses(model=enumerated_cws(enumerated, mask).model, inference=cws(sampled, mask).inference)


# Every method's objective, by the name its entry in the registry (methods.py: Method.objective) gives.
OBJECTIVES = {
    "cws": cws,
    "ssws": ssws,
    "ssws_normalised": ssws_normalised,
    "rws": rws,
    "iwae": iwae,
    "classifier": classifier,
    "reinforce": reinforce_m1m2,
    "m1m2": enumerated_m1m2,
    "cws_enumerated": enumerated_cws,
    "cws_phi_enumerated": phi_enumerated_cws,
    "cws_theta_enumerated": theta_enumerated_cws,
}


def of(method, cfg):
    """The objective (trace, mask) -> Losses of a methods.Method: OBJECTIVES[method.objective] with the
    arguments the Method binds, each a number or the value of that key in the experiment's settings cfg."""
    fn = OBJECTIVES[method.objective]
    bound = {arg: cfg[value] if isinstance(value, str) else value for arg, value in method.bind}
    return functools.partial(fn, **bound) if bound else fn

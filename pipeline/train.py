"""The one training loop: device, seeds, two optimisers, checkpoints, metrics, progress, NaN guard.

theta (generative) and phi (inference) parameters have their own Adam optimisers.  Each step
draws K particles once; the objective turns that trace into a `model` loss (differentiated
w.r.t. theta and phi_z) and an `inference` loss (w.r.t. phi_y), and both optimisers step on
gradients from the same particles (eq. 13-14, 16-17).
"""
import ctypes
import logging
import math
import os
import random
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from tqdm import tqdm

from pipeline import PipelineError, objectives
from pipeline.io import atomic_path

log = logging.getLogger(__name__)
TRACE_TERMS = ("log_px", "log_pz", "log_py", "log_qz", "log_qy")


def pick_device(name="auto"):
    if name == "cuda" and not torch.cuda.is_available():
        raise PipelineError("params.yaml: device is 'cuda' but no CUDA device is visible; use 'auto' or 'cpu'")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def tune_cpu():
    """Process settings that make CPU training faster without changing what it computes:

    * denormal floats flush to zero (torch.set_flush_denormal): some MNIST runs' weights drift into
      the denormal range, where every multiply is tens of times slower; flushing halved those runs'
      time with byte-identical metrics;
    * glibc's malloc serves every tensor from its heap and keeps what is freed there (mallopt:
      M_MMAP_MAX = 0, M_TRIM_THRESHOLD = 2 GiB).  By default each tensor over a few MB is a fresh
      mmap whose pages fault in on first touch, and a training step allocates many: 10-20% of a
      sequence model's step at the default sizes.  A no-op where the C library is not glibc.

    Every stage calls it (runs.stage_device), and benchmarks/steps.py for both steps it compares."""
    torch.set_flush_denormal(True)
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(libc.mallopt(m_mmap_max, 0)) and bool(libc.mallopt(m_trim_threshold, 2 ** 31 - 1))


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)


def epoch_rng(seed, epoch):
    """A generator for one epoch's data order: reproducible after a resume."""
    return np.random.default_rng([seed, epoch])


@dataclass
class Spec:
    """How to train one run: the objective and the loop's knobs."""
    name: str                      # stage name, for messages, e.g. train_mnist@cws-0
    objective: callable            # (trace, mask) -> Losses
    epochs: int
    particles: int
    lr: float
    seed: int
    enumerate_y: object = False    # True: one particle per class (M1+M2 on a static model); "both": K sampled, then one per class
    use_labels: bool = True        # False: the objective never sees a label (RWS, M1, ...)
    grad_clip: float = 0.0         # 0 = off
    lr_decay: str = "constant"     # constant | cosine: lr falls to 0 along a half cosine over the run's steps
    kl_warmup: float = 0.0         # KL annealing: z's log-densities weighted from 0 up to 1 over this fraction of the steps

    @classmethod
    def of(cls, method, cfg, seed, name, particles=None):
        """The Spec of a run of `method` (a methods.Method) with an experiment's settings cfg: the Method's
        objective (objectives.of), label use and enumeration; K = `particles`, else the Method's own, else
        cfg's; epochs, lr, grad_clip and lr_decay from cfg."""
        return cls(name=name, objective=objectives.of(method, cfg), epochs=cfg["epochs"],
                   particles=particles or method.particles or cfg["particles"], lr=cfg["lr"], seed=seed,
                   enumerate_y=method.enumerate_y, use_labels=method.uses_labels,
                   grad_clip=cfg.get("grad_clip", 0.0), lr_decay=cfg.get("lr_decay", "constant"),
                   kl_warmup=cfg.get("kl_warmup", 0.0))


    def scaled(self, budget):
        """The same run at `budget` times the epochs (at least one), on the same schedule's shape."""
        return self if budget == 1 else replace(self, epochs=max(1, int(self.epochs * budget + 0.5)))


def _check_finite(spec, trace, losses, epoch, step):
    values = [getattr(trace, t) for t in TRACE_TERMS] + [losses.model, losses.inference]
    if torch.isfinite(torch.stack([v.detach().sum() for v in values])).all():   # one check, one sync
        return
    for term in TRACE_TERMS:
        value = getattr(trace, term)
        if not torch.isfinite(value).all():
            bad = "nan" if torch.isnan(value).any() else "inf"
            raise PipelineError(f"{spec.name}: {term} became {bad} at epoch {epoch}, step {step}; "
                                "lower the learning rate or check the input data")
    for term in ("model", "inference"):
        value = getattr(losses, term)
        if not torch.isfinite(value).all():
            raise PipelineError(f"{spec.name}: the {term} loss became {value.item()} at epoch {epoch}, "
                                f"step {step}; lower the learning rate or check the input data")


def _apply(loss, params):
    if not params or not loss.requires_grad:
        return
    grads = torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True)
    for p, g in zip(params, grads):
        p.grad = None if g is None else g


def kl_weight(spec, progress):
    """KL annealing (Bowman et al. 2016; Deep-Writing anneals its KL too): the weight of z's
    log-densities at `progress` (0 to 1) through the run's steps, rising linearly from 0 to 1 over
    spec.kl_warmup of them; 1 without a warm-up."""
    return min(1.0, progress / spec.kl_warmup) if spec.kl_warmup else 1.0


def annealed(trace, weight):
    """The trace with log p(z_t | ...) and log q(z_t | ...) times `weight`: every objective's weights
    then carry weight * (log p(z) - log q(z)), the ELBO's KL term scaled (weight 1: the trace itself)."""
    return trace if weight == 1.0 else replace(trace, log_pz=weight * trace.log_pz, log_qz=weight * trace.log_qz)


def train_step(model, spec, batch, opt_theta, opt_phi, groups, at=(0, 0), progress=1.0):
    """One update of both optimisers on one set of particles; returns the losses as floats.
    at: (epoch, step), for the message of a loss that is not finite; progress: how far through the
    run's steps (0 to 1), for KL annealing."""
    if not spec.use_labels:             # unsupervised: no label may reach the model, not even by teacher forcing
        batch = {**batch, "labels": torch.full_like(batch["labels"], -1), "mask": torch.zeros_like(batch["mask"])}
    extra = {"enumerate_y": spec.enumerate_y} if spec.enumerate_y else {}
    trace = annealed(model(batch, spec.particles, **extra), kl_weight(spec, progress))
    losses = spec.objective(trace, batch["mask"])
    _check_finite(spec, trace, losses, *at)
    _apply(losses.model, groups["theta"] + groups["phi_z"])
    _apply(losses.inference, groups["phi_y"])
    if spec.grad_clip:
        for params in groups.values():
            if params:
                torch.nn.utils.clip_grad_norm_(params, spec.grad_clip)
    opt_theta.step()
    opt_phi.step()
    opt_theta.zero_grad(set_to_none=True)
    opt_phi.zero_grad(set_to_none=True)
    return {"loss_model": losses.model.item(), "loss_inference": losses.inference.item()}


def optimisers(groups, lr):
    """Adam for theta and Adam for phi (phi_z and phi_y), each updating all of its parameters in one
    fused operation rather than a loop over tensors."""
    phi = groups["phi_z"] + groups["phi_y"] or [torch.zeros(0, requires_grad=True)]
    return torch.optim.Adam(groups["theta"], lr=lr, fused=True), torch.optim.Adam(phi, lr=lr, fused=True)


def save_checkpoint(path, model, opt_theta, opt_phi, epoch, history):
    state = {"model": model.state_dict(), "opt_theta": opt_theta.state_dict(),
             "opt_phi": opt_phi.state_dict(), "epoch": epoch, "history": history,
             "torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path, model, opt_theta, opt_phi):
    """Restore a checkpoint written by save_checkpoint; returns (epoch, history)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        opt_theta.load_state_dict(state["opt_theta"])
        opt_phi.load_state_dict(state["opt_phi"])
    except Exception as err:  # a checkpoint from other code or sizes: start afresh
        log.warning("%s: cannot resume (%s); starting from scratch", path, str(err).splitlines()[0][:120])
        return 0, []
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["epoch"], state["history"]


def set_lr(spec, optimisers, progress):
    """The learning rate at `progress` (0 to 1) through the run's steps, set on every optimiser."""
    lr = spec.lr if spec.lr_decay == "constant" else 0.5 * spec.lr * (1 + math.cos(math.pi * progress))
    for opt in optimisers:
        for group in opt.param_groups:
            group["lr"] = lr


def fit(model, spec, make_batches, evaluate, checkpoint=None, device="cpu"):
    """Train for spec.epochs; returns the per-epoch history (epoch 0 = before training).

    make_batches(rng) yields batches (dicts of tensors on `device`) for one epoch;
    evaluate(model) returns a dict of validation metrics.  With `checkpoint` set, the loop
    saves after every epoch and resumes from it when it exists.
    """
    seed_everything(spec.seed)
    model.to(device)
    groups = model.parameter_groups()
    opt_theta, opt_phi = optimisers(groups, spec.lr)
    start, history = 0, []
    if checkpoint and os.path.exists(checkpoint):
        start, history = load_checkpoint(checkpoint, model, opt_theta, opt_phi)
        if start:
            log.info("%s: resuming after epoch %d from %s", spec.name, start, checkpoint)
    if not history:
        history = [{"epoch": 0, "loss_model": math.nan, "loss_inference": math.nan, **_evaluate(model, evaluate)}]
    for epoch in range(start + 1, spec.epochs + 1):
        model.train()
        sums, n, began = {}, 0, time.perf_counter()
        batches = list(make_batches(epoch_rng(spec.seed, epoch)))
        for step, batch in enumerate(tqdm(batches, desc=f"{spec.name} epoch {epoch}/{spec.epochs}",
                                          leave=False, mininterval=2.0)):
            progress = (epoch - 1 + step / len(batches)) / spec.epochs
            set_lr(spec, (opt_theta, opt_phi), progress)
            for k, v in train_step(model, spec, batch, opt_theta, opt_phi, groups, (epoch, step), progress).items():
                sums[k] = sums.get(k, 0.0) + v
            n += 1
        row = {"epoch": epoch, **{k: v / max(n, 1) for k, v in sums.items()}, **_evaluate(model, evaluate)}
        history.append(row)
        log.info("%s epoch %d/%d (%.1fs): %s", spec.name, epoch, spec.epochs, time.perf_counter() - began,
                 "  ".join(f"{k} {v:.4g}" for k, v in row.items() if k != "epoch"))
        if checkpoint:
            save_checkpoint(checkpoint, model, opt_theta, opt_phi, epoch, history)
    return history


def _evaluate(model, evaluate):
    model.eval()
    with torch.no_grad():
        metrics = evaluate(model)
    model.train()
    return metrics

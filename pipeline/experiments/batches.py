"""Batching and evaluation shared by the sequence experiments (handwriting, flies, sequences)."""
import contextlib

import numpy as np
import torch

from pipeline import objectives
from pipeline.evaluate.classification import topk_accuracy


def batch_maker(arrays, batch_size, device, steps=None, label_dropout=0.0, labelled_share=0.0):
    """make_batches(rng) for the training loop: shuffled batches of whole sequences.

    arrays: dict name -> [N, T, ...] numpy arrays with at least x, labels and mask; a final
    short batch is dropped so every step sees the same batch size.  With `steps`, an epoch is
    that many batches, from as many shuffled passes over the data as they take (a small
    training set then gets as many gradient steps as a large one).  With `label_dropout` p, each
    labelled step of a batch is shown unlabelled with probability p, drawn afresh every batch from
    the epoch's rng: y is then sampled from q there, so q cannot learn to copy a label fed to the
    recurrence at the step before (over the epochs every label is still seen).  With `labelled_share` s,
    round(s * batch_size) of each batch's sequences come from those with a label and the rest from
    those without (each pool shuffled and cycled), as MNIST's batches carry labelled digits: when few
    sequences are labelled, every step still sees labels (without either pool: plain batches)."""
    tensors = {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}
    n = len(tensors["x"])
    batch_size = min(batch_size, n)
    steps = steps or n // batch_size
    labelled = np.asarray(arrays["mask"]).reshape(n, -1).any(1)
    pools = [np.flatnonzero(labelled), np.flatnonzero(~labelled)]
    share = int(round(labelled_share * batch_size)) if labelled_share and all(len(p) for p in pools) else 0
    parts = [(np.arange(n), batch_size)] if not share else [(pools[0], share), (pools[1], batch_size - share)]

    def cycled(rng, pool, per_step):
        """steps * per_step indices of `pool`, from as many shuffled passes as they take, as [steps, per_step]."""
        usable = len(pool) // per_step * per_step or len(pool)
        passes = -(-steps * per_step // usable)
        order = np.concatenate([pool[rng.permutation(len(pool))[:usable]] for _ in range(passes)])
        return order[:steps * per_step].reshape(steps, per_step)

    def make_batches(rng):
        order = np.concatenate([cycled(rng, pool, k) for pool, k in parts], axis=1)
        for step in range(steps):
            idx = torch.as_tensor(order[step], device=device)
            batch = {k: v[idx] for k, v in tensors.items()}
            if label_dropout:
                shown = torch.as_tensor(rng.random(tuple(batch["mask"].shape)) >= label_dropout, device=device)
                batch["mask"] = batch["mask"] & shown
            yield batch
    return make_batches


@contextlib.contextmanager
def fixed_noise(device):
    """Evaluation noise: torch seeded at 0 inside the block, training's random state restored after it."""
    cuda = [torch.device(device)] if torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(0)
        yield


def class_probabilities(model, arrays, device, particles=4, chunk=64, teacher_forced=False):
    """q(y_t | x) of every step, averaged over particles, [N, T, C] (numpy), by model.class_probabilities
    on chunks of the sequences in `arrays` (x, u?, labels), under fixed noise."""
    tensors = {k: torch.as_tensor(v, device=device) for k, v in arrays.items() if k in ("x", "u", "labels")}
    n = len(tensors["x"])
    with fixed_noise(device):
        return torch.cat([model.class_probabilities({k: v[i:i + chunk] for k, v in tensors.items()}, particles,
                                                    teacher_forced=teacher_forced)
                          for i in range(0, n, chunk)]).cpu().numpy()


def accuracy_evaluator(arrays, device, ks=(1, 5, 10), particles=4, chunk=64, prefix="val", teacher_forced=False):
    """evaluate(model) -> {val_top1, val_top5, ...}: top-k accuracy of q(y_t | x) over every
    labelled step, q's class probabilities averaged over particles.  No label is shown to the
    model, unless teacher_forced: then the recurrence is fed the true labels of earlier steps."""
    labels = np.asarray(arrays["labels"])

    def evaluate(model):
        probs = class_probabilities(model, arrays, device, particles, chunk, teacher_forced)
        acc = topk_accuracy(probs.reshape(-1, probs.shape[-1]), labels.reshape(-1), ks)
        return {f"{prefix}_top{k}": v for k, v in acc.items()}
    return evaluate


def bound_evaluator(arrays, K, device, chunk=64):
    """evaluate(model) -> {val_bound_per_step}: the validation IWAE bound with K particles, no step
    labelled, per step (for the binned RNN, the exact log-likelihood of its bins)."""
    tensors = {k: torch.as_tensor(v, device=device) for k, v in arrays.items() if k in ("x", "u")}
    n, T = arrays["x"].shape[:2]

    def evaluate(model):
        with fixed_noise(device):
            total = 0.0
            for i in range(0, n, chunk):
                b = {k: v[i:i + chunk] for k, v in tensors.items()}
                b["labels"] = torch.full(b["x"].shape[:2], -1, device=device)
                b["mask"] = torch.zeros(b["x"].shape[:2], dtype=torch.bool, device=device)
                trace = model(b, K)
                total += objectives.iwae_bound(objectives.log_weights(trace, b["mask"])).sum().item()
        return {"val_bound_per_step": total / (n * T)}
    return evaluate

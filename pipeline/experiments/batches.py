"""Batching and evaluation shared by the sequence experiments (handwriting, flies, sequences)."""
import contextlib

import numpy as np
import torch

from pipeline import objectives
from pipeline.evaluate.classification import topk_accuracy


def batch_maker(arrays, batch_size, device, steps=None):
    """make_batches(rng) for the training loop: shuffled batches of whole sequences.

    arrays: dict name -> [N, T, ...] numpy arrays with at least x, labels and mask; a final
    short batch is dropped so every step sees the same batch size.  With `steps`, an epoch is
    that many batches, from as many shuffled passes over the data as they take (a small
    training set then gets as many gradient steps as a large one)."""
    tensors = {k: torch.as_tensor(v, device=device) for k, v in arrays.items()}
    n = len(tensors["x"])
    batch_size = min(batch_size, n)
    per_pass = n // batch_size

    def make_batches(rng):
        order = np.concatenate([rng.permutation(n)[:per_pass * batch_size]
                                for _ in range(-(-(steps or per_pass) // per_pass))])
        for start in range(0, (steps or per_pass) * batch_size, batch_size):
            idx = torch.as_tensor(order[start:start + batch_size], device=device)
            yield {k: v[idx] for k, v in tensors.items()}
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

"""The MNIST experiment (paper sec. 4.1): M2 trained by each method of METHODS with 100 labels.

training() says how to train one (method, seed) pair (runs.train trains it); score() evaluates it: the trained generative model's own
classifier argmax p(y | x), and the reconstruction and class-swap grids of Fig. 2b/c."""
import dataclasses
import math

import numpy as np
import torch

from pipeline import PipelineError, objectives, runs
from pipeline.data.supervision import balanced_subset
from pipeline.declarations.mnist import METHODS
from pipeline.evaluate.classification import cluster_accuracy, topk_accuracy
from pipeline.models.m2 import M2
from pipeline.train import Spec

N_CLASSES = 10
GRID_DIGITS = 8            # validation digits in the Fig. 2b/c grids
ESS_DIGITS = 500           # validation digits on which the weights' effective sample size is tracked


def spec_for(method, cfg, seed, name):
    """The Spec of one run (METHODS's entry; train.Spec.of).  All methods share model, optimiser,
    lr, batches and epochs; those that sum y out draw one particle per class (those that also sample,
    enumerate_y "both", the profile's K and then one per class)."""
    entry = METHODS[method]
    return Spec.of(entry, cfg, seed, name, particles=N_CLASSES if entry.enumerate_y is True else None)


def labelled_training_set(y_train, n_labels, seed):
    """Labels the run may see: -1 everywhere except `n_labels` class-balanced examples."""
    chosen = balanced_subset(y_train, n_labels, np.random.default_rng([seed, 1]))
    labels = np.full(len(y_train), -1, dtype=np.int64)
    labels[chosen] = y_train[chosen]
    return labels


def pool_of(labels, pool):
    """Indices of a smaller unlabelled pool: every labelled digit and the first `pool` - len(labelled)
    unlabelled ones (the prepared order is already shuffled), so the labels stay those of the full run."""
    labelled, unlabelled = np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)
    if not len(labelled) < pool <= len(labels):
        raise PipelineError(f"mnist: a pool of {pool} digits must exceed the {len(labelled)} labelled ones and not exceed {len(labels)}")
    return np.sort(np.concatenate([labelled, unlabelled[:pool - len(labelled)]]))


def pool_epochs(epochs, n_train, pool, batch_size):
    """Epochs over a pool of `pool` digits that take as many steps as `epochs` over all n_train
    (batch_maker takes n // batch_size steps an epoch), rounded up."""
    return math.ceil(epochs * (n_train // batch_size) / (pool // batch_size))


def batch_maker(x_train, labels, cfg, device):
    """Each batch: `batch_size` examples in shuffled order plus `labelled_per_batch` labelled ones
    drawn with replacement, so the few labels are seen every step (shared by every method)."""
    x = torch.as_tensor(x_train, device=device)
    y = torch.as_tensor(labels, device=device)
    labelled = np.flatnonzero(labels >= 0)
    bs, lpb = cfg["batch_size"], cfg["labelled_per_batch"]

    def make_batches(rng):
        order = rng.permutation(len(x))
        for start in range(0, len(order) - bs + 1, bs):
            idx = order[start:start + bs]
            if len(labelled) and lpb:
                idx = np.concatenate([idx, rng.choice(labelled, size=lpb)])
            idx = torch.as_tensor(idx, device=device)
            yy = y[idx][:, None]
            yield {"x": x[idx], "labels": yy, "mask": yy >= 0}
    return make_batches


def evaluator(x_valid, y_valid, device, chunk=2000, particles=None):
    """Validation accuracy of argmax q(y | x), and cluster accuracy (for unsupervised runs).  With
    `particles` K, also how CWS's weights behave on the first ESS_DIGITS validation digits taken as
    unlabelled, with y sampled from q(y | x): their effective sample size (val_ess, 1..K), and the
    fraction of digits whose K samples are all one class (val_one_class), where wake-phi's target
    is that class whatever the weights: self-training on q's own guess."""
    x = torch.as_tensor(x_valid, device=device)

    def evaluate(model):
        logits = torch.cat([model.class_logits(x[i:i + chunk]) for i in range(0, len(x), chunk)]).cpu().numpy()
        out = {"val_accuracy": topk_accuracy(logits, y_valid)[1],
               "val_cluster_accuracy": cluster_accuracy(logits.argmax(-1), y_valid, N_CLASSES)}
        return {**out, **weight_diagnostics(model, x[:ESS_DIGITS], particles)} if particles else out
    return evaluate


@torch.no_grad()
def weight_diagnostics(model, x, K):
    """val_ess and val_one_class (see evaluator) on digits x, from a forked random stream so that
    the training run's own draws do not change."""
    cuda = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(0)
        unlabelled = {"x": x, "labels": torch.full((len(x), 1), -1, device=x.device),
                      "mask": torch.zeros(len(x), 1, dtype=torch.bool, device=x.device)}
        trace = model(unlabelled, K)
    log_w = objectives.log_weights(trace, unlabelled["mask"])
    y = trace.y[..., 0]
    return {"val_ess": float(objectives.kish_ess(log_w).mean()),
            "val_one_class": float((y == y[:1]).all(0).float().mean())}


def model_of(cfg, method, data):
    """M2, the model every method trains (the signature every experiment's `model_of` shares)."""
    return runs.Model(M2, {"x_dim": 784, "n_classes": N_CLASSES, "z_dim": cfg["z_dim"], "hidden": cfg["hidden"]})


def training(settings, run, split=None, pool=None):
    """How to train one (method, seed) pair (a runs.Run): a runs.Training for runs.train.
    split: arrays to use instead of the prepared npz (benchmarks/mnist_lr.py: the tuning split);
    pool: train on that many training digits (pool_of) for as many steps as on all of them."""
    cfg, data = settings["mnist"], split or dict(np.load(run.data))
    labels = labelled_training_set(data["y_train"], cfg["labels"], run.seed)
    spec = spec_for(run.method, cfg, run.seed, str(run.folder))
    if pool:
        keep = pool_of(labels, pool)
        spec = dataclasses.replace(spec, epochs=pool_epochs(spec.epochs, len(labels), pool, cfg["batch_size"]))
        data, labels = {**data, "x_train": data["x_train"][keep]}, labels[keep]

    def metrics(model, history):
        curve = [row["val_accuracy"] for row in history[1:]]
        out = {"method": run.method, "seed": run.seed, "labels": int((labels >= 0).sum()),
               "val_accuracy": curve[-1], "val_accuracy_best": max(curve),
               "val_accuracy_mean_over_epochs": float(np.mean(curve)),
               "val_cluster_accuracy": history[-1]["val_cluster_accuracy"], "epochs": spec.epochs,
               "train_digits": len(labels), **({"pool": pool} if pool else {})}
        if "x_test" in data:
            out["test_accuracy"] = evaluator(data["x_test"], data["y_test"], run.device)(model)["val_accuracy"]
        return out

    return runs.Training(spec, model_of(cfg, run.method, data), batch_maker(data["x_train"], labels, cfg, run.device),
                         evaluator(data["x_valid"], data["y_valid"], run.device, particles=spec.particles), metrics,
                         settings.snapshot())


@torch.no_grad()
def score(settings, run, samples=8, chunk=250):
    """Evaluate a trained run (a runs.Run): (arrays for grids.npz, numbers for scores.json).

    posterior_accuracy: accuracy of the generative model's own classifier argmax_y p(y | x), with
    log p(x, y) estimated from `samples` importance samples per class (cluster-matched for methods
    that never see a label).  grids: per validation digit, input; reconstruction from q's (y, z);
    z inferred given the true y; then z fixed and y set to each class (Fig. 2b/c).  correct: per
    validation digit, whether argmax q(y | x) is its label (the verdicts' digit-level interval)."""
    data, device = np.load(run.data), run.device
    trained = runs.load_run(run.folder, device)
    x, y = torch.as_tensor(data["x_valid"], device=device), data["y_valid"]
    torch.manual_seed(0)
    predicted = torch.cat([trained.joint_log_likelihood(x[i:i + chunk], samples).argmax(-1)
                           for i in range(0, len(x), chunk)]).cpu().numpy()
    posterior = (float((predicted == y).mean()) if METHODS[run.method].uses_labels
                 else cluster_accuracy(predicted, y, N_CLASSES))
    logits = torch.cat([trained.class_logits(x[i:i + chunk]) for i in range(0, len(x), chunk)])
    correct = logits.argmax(-1).cpu().numpy() == y             # per digit: what val_accuracy averages
    pick = np.random.default_rng(0).choice(len(y), size=GRID_DIGITS, replace=False)
    xs, ys = x[pick], torch.as_tensor(y[pick], device=device)
    inferred, _ = trained.reconstruct(xs)
    given_y, _ = trained.reconstruct(xs, ys)
    grid = torch.cat([xs[:, None], inferred[:, None], given_y[:, None], trained.vary_class(xs, ys)], 1)
    scores = {"method": run.method, "seed": run.seed, "posterior_accuracy": posterior, "posterior_samples": samples}
    return {"grid": grid.cpu().numpy().astype(np.float32), "digits": pick, "correct": correct}, scores

"""The MNIST experiment (paper sec. 4.1): M2 trained by CWS, M1+M2, RWS or M1 with 100 labels."""
import numpy as np
import torch

from pipeline import objectives
from pipeline.data.supervision import balanced_subset
from pipeline.evaluate.classification import cluster_accuracy, topk_accuracy
from pipeline.models.m2 import M2
from pipeline.runs import checkpoint_path, write_run
from pipeline.train import Spec, fit, seed_everything

N_CLASSES = 10


def spec_for(objective, cfg, seed, name):
    """The Spec of one run.  All objectives share model, optimiser, lr, batches and epochs."""
    common = dict(name=name, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed, particles=cfg["particles"])
    if objective == "cws":
        return Spec(objective=objectives.cws, **common)
    if objective == "ssws":
        return Spec(objective=objectives.ssws, **common)
    if objective == "rws":
        return Spec(objective=objectives.rws, use_labels=False, **common)
    alpha = cfg["alpha"]
    m1m2 = lambda trace, mask: objectives.enumerated_m1m2(trace, mask, alpha=alpha)  # noqa: E731
    common["particles"] = N_CLASSES
    if objective == "m1m2":
        return Spec(objective=m1m2, enumerate_y=True, **common)
    if objective == "m1":
        return Spec(objective=m1m2, enumerate_y=True, use_labels=False, **common)
    raise ValueError(objective)


def labelled_training_set(y_train, n_labels, seed):
    """Labels the run may see: -1 everywhere except `n_labels` class-balanced examples."""
    chosen = balanced_subset(y_train, n_labels, np.random.default_rng([seed, 1]))
    labels = np.full(len(y_train), -1, dtype=np.int64)
    labels[chosen] = y_train[chosen]
    return labels


def batch_maker(x_train, labels, cfg, device):
    """Each batch: `batch_size` examples in shuffled order plus `labelled_per_batch` labelled ones
    drawn with replacement, so the few labels are seen every step (shared by every objective)."""
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


def evaluator(x_valid, y_valid, device, chunk=2000):
    """Validation accuracy of argmax q(y | x), and cluster accuracy (for unsupervised runs)."""
    x = torch.as_tensor(x_valid, device=device)

    def evaluate(model):
        logits = torch.cat([model.class_logits(x[i:i + chunk]) for i in range(0, len(x), chunk)]).cpu().numpy()
        return {"val_accuracy": topk_accuracy(logits, y_valid)[1],
                "val_cluster_accuracy": cluster_accuracy(logits.argmax(-1), y_valid, N_CLASSES)}
    return evaluate


def build_model(cfg):
    return M2(x_dim=784, n_classes=N_CLASSES, z_dim=cfg["z_dim"], hidden=cfg["hidden"])


def run(cfg, objective, seed, data_path, out_dir, device):
    """Train one (objective, seed) pair and write model.pt, curve.tsv and metrics.json."""
    data = np.load(data_path)
    labels = labelled_training_set(data["y_train"], cfg["labels"], seed)
    seed_everything(seed)                     # the initial weights depend on the seed alone
    model = build_model(cfg)
    name = f"train_mnist@{objective}-{seed}"
    spec = spec_for(objective, cfg, seed, name)
    ckpt = checkpoint_path(name, {"cfg": cfg, "objective": objective, "seed": seed, "device": str(device)}, [data_path])
    history = fit(model, spec, batch_maker(data["x_train"], labels, cfg, device),
                  evaluator(data["x_valid"], data["y_valid"], device), checkpoint=ckpt, device=device)
    curve = [row["val_accuracy"] for row in history[1:]]
    metrics = {"objective": objective, "seed": seed, "labels": int((labels >= 0).sum()),
               "val_accuracy": curve[-1], "val_accuracy_best": max(curve),
               "val_accuracy_mean_over_epochs": float(np.mean(curve)),
               "val_cluster_accuracy": history[-1]["val_cluster_accuracy"], "epochs": spec.epochs}
    if "x_test" in data:
        metrics["test_accuracy"] = evaluator(data["x_test"], data["y_test"], device)(model.eval())["val_accuracy"]
    write_run(out_dir, model.cpu(), history, metrics)
    ckpt.unlink(missing_ok=True)
    return metrics

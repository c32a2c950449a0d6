"""The sequences experiment: CWS on a researcher's own partly labelled time series (docs/sequences.md).

Every method trains the DVRNN with the Gaussian head on the standardised features of the training
windows (data/sequences.py prepares them); y_t is the step's class, z_t a Gaussian, no per-step inputs.

  cws       q(y) by caffeinated wake-sleep (eq. 15)
  ssws      q(y) by semi-supervised wake-sleep as written (eq. 14)
  baseline  IWAE + a classifier q(y | x) of x alone, trained on the windows of the fully labelled
            training sequences or, where no sequence is fully labelled, on the labelled steps (every
            window with one; its classifier's loss reads the labelled steps only); as many gradient
            steps as the others
  rws       reweighted wake-sleep, unsupervised: no label reaches it, so its classes are unnamed clusters
training() says how to train one (method, seed) pair (runs.train trains it); score() scores it on the validation windows: per-step top-1 and
top-k accuracy and a confusion matrix, continuations of seed segments, and samples conditioned on a
label sequence.
"""
import numpy as np
import torch

from pipeline import PipelineError, runs
from pipeline.declarations.sequences import METHODS
from pipeline.evaluate.classification import cluster_accuracy, topk_accuracy
from pipeline.evaluate.particles import continue_sequences
from pipeline.experiments.batches import accuracy_evaluator, batch_maker, bound_evaluator, class_probabilities
from pipeline.models.dvrnn import DVRNN
from pipeline.train import Spec



def dims(data):
    """(features per step, classes) of the prepared data."""
    return data["x_train"].shape[-1], len(data["classes"])


def model_of(cfg, method, data):
    """The DVRNN every method shares; the baseline's q(y | x) reads x alone (a separate classifier)."""
    x_dim, n_classes = dims(data)
    return runs.Model(DVRNN, {"x_dim": x_dim, "n_classes": n_classes, "z_dim": cfg["z_dim"], "hidden": cfg["hidden"],
                              "emission": "gaussian", "mixture": cfg["mixture"], "q_reads_state": method != "baseline"})


def spec_for(method, cfg, seed, name):
    """The Spec of one run: METHODS's entry (train.Spec.of)."""
    return Spec.of(METHODS[method], cfg, seed, name)


def topk(cfg, n_classes):
    """The k of the top-k accuracy: sequences.topk, at most the number of classes."""
    return min(cfg["topk"], n_classes)


def check_window(cfg, window):
    """Continuations need a seed segment and a horizon inside one window."""
    if cfg["seed_steps"] + cfg["horizon"] > window:
        raise PipelineError(f"params.yaml: sequences seed_steps + horizon = {cfg['seed_steps'] + cfg['horizon']} "
                            f"exceeds the window of {window} steps; raise sequences.window or lower horizon")


def baseline_windows(data):
    """The training windows the baseline keeps: those of the fully labelled sequences, or, where no
    training sequence is fully labelled, every window with a labelled step."""
    full = data["window_full_train"]
    return full if full.any() else (data["labels_train"] >= 0).any(1)


def training_set(data, method):
    """x, labels and mask the run may see (unlabelled steps carry -1): every training window, or the
    baseline's (baseline_windows)."""
    x, labels = data["x_train"], data["labels_train"]
    mask = labels >= 0
    if method == "baseline":
        keep = baseline_windows(data)
        x, labels, mask = x[keep], labels[keep], mask[keep]
    return {"x": x, "labels": labels, "mask": mask}


def validation_set(data):
    return {"x": data["x_valid"], "labels": data["labels_valid"]}


def training(settings, run):
    """How to train one run (a runs.Run): a runs.Training for runs.train."""
    cfg, method, seed, device = settings["sequences"], run.method, run.seed, run.device
    data = dict(np.load(run.data))
    check_window(cfg, data["x_train"].shape[1])
    x_dim, n_classes = dims(data)
    k = topk(cfg, n_classes)
    train = training_set(data, method)
    spec = spec_for(method, cfg, seed, str(run.folder))
    steps = len(data["x_train"]) // min(cfg["batch_size"], len(data["x_train"]))   # every method: as many steps
    bound = bound_evaluator(validation_set(data), cfg["particles"], device)
    accuracy = accuracy_evaluator(validation_set(data), device, ks=(1, k), particles=cfg["eval_particles"])

    def evaluate(model):
        if not METHODS[method].uses_labels:       # unnamed clusters: no accuracy while training
            return bound(model)
        acc = accuracy(model)
        return {**bound(model), "val_top1": acc["val_top1"], "val_topk": acc[f"val_top{k}"]}

    def metrics(model, history):
        return {"method": method, "seed": seed, "topk": k, "train_windows": int(len(train["x"])),
                "labelled_steps": int(train["mask"].sum()) if spec.use_labels else 0,
                **{key: v for key, v in history[-1].items() if key.startswith("val_")}}

    return runs.Training(spec, model_of(cfg, method, data), batch_maker(train, cfg["batch_size"], device, steps),
                         evaluate, metrics, settings.snapshot())


def filled(labels):
    """A label sequence with every unlabelled step (-1) given its nearest earlier labelled step's label
    (the first labelled step's, before it)."""
    labels = np.asarray(labels)
    known = np.flatnonzero(labels >= 0)
    at = np.maximum.accumulate(np.where(labels >= 0, np.arange(len(labels)), -1))
    return labels[np.where(at >= 0, at, known[0])]


@torch.no_grad()
def score(settings, run):
    """Score a trained run on the validation windows: (arrays for samples.npz, numbers for scores.json).

    val_top1, val_topk: per-step accuracy of q(y_t | x) (averaged over eval_particles) on every labelled
    validation step, no label shown; confusion: counts [true class, predicted class]; cluster_accuracy:
    top-1 after the best one-to-one renaming of the predicted classes (the only fair accuracy of RWS,
    whose classes are unnamed).  Continuations: the first score_windows validation windows, each seeded
    by its first seed_steps steps and continued `horizon` steps `continuations` times in closed loop;
    their RMSE (the samples' mean against the truth, standardised units), the fraction of true values
    inside the samples' 5-95% band, and the RMSE of holding the seed's last value (a reference).
    Generation: `generations` samples conditioned on the label sequence of the validation window with
    the most labelled steps (its gaps filled by the nearest earlier label); none for RWS."""
    cfg, method, seed, device = settings["sequences"], run.method, run.seed, run.device
    data = dict(np.load(run.data))
    x_dim, n_classes = dims(data)
    check_window(cfg, data["x_valid"].shape[1])
    k = topk(cfg, n_classes)
    model = runs.load_run(run.folder, device)
    valid = validation_set(data)
    probs = class_probabilities(model, valid, device, cfg["eval_particles"])
    keep = valid["labels"] >= 0
    p, y = probs[keep], valid["labels"][keep]
    acc = topk_accuracy(p, y, (1, k))
    predicted = p.argmax(-1)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (y, predicted), 1)

    T0, H, K = cfg["seed_steps"], cfg["horizon"], cfg["continuations"]
    n = min(cfg["score_windows"], len(valid["x"]))
    generator = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    samples, ess = continue_sequences(model, torch.as_tensor(valid["x"][:n, :T0], device=device), H, K, generator)
    samples = samples.cpu().numpy()                                                   # [n, K, H, D]
    truth = valid["x"][:n, T0:T0 + H]
    low, high = np.quantile(samples, [0.05, 0.95], axis=1)
    held = valid["x"][:n, T0 - 1:T0]

    window = int(keep.sum(1).argmax())
    given = filled(valid["labels"][window])
    if METHODS[method].uses_labels:
        generated = model.generate(torch.as_tensor(given, device=device), n=cfg["generations"]).cpu().numpy()
    else:
        generated = np.zeros((0, *valid["x"].shape[1:]), np.float32)
    numbers = {"method": method, "seed": seed, "topk": k, "val_top1": acc[1], "val_topk": acc[k],
               "cluster_accuracy": cluster_accuracy(predicted, y, n_classes), "labelled_valid_steps": int(keep.sum()),
               "windows": n, "seed_steps": T0, "horizon": H, "continuations": K,
               "continuation_rmse": float(np.sqrt(((samples.mean(1) - truth) ** 2).mean())),
               "continuation_coverage": float(((truth >= low) & (truth <= high)).mean()),
               "persistence_rmse": float(np.sqrt(((held - truth) ** 2).mean())),
               "ess_after_seed": float(ess.mean()), "generation_window": window, "generations": len(generated)}
    arrays = {"confusion": confusion, "samples": samples.astype(np.float32), "truth": truth.astype(np.float32),
              "seed_x": valid["x"][:n, :T0].astype(np.float32), "generated": generated.astype(np.float32),
              "generation_labels": given, "generation_given": valid["labels"][window],
              "generation_truth": valid["x"][window].astype(np.float32)}
    return arrays, numbers

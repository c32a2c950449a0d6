"""Classification metrics for q(y | x): top-k accuracy and cluster accuracy for unsupervised runs."""
import numpy as np


def topk_accuracy(logits, labels, ks=(1,)):
    """{k: fraction of rows whose label is among the k largest logits}; rows with label < 0 are skipped."""
    logits, labels = np.asarray(logits), np.asarray(labels)
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    if len(labels) == 0:
        return {k: float("nan") for k in ks}
    order = np.argsort(-logits, axis=-1, kind="stable")
    return {k: float((order[:, :k] == labels[:, None]).any(-1).mean()) for k in ks}


def cluster_accuracy(predicted, labels, n_classes):
    """Accuracy after the best one-to-one relabelling of predicted clusters (Hungarian matching).

    For unsupervised runs, whose y is an unnamed cluster; the matching uses the evaluation
    labels, so this is a diagnostic, not a classifier's accuracy.
    """
    from scipy.optimize import linear_sum_assignment   # imported here: training stages need not load scipy
    predicted, labels = np.asarray(predicted), np.asarray(labels)
    counts = np.zeros((n_classes, n_classes))
    np.add.at(counts, (predicted, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(labels))

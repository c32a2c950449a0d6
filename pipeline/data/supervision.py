"""Which labels training may see: labelled subsets of examples, masks over time steps, and
annotation bouts (runs of equal labels) that can be thinned."""
import numpy as np

from pipeline import PipelineError
from pipeline.declarations.handwriting import PATTERNS


def balanced_subset(labels, n, rng):
    """Indices of `n` examples, as evenly spread over the classes as possible, chosen by `rng`."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    if n > len(labels):
        raise PipelineError(f"asked for {n} labelled examples but the training set has {len(labels)}")
    per_class = np.full(len(classes), n // len(classes))
    per_class[rng.permutation(len(classes))[: n % len(classes)]] += 1
    chosen = []
    for c, m in zip(classes, per_class):
        members = np.flatnonzero(labels == c)
        if m > len(members):
            raise PipelineError(f"class {c} has {len(members)} training examples; cannot label {m}")
        chosen.append(rng.choice(members, size=m, replace=False))
    return np.sort(np.concatenate(chosen))


def labelled_sequences(n_seq, rate, rng):
    """Sorted indices of the round(rate * n_seq) sequences (at least one when rate > 0) that are fully
    labelled, chosen by `rng`: the baseline's training set, and the labelled sequences of pattern `sequences`."""
    count = int(round(rate * n_seq))
    return np.sort(rng.permutation(n_seq)[:max(1, count) if rate > 0 else 0])


def step_mask(n_seq, length, rate, pattern, rng):
    """Boolean [n_seq, length] mask of labelled steps.

    sequences: the sequences of labelled_sequences(n_seq, rate, rng) fully labelled, every other one
               unlabelled: the paper's layout (sec. 4.2, "the same amount of full labels"), the
               extreme case of sec. 3.3.2.  Given a fresh rng of the same seed, exactly the
               baseline's labelled sequences.
    scattered: every sequence has round(rate * length) labelled steps (give or take one), at random
               positions: the same number of steps, touching far more characters (a sensitivity row).
    variable:  per-sequence rates drawn from a U-shaped Beta with mean `rate`, so some sequences
               are fully labelled, many have none, and the rest lie in between.
    scattered and variable label exactly round(rate * n_seq * length) steps.
    """
    if pattern == "sequences":
        mask = np.zeros((n_seq, length), dtype=bool)
        mask[labelled_sequences(n_seq, rate, rng)] = True
        return mask
    total = int(round(rate * n_seq * length))
    if pattern == "scattered":
        counts = np.full(n_seq, total // n_seq)
        counts[rng.permutation(n_seq)[: total - counts.sum()]] += 1
    elif pattern == "variable":
        if rate in (0.0, 1.0):
            counts = np.full(n_seq, int(rate * length))
        else:
            r = rng.beta(0.3 * rate / (1 - rate), 0.3, size=n_seq) if rate < 0.5 else \
                rng.beta(0.3, 0.3 * (1 - rate) / rate, size=n_seq)
            r = np.where(r < 0.05, 0.0, np.where(r > 0.95, 1.0, r))
            counts = np.floor(r * length).astype(int)
            counts = _adjust(counts, total, length, rng)
    else:
        raise PipelineError(f"supervision_pattern {pattern!r}: use one of {', '.join(PATTERNS)}")
    mask = np.zeros((n_seq, length), dtype=bool)
    for i, c in enumerate(counts):
        mask[i, rng.choice(length, size=c, replace=False)] = True
    return mask


def _adjust(counts, total, length, rng):
    """Add or remove labelled steps one sequence at a time until they sum to `total`.

    Changes go to partially labelled sequences first, so fully labelled and unlabelled
    sequences stay so where possible.
    """
    counts = counts.copy()
    while counts.sum() != total:
        step = 1 if counts.sum() < total else -1
        room = (counts < length) if step > 0 else (counts > 0)
        partial = room & (counts > 0) & (counts < length)
        pool = np.flatnonzero(partial if partial.any() else room)
        gap = abs(total - counts.sum())
        pick = rng.choice(pool, size=min(gap, len(pool)), replace=False)
        headroom = (length - counts[pick]) if step > 0 else counts[pick]
        counts[pick] += step * np.minimum(headroom, max(1, gap // len(pick)))
    return counts


def runs(mask):
    """(start, end) pairs, end exclusive, of the runs of True in a 1-d boolean array."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, np.int8), [0]]))
    return np.stack([np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)], axis=1)


def bouts(labels):
    """(start, end, label) of the runs of equal labels >= 0 in a 1-d label array."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return np.zeros((0, 3), np.int64)
    change = np.flatnonzero(np.diff(labels)) + 1
    starts, ends = np.concatenate([[0], change]), np.concatenate([change, [len(labels)]])
    keep = labels[starts] >= 0
    return np.stack([starts[keep], ends[keep], labels[starts[keep]]], axis=1)


def thin_annotations(labels, rate, rng):
    """Keep a random fraction `rate` of the annotated bouts of labels [..., F, 2 flies] (time axis -2)."""
    if rate >= 1:
        return labels
    out = np.array(labels, copy=True)
    series = out.reshape(-1, *out.shape[-2:])
    for m in range(series.shape[0]):
        for fly in range(series.shape[-1]):
            for start, end, _ in bouts(series[m, :, fly]):
                if rng.random() >= rate:
                    series[m, start:end, fly] = -1
    return out


"""Text-conditioned writing with a trained handwriting DVRNN, and how legible it is.

`write` follows Deep-Writing's synthesis (Aksan et al. 2018, `sample_func` of tf_models_hw.py): the
text's characters are forced one after another, and the model's own end-of-character prediction
moves to the next one (p(eoc) above a threshold, once the character has at least `min_steps`
steps); the fed-back stroke is the mean of the head (here: of its most probable mixture
component), the pen flag is thresholded, and all randomness comes from z_t ~ p(z_t | h_{t-1}).
One recurrent state runs through the whole text.  Where it departs from Deep-Writing: a space is
`space_steps` steps of label 0 (the embedded data's travel between words; Deep-Writing writes word
by word), a character ends after at most `max_steps` steps, and the pen context of the strokes
written so far is tracked for the model (models/pen_context.py).

`legibility` reads strokes with a classifier of x alone (the ceiling run's q(y | x)) in windows cut
as the training windows are: the per-step top-1 accuracy against the characters written.
Two controls keep everything of a generation but the letters' shapes.  `destroyed_ink` (the one
the Fig. 4 claim is judged against) gives every character segment the ink of another character,
resampled to the segment's length, and keeps the pen states, the end-of-character flags and the
durations: a reader that leans on those, not on letter shapes, reads it as well as the generation.
`chance_labels` (a second row) shuffles the characters among the segments, keeping the segmentation.
"""
from dataclasses import dataclass

import numpy as np
import torch

from pipeline.data.handwriting.strokes import cut_windows, destandardise, standardise
from pipeline.evaluate.classification import topk_accuracy
from pipeline.models.pen_context import PenTracker, pen_context


@dataclass(frozen=True)
class Protocol:
    """How `write` turns a model and a text into strokes; the defaults are Deep-Writing's."""
    eoc_threshold: float = 0.15    # Deep-Writing: eoc_threshold 0.15
    min_steps: int = 5             # Deep-Writing: more than 4 steps per character
    max_steps: int = 60            # a character that never ends stops here (training's longest: about 65)
    space_steps: int = 2           # label-0 steps per space (training's median gap between words: 3)
    pen_threshold: float = 0.5     # the pen lifts when p(pen) exceeds this
    stroke: str = "mean"           # mean: the most probable component's mean | sample: a draw from the head


def _stroke(head, features, protocol):
    """x_t [n, 4] from the head's features with the protocol's stroke and pen rule; the eoc flag is
    left to the caller.  Also returns p(eoc) [n]."""
    params = head.params(features)
    x_t = head.mode(features, params) if protocol.stroke == "mean" else head.sample(features)
    flags = torch.sigmoid(params[-1])
    x_t[:, 2] = (flags[:, 0] > protocol.pen_threshold).to(x_t.dtype)
    return x_t, flags[:, 1]


@torch.no_grad()
def write(model, labels, mean, std, protocol=Protocol()):
    """One sample of `labels` (alphabet indices, 0 for a space) written by `model`: strokes x [T, 4]
    (standardised) and the character of each step y [T], as numpy arrays.  The first step is a zero
    displacement, as every training window's is."""
    device = next(model.parameters()).device
    w, state = model.split_weights(), model.initial_state(1)
    tracker = PenTracker(1, device) if model.u_dim else None
    origin = torch.as_tensor(standardise(np.zeros((1, 4)), mean, std)[0, :2], device=device)
    xs, ys = [], []
    for label in labels:
        y_t = torch.full((1,), int(label), device=device)
        steps = 0
        while True:
            u_t = tracker.features() if tracker is not None else None
            features, _, z_t = model.emit(state, u_t, y_t)
            x_t, p_eoc = _stroke(model.head, features, protocol)
            steps += 1
            if label == 0:
                done = steps >= protocol.space_steps
                x_t[:, 3] = 0.0
            else:
                done = (steps >= protocol.min_steps and p_eoc.item() > protocol.eoc_threshold) or steps >= protocol.max_steps
                x_t[:, 3] = float(done)
            if not xs:
                x_t[:, :2] = origin
            state = model.advance(state, x_t, y_t, z_t, w)
            if tracker is not None:
                tracker.update(x_t)
            xs.append(x_t[0])
            ys.append(int(label))
            if done:
                break
    return torch.stack(xs).cpu().numpy(), np.array(ys, dtype=np.int64)


def segments(x, y):
    """Segment index [T] of every step: a new segment starts after an end-of-character step and
    wherever the character changes."""
    y = np.asarray(y)
    starts = np.zeros(len(y), dtype=bool)
    starts[1:] = (np.asarray(x)[:-1, 3] > 0.5) | (y[1:] != y[:-1])
    return np.cumsum(starts) - starts[0]


def chance_labels(x, y, rng):
    """y with the characters of its segments shuffled among the segments (durations kept)."""
    seg = segments(x, y)
    first = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1]])
    return y[first][rng.permutation(len(first))][seg]


def destroyed_ink(x, y, rng):
    """x [T, 4] with each segment's displacements (columns 0-1) replaced by those of a segment of another
    character, of the nearest length (ties broken by rng), linearly resampled to the segment's length;
    pen and end-of-character flags (columns 2-3) kept.  Segments with no other character keep their ink."""
    x, y = np.asarray(x), np.asarray(y)
    seg = segments(x, y)
    bounds = np.flatnonzero(np.r_[True, seg[1:] != seg[:-1], True])
    spans = list(zip(bounds[:-1], bounds[1:]))
    out = x.copy()
    for a, b in spans:
        donors = [(c, d) for c, d in spans if y[c] != y[a]]
        if not donors:
            continue
        gap = np.array([abs((d - c) - (b - a)) for c, d in donors])
        nearest = np.flatnonzero(gap == gap.min())
        c, d = donors[nearest[rng.integers(len(nearest))]]
        where = np.linspace(0, d - c - 1, b - a)
        for col in (0, 1):
            out[a:b, col] = np.interp(where, np.arange(d - c), x[c:d, col])
    return out


def windows(strokes, y, seq_len, mean, std):
    """Training-length windows of one sample (standardised strokes [T, 4]), each starting at a zero
    displacement: (x [n, seq_len, 4], y [n, seq_len])."""
    xw, yw = cut_windows(destandardise(strokes, mean, std), seq_len, y)
    return standardise(xw, mean, std), yw


@torch.no_grad()
def read(reader, xw):
    """The reader's q(y | x) class probabilities [n, T, C] on windows xw [n, T, 4]."""
    xw = torch.as_tensor(xw, device=next(reader.parameters()).device)
    batch = {"x": xw, **({"u": pen_context(xw)} if reader.u_dim else {})}
    return reader.class_probabilities(batch, 1).cpu().numpy()


def legibility(reader, samples, seq_len, mean, std, against=None, ink=None):
    """Per-step top-1 accuracy of the reader on samples [(x [T, 4], y [T]), ...] cut into windows,
    against y, or against against(x, y) (e.g. chance_labels) when given; the strokes replaced by
    ink(x, y) (e.g. destroyed_ink) when given."""
    xs, ys = [], []
    for x, y in samples:
        xw, yw = windows(x if ink is None else ink(x, y), y if against is None else against(x, y), seq_len, mean, std)
        xs.append(xw)
        ys.append(yw)
    xw, yw = np.concatenate(xs), np.concatenate(ys)
    if not len(xw):
        return float("nan")
    probs = read(reader, xw)
    return topk_accuracy(probs.reshape(-1, probs.shape[-1]), yw.reshape(-1))[1]

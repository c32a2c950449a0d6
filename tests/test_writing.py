"""Text-conditioned writing: the pen context the models read, the generation protocol of
evaluate/writing.py, its chance control, and the Fig. 4 claim on constructed legibility numbers."""
import numpy as np
import pandas as pd
import pytest
import torch

from pipeline.evaluate import writing
from pipeline.models.dvrnn import DVRNN
from pipeline.models.pen_context import DIM, SCALE, PenTracker, pen_context
from pipeline.report.handwriting import fig4_claim

MEAN, STD = np.array([0.05, 0.0], np.float32), np.array([0.1, 0.1], np.float32)


def strokes(T=40, seed=0, eoc=0.2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, T, 4, generator=g)
    x[..., 2:] = (torch.rand(2, T, 2, generator=g) < eoc).float()
    return x


def test_pen_context_by_hand():
    """Steps 0-2 of one character (eoc at step 2), then a new one from step 3."""
    x = torch.zeros(1, 5, 4)
    x[0, :, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    x[0, :, 1] = torch.tensor([0.5, 0.5, 0.5, -1.0, -1.0])
    x[0, 2, 3] = 1.0
    u = pen_context(x)[0] * SCALE
    assert u[:, 0].tolist() == [0, 1, 3, 0, 4]                    # dx since the character began, before t
    assert u[:, 1].tolist() == [0, 0.5, 1.0, 0, -1.0]
    assert u[:, 2].tolist() == [0, 1, 2, 0, 1]                    # steps since it began
    if DIM > 3:
        assert u[:, 3].tolist() == [0, 0.5, 1.0, 1.5, 0.5]        # height above the window's first point


def test_the_tracker_follows_the_strokes_it_is_given_as_pen_context_does():
    x = strokes()
    tracker, seen = PenTracker(2), []
    for t in range(x.shape[1]):
        seen.append(tracker.features())
        tracker.update(x[:, t])
    assert torch.allclose(torch.stack(seen, 1), pen_context(x), atol=1e-5)
    assert isinstance(pen_context(x.numpy()), np.ndarray)


def tiny_writer(eoc_logit):
    """A DVRNN reading the pen context whose head's end-of-character logit is eoc_logit everywhere."""
    torch.manual_seed(0)
    model = DVRNN(4, 70, 3, 8, u_dim=DIM, emission="stroke", mixture=2).eval()
    with torch.no_grad():
        model.head.out.weight[-1] = 0.0
        model.head.out.bias[-1] = eoc_logit
    return model


TEXT = np.array([8, 15, 0, 12])                                  # 'g', 'n', a space, 'k'


def runs_of(y):
    """[(label, length)] of the label runs of y."""
    change = np.flatnonzero(np.r_[True, y[1:] != y[:-1]])
    return [(int(y[a]), int(b - a)) for a, b in zip(change, np.r_[change[1:], len(y)])]


def test_a_sure_end_of_character_advances_after_the_minimum_steps():
    protocol = writing.Protocol(min_steps=5, space_steps=2)
    x, y = writing.write(tiny_writer(+20.0), TEXT, MEAN, STD, protocol)
    assert runs_of(y) == [(8, 5), (15, 5), (0, 2), (12, 5)]       # the text, in order, each character 5 steps
    assert np.flatnonzero(x[:, 3]).tolist() == [4, 9, 16]          # eoc on each character's last step, none on the space
    assert np.allclose(x[0, :2], (0 - MEAN) / STD)                 # the first step is a zero displacement


def test_a_character_whose_end_never_comes_stops_at_max_steps():
    protocol = writing.Protocol(max_steps=7)
    _, y = writing.write(tiny_writer(-20.0), TEXT, MEAN, STD, protocol)
    assert runs_of(y) == [(8, 7), (15, 7), (0, protocol.space_steps), (12, 7)]


def test_the_threshold_decides_where_the_model_is_unsure():
    """p(eoc) = 0.2: above a 0.15 threshold every character ends at the minimum, below 0.25 never."""
    logit = float(np.log(0.2 / 0.8))
    _, y = writing.write(tiny_writer(logit), TEXT, MEAN, STD, writing.Protocol(eoc_threshold=0.15, min_steps=4))
    assert [n for label, n in runs_of(y) if label] == [4, 4, 4]
    _, y = writing.write(tiny_writer(logit), TEXT, MEAN, STD, writing.Protocol(eoc_threshold=0.25, max_steps=9))
    assert [n for label, n in runs_of(y) if label] == [9, 9, 9]


def test_writing_is_deterministic_given_the_seed():
    model = tiny_writer(0.0)
    torch.manual_seed(3)
    a = writing.write(model, TEXT, MEAN, STD)
    torch.manual_seed(3)
    b = writing.write(model, TEXT, MEAN, STD)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_chance_labels_shuffle_whole_segments_and_keep_their_lengths():
    x, y = writing.write(tiny_writer(+20.0), np.array([8, 8, 15, 0, 12, 3]), MEAN, STD, writing.Protocol(min_steps=3))
    segments = writing.segments(x, y)
    assert segments.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 2 + [4] * 3 + [5] * 3   # 'g' 'g' apart: eoc
    shuffled = writing.chance_labels(x, y, np.random.default_rng(0))
    assert sorted(shuffled[np.r_[True, segments[1:] != segments[:-1]]]) == sorted([8, 8, 15, 0, 12, 3])
    for s in range(6):                                             # one label per segment
        assert len(set(shuffled[segments == s])) == 1


def claim_runs(legibility, control):
    return pd.DataFrame([{"group": "main", "method": m, "seed": s, "legibility": legibility[m][s],
                          "ink_control_legibility": control[m][s], "chance_legibility": control[m][s],
                          "distinct_generations": 4, "kl_per_step": 0.1} for m in legibility for s in range(len(legibility[m]))])


def test_the_fig4_claim_is_reproduced_when_both_methods_read_above_the_ink_destroyed_control():
    runs = claim_runs({"cws": [0.40, 0.45, 0.42], "ssws": [0.30, 0.33, 0.35]},
                      {"cws": [0.05, 0.06, 0.05], "ssws": [0.05, 0.04, 0.06]})
    entry = fig4_claim(runs, "12.5%")
    assert entry["verdict"] == "reproduced"
    assert [round(c["diff"], 3) for c in entry["comparisons"]] == [pytest.approx(0.37, abs=1e-3),
                                                                    pytest.approx(0.277, abs=1e-3)]


def test_the_fig4_claim_is_inconclusive_when_one_method_reads_as_well_with_its_ink_destroyed():
    runs = claim_runs({"cws": [0.40, 0.45, 0.42], "ssws": [0.06, 0.03, 0.05]},
                      {"cws": [0.05, 0.06, 0.05], "ssws": [0.05, 0.04, 0.06]})
    assert fig4_claim(runs, "12.5%")["verdict"] == "inconclusive"


# ---------------------------------------------------------------- the ink-destroyed control, with two readers
class Reader(torch.nn.Module):
    """A stand-in for the ceiling classifier: class probabilities [n, T, C] of windows x [n, T, 4] from
    `rule(x [T, 4]) -> y [T]`.  ShapeReader reads the ink, FlagReader the flags and durations alone."""
    u_dim = 0

    def __init__(self, rule, classes=70):
        super().__init__()
        self.rule, self.classes, self.anchor = rule, classes, torch.nn.Parameter(torch.zeros(1))

    def class_probabilities(self, batch, particles):
        ys = np.stack([self.rule(x) for x in batch["x"].numpy()])
        return torch.nn.functional.one_hot(torch.as_tensor(ys), self.classes).double()


def shape_reader(x_true, y_true, width=3):
    """1-nearest neighbour on the ink (dx, dy) of the steps around each step, remembered from the true strokes."""
    def features(x):
        padded = np.pad(x[:, :2], [(width, width), (0, 0)])
        return np.stack([padded[t:t + 2 * width + 1].ravel() for t in range(len(x))])
    memory = features(x_true)
    return Reader(lambda x: y_true[((features(x)[:, None] - memory[None]) ** 2).sum(-1).argmin(1)])


def flag_reader(x_true, y_true):
    """Guesses each step's character from its segment's length and its place in it, learned from the true
    strokes: it sees no ink at all."""
    def keys(x):
        seg = writing.segments(x, np.zeros(len(x)))
        lengths, place = np.bincount(seg)[seg], np.arange(len(x)) - np.flatnonzero(np.r_[True, np.diff(seg) > 0])[seg]
        return list(zip(lengths, place))
    table = {}
    for k, y in zip(keys(x_true), y_true):
        table.setdefault(k, []).append(y)
    guess = {k: np.bincount(v).argmax() for k, v in table.items()}
    return Reader(lambda x: np.array([guess.get(k, 0) for k in keys(x)]))


def test_the_ink_destroyed_control_reads_near_chance_and_the_true_strokes_far_above_it():
    from pipeline.data.handwriting.hershey import render_text
    from pipeline.data.handwriting.text import FIG4_TEXT
    x, y = render_text(FIG4_TEXT)
    mean, std = np.zeros(2, np.float32), np.ones(2, np.float32)
    rng = np.random.default_rng(0)
    destroyed = writing.destroyed_ink(x, y, rng)
    assert np.array_equal(destroyed[:, 2:], x[:, 2:]) and not np.allclose(destroyed[:, :2], x[:, :2])
    read = lambda reader, **kw: writing.legibility(reader, [(x, y)], len(x), mean, std, **kw)  # noqa: E731
    ink = lambda a, b: writing.destroyed_ink(a, b, np.random.default_rng(1))  # noqa: E731
    chance = (np.bincount(y) ** 2).sum() / len(y) ** 2            # a guess by the label frequencies
    shapes = shape_reader(x, y)
    assert read(shapes) > 0.95
    assert read(shapes, ink=ink) < chance + 0.1
    # a reader that leans on flags and durations passes the shuffled-character control but not this one
    flags = flag_reader(x, y)
    shuffled = read(flags, against=lambda a, b: writing.chance_labels(a, b, np.random.default_rng(2)))
    assert read(flags) - shuffled > 0.3
    assert abs(read(flags) - read(flags, ink=ink)) < 1e-9

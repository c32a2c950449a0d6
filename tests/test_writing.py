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


def claim_runs(legibility, chance):
    return pd.DataFrame([{"method": m, "seed": s, "legibility": legibility[m][s], "chance_legibility": chance[m][s]}
                         for m in legibility for s in range(len(legibility[m]))])


def test_the_fig4_claim_is_reproduced_when_both_methods_read_above_chance():
    runs = claim_runs({"cws": [0.40, 0.45, 0.42], "ssws": [0.30, 0.33, 0.35]},
                      {"cws": [0.05, 0.06, 0.05], "ssws": [0.05, 0.04, 0.06]})
    entry = fig4_claim(runs, "12.5%")
    assert entry["verdict"] == "reproduced"
    assert [round(c["diff"], 3) for c in entry["comparisons"]] == [pytest.approx(0.37, abs=1e-3),
                                                                    pytest.approx(0.277, abs=1e-3)]


def test_the_fig4_claim_is_inconclusive_when_one_method_reads_at_chance():
    runs = claim_runs({"cws": [0.40, 0.45, 0.42], "ssws": [0.06, 0.03, 0.05]},
                      {"cws": [0.05, 0.06, 0.05], "ssws": [0.05, 0.04, 0.06]})
    assert fig4_claim(runs, "12.5%")["verdict"] == "inconclusive"

"""Issue 29: the flies' positive control (the oracle gets every true label), the scale's bounds (a known
track scored exactly) and the training budget in steps (a run takes exactly `flies.steps`)."""
import math

import numpy as np
import pytest

from pipeline import config, runs, settings, sized, train
from pipeline.data import flies as flies_data
from pipeline.data import fly_geometry as geo
from pipeline.evaluate import bounds, kde
from pipeline.experiments import flies
from pipeline.io import write_npz
from tests.conftest import ROOT

SMALL = {"window": 40, "train_windows": 6, "test_windows": 4, "valid_windows": 2, "sim_frames": 120,
         "supervision": 1.0, "stride": None}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A tiny prepared flies npz and the smoke profile's settings for it."""
    path = tmp_path_factory.mktemp("flies") / "flies.npz"
    write_npz(path, **flies_data.prepare("embedded", SMALL, 0, "unused"))
    params = sized.with_profile(config.load(ROOT / "params.yaml"), "smoke")
    params["flies"].update(SMALL, seed_steps=10, horizon=20, score_windows=2, continuations=3, steps=5)
    params["device"], params["threads"] = "cpu", 1
    return path, params


def batches_of(path, params, method, tmp_path):
    training = flies.training(settings.unchecked(params), runs.Run(method, 0, str(path), str(tmp_path / method), "cpu"))
    return training, list(training.make_batches(np.random.default_rng(0)))


def test_the_oracle_run_receives_every_label(small, tmp_path):
    path, params = small
    truth = flies.sequences(dict(np.load(path)), "train")
    _, oracle = batches_of(path, params, "oracle", tmp_path)
    for batch in oracle:
        assert batch["mask"].all() and (batch["labels"] >= 0).all()
        for x, labels in zip(batch["x"].numpy(), batch["labels"].numpy()):
            row = int(np.flatnonzero((truth["x"] == x).all(axis=(1, 2)))[0])
            np.testing.assert_array_equal(labels, truth["true_labels"][row])
    _, cws = batches_of(path, params, "cws", tmp_path)
    assert not all(b["mask"].all() for b in cws), "CWS keeps the sparse expert annotations"
    no_truth = {k: v for k, v in truth.items() if k != "true_labels"}
    labels, mask = flies.training_labels({}, "oracle", no_truth)
    assert labels is truth["labels"] and mask is truth["mask"], "real data: the oracle has the annotations only"


@pytest.mark.parametrize("steps, per_pass", [(240, 16), (7, 16), (10, 3), (1, 1), (96, 16), (97, 16)])
def test_schedule_spends_exactly_the_budget(steps, per_pass):
    epochs, per_epoch = flies.schedule(steps, per_pass)
    assert epochs * per_epoch == steps
    assert flies.schedule(240, 16) == (15, 16)


def test_the_steps_budget_is_what_the_run_takes(small, tmp_path, monkeypatch):
    path, params = small
    taken, rates = [], []
    step, set_lr = train.train_step, train.set_lr
    monkeypatch.setattr(train, "train_step", lambda *a, **k: taken.append(1) or step(*a, **k))
    monkeypatch.setattr(train, "set_lr", lambda spec, opts, progress: rates.append(progress) or set_lr(spec, opts, progress))
    for budget in (5, 3):
        taken.clear()
        rates.clear()
        params["flies"]["steps"] = budget
        training, _ = batches_of(path, params, "rws", tmp_path / str(budget))
        result = runs.train(runs.Run("rws", 0, str(path), str(tmp_path / f"run{budget}"), "cpu"), training)
        assert len(taken) == budget and result["steps"] == budget
        assert rates == [i / budget for i in range(budget)], "the cosine decay runs over the whole budget"
    taken.clear()
    params["flies"]["steps"] = 4                  # the plateau check's run: half the steps (one evaluation a step here)
    training, _ = batches_of(path, params, "rws", tmp_path / "half")
    result = runs.train(runs.Run("rws", 0, str(path), str(tmp_path / "half-run"), "cpu", budget=0.5), training)
    assert len(taken) == 2 and result["steps"] == 2


def straight_track(T, H, motion=(6.0, 0.5, 0.3, 0.0, 0.0)):
    """A window of two flies each moving with constant body-frame motion, far from the wall."""
    pose0 = np.array([[[-3.0, 0.0, 0.1, 0.2, 0.2, 2.6, 1.0], [3.0, 1.0, 2.0, 0.2, 0.2, 2.5, 0.9]]])
    motion = np.broadcast_to(np.asarray(motion, np.float64), (1, T + H, 2, 5)).copy()
    pose = geo.rollout(pose0, motion, np.array([15.0]), 30.0)              # [1, T + H + 1, 2, 7]
    return {"test_pose": pose, "test_motion": motion, "test_radius": np.array([15.0]), "fps": np.array(30.0),
            "train_motion": motion}


def test_the_bounds_score_a_known_track_exactly():
    T0, H, K, h = 10, 30, 4, 0.5
    data = straight_track(T0, H)
    truth = data["test_pose"][:, T0 + 1:T0 + 1 + H, :, :2]
    positions = bounds.cv_continuations(data, 1, K, T0, H)
    np.testing.assert_array_equal(positions, np.repeat(truth[:, None], K, 1))
    scores, _ = kde.scored_by_rules(positions, truth, data["test_radius"], (h, h, 0.1))
    peak = -math.log(2 * math.pi * h * h)                                  # every sample on the true position
    assert scores["kde_fly1"] == pytest.approx(H * peak, abs=1e-9) and scores["kde_fly2"] == pytest.approx(H * peak, abs=1e-9)
    mass = kde.dish_mass(truth[0], 15.0, h)                                # [H, 2]
    defensive = np.log(0.9 * np.exp(peak) / mass + 0.1 / (math.pi * 15.0 ** 2)).sum(0)
    assert scores["defensive_fly1"] == pytest.approx(defensive[0]) and scores["defensive_fly2"] == pytest.approx(defensive[1])


def test_the_simulator_bound_replays_the_true_track(small, monkeypatch):
    path, params = small
    data, cfg = dict(np.load(path)), dict(params["flies"], data_seed=0, arena_radius=15, fps=30)
    T0, H, n = cfg["seed_steps"], cfg["horizon"], 2
    truth = data["test_pose"][:n, T0 + 1:T0 + 1 + H, :, :2]
    upper = bounds.simulator_continuations(data, cfg, n, 3)               # raises if the seed replay differs
    assert upper.shape == (n, 3, H, 2, 2) and not np.allclose(upper[:, 0], upper[:, 1])
    monkeypatch.setattr(bounds.ForkRng, "fork", lambda self: None)         # never part ways: the true track itself
    np.testing.assert_allclose(bounds.simulator_continuations(data, cfg, n, 3), np.repeat(truth[:, None], 3, 1), atol=1e-5)

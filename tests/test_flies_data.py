"""Fly-vs-Fly data: vision geometry, motion integration, the simulator, the .mat readers and the sources."""
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from pipeline import PipelineError
from pipeline.data import flies, fly_sim, flytracker, supervision
from pipeline.data import fly_geometry as geo

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "flies"
needs_fixtures = pytest.mark.skipif(not (FIXTURES / "starved-bb-track.mat").is_file(),
                                    reason=f"real FlyTracker sample not found at {FIXTURES}")
WALL_FROM_CENTRE = 1 - 0.5 ** 0.6


def two_flies(x0=0.0, y0=0.0, heading=0.0, x1=5.0, y1=0.0, heading1=0.0):
    pose = np.zeros((2, 7))
    pose[:, geo.LENGTH], pose[:, geo.WIDTH] = 2.6, 1.0
    pose[0, :3], pose[1, :3] = (x0, y0, heading), (x1, y1, heading1)
    return pose


@pytest.fixture(scope="module")
def sim():
    return fly_sim.simulate(3, 600, np.random.default_rng(0))


# --------------------------------------------------------------------------- vision
@pytest.mark.parametrize("heading", [0.0, 0.7, -2.5])
def test_fly_straight_ahead_lands_in_centre_bin(heading):
    ahead = 8 * np.array([math.cos(heading), math.sin(heading)])
    side_on = two_flies(heading=heading, x1=ahead[0], y1=ahead[1], heading1=heading + math.pi / 2)
    v = geo.vision_encoding(side_on, 15.0)
    assert v.shape == (2, 2, 72)
    assert list(np.flatnonzero(v[0, 0])) == [34, 35, 36, 37, 38]      # side-on 2.6 mm at 8 mm: +-9.4 deg
    assert v[0, 0, 36] == pytest.approx(geo.encode_distance(8 - 0.5, 15.0))   # seen side-on


def test_fly_behind_lands_in_bin_0():
    v = geo.vision_encoding(two_flies(heading=math.pi / 2, x1=0.0, y1=-6.0, heading1=math.pi / 2), 15.0)
    assert set(np.flatnonzero(v[0, 0])) == {71, 0, 1}
    assert v[0, 0, 0] == pytest.approx(geo.encode_distance(6 - 1.3, 15.0))   # seen end-on: half its length


def test_fly_to_the_left_is_90_degrees_counter_clockwise():
    v = geo.vision_encoding(two_flies(heading=0.0, x1=0.0, y1=10.0), 15.0)
    assert list(np.flatnonzero(v[0, 0])) == [53, 54, 55]            # 36 + 90 / 5


def test_wall_from_the_centre_is_R_away_in_every_bin():
    v = geo.vision_encoding(two_flies(x1=3.0, y1=4.0, heading=1.1), 12.0)
    np.testing.assert_allclose(v[0, 1], WALL_FROM_CENTRE)


def test_wall_off_centre_hand_worked():
    v = geo.vision_encoding(two_flies(x0=5.0, x1=-5.0), 10.0)
    assert v[0, 1, 36] == pytest.approx(1 - (5 / 20) ** 0.6)         # ahead: 5 mm to the wall
    assert v[0, 1, 0] == pytest.approx(1 - (15 / 20) ** 0.6)         # behind: 15 mm
    assert v[0, 1, 54] == pytest.approx(1 - (math.sqrt(75) / 20) ** 0.6)   # left: sqrt(R^2 - 5^2)


def test_vision_values_in_unit_interval_and_contact_is_one(sim):
    v = geo.vision_encoding(sim["pose"], fly_sim.RADIUS)
    assert v.shape == (3, 600, 2, 2, 72) and v.min() >= 0 and v.max() <= 1
    touching = geo.vision_encoding(two_flies(x1=1.2, heading1=math.pi), 15.0)
    assert touching[0, 0, 36] == 1.0


def test_numpy_and_torch_agree(sim):
    pose = sim["pose"][:, :50]
    radius = np.array([15.0, 14.0, 16.0])
    tp, tr = torch.tensor(pose), torch.tensor(radius)
    np.testing.assert_allclose(geo.vision_encoding(tp, tr[:, None]).numpy(),
                               geo.vision_encoding(pose, radius[:, None]), atol=1e-12)
    np.testing.assert_allclose(geo.own_state(tp, tr[:, None]).numpy(), geo.own_state(pose, radius[:, None]))
    motion = geo.motion_from_pose(pose, 30.0)
    np.testing.assert_allclose(geo.motion_from_pose(tp, 30.0).numpy(), motion, atol=1e-9)
    np.testing.assert_allclose(geo.integrate(tp[:, 0], torch.tensor(motion[:, 0]), tr, 30.0).numpy(),
                               geo.integrate(pose[:, 0], motion[:, 0], radius, 30.0), atol=1e-12)
    v32 = geo.vision_encoding(tp.float(), 15.0)
    assert v32.dtype == torch.float32


# --------------------------------------------------------------------------- motion
def test_integrate_inverts_motion(sim):
    pose = sim["pose"]
    motion = geo.motion_from_pose(pose, 30.0)
    assert motion.shape == (3, 599, 2, 5)
    again = geo.rollout(pose[:, 0], motion, fly_sim.RADIUS, 30.0)
    np.testing.assert_allclose(again, pose, atol=1e-8)
    again_torch = geo.rollout(torch.tensor(pose[:, 0]), torch.tensor(motion), fly_sim.RADIUS, 30.0)
    np.testing.assert_allclose(again_torch.numpy(), pose, atol=1e-8)


def test_motion_is_in_the_flys_frame():
    pose = np.stack([two_flies(heading=math.pi / 2), two_flies(x0=0.0, y0=1.0, heading=math.pi / 2 + 0.1)])
    m = geo.motion_from_pose(pose, 30.0)[0, 0]
    np.testing.assert_allclose(m[:3], [30.0, 0.0, 3.0], atol=1e-9)   # 1 mm forward in 1/30 s, 0.1 rad turn


def test_integrate_keeps_flies_in_the_arena():
    pose = two_flies(x0=9.0, heading=0.0)
    out = geo.integrate(pose, np.array([[300.0, 0, 0, 100, -100], [0, 0, 0, 0, 0]]), 10.0, 30.0)
    assert math.hypot(*out[0, :2]) == pytest.approx(10.0 - 0.5)
    assert out[0, geo.WING_L] == pytest.approx(math.pi / 2) and out[0, geo.WING_R] == 0


# --------------------------------------------------------------------------- simulator
def test_simulator_is_deterministic_given_seed():
    a = fly_sim.simulate(2, 200, np.random.default_rng(5))
    b = fly_sim.simulate(2, 200, np.random.default_rng(5))
    c = fly_sim.simulate(2, 200, np.random.default_rng(6))
    np.testing.assert_array_equal(a["pose"], b["pose"])
    np.testing.assert_array_equal(a["behaviour"], b["behaviour"])
    assert not np.array_equal(a["pose"], c["pose"])
    cfg = {"window": 40, "train_windows": 6, "test_windows": 3, "sim_frames": 200}
    p, q = flies.prepare("embedded", cfg, 1, "unused"), flies.prepare("embedded", cfg, 1, "unused")
    assert all(np.array_equal(p[k], q[k]) for k in p)


def test_simulated_flies_stay_in_the_dish_and_apart(sim):
    pose = sim["pose"]
    assert np.all(np.hypot(pose[..., 0], pose[..., 1]) <= fly_sim.RADIUS - pose[..., geo.WIDTH] / 2 + 1e-9)
    gap = np.hypot(*(pose[:, :, 0, :2] - pose[:, :, 1, :2]).transpose(2, 0, 1))
    assert gap.min() >= fly_sim.MIN_GAP - 1e-6
    wings = pose[..., geo.WING_L:geo.WING_R + 1]
    assert np.all((wings >= 0) & (wings <= math.pi / 2))


def test_simulator_label_statistics():
    rng = np.random.default_rng(0)
    sim = fly_sim.simulate(8, 1800, rng)
    truth = sim["behaviour"]
    labels = fly_sim.annotate(truth, rng)
    assert set(np.unique(truth)) == set(range(6))
    lunges = [e - s for m in range(8) for f in range(2) for s, e, c in supervision.bouts(truth[m, :, f]) if c == geo.LUNGE]
    assert min(lunges) >= 3 and max(lunges) <= 5
    annotated = labels >= 0
    assert 0.02 < annotated.mean() < 0.5
    np.testing.assert_array_equal(labels[annotated], truth[annotated])
    gaps, n_true, n_labelled = [], 0, 0
    for m in range(8):
        for f in range(2):
            true_bouts, got = supervision.bouts(truth[m, :, f]), supervision.bouts(labels[m, :, f])
            n_true, n_labelled = n_true + len(true_bouts), n_labelled + len(got)
            for s, e, c in got:          # every annotated run is exactly a union of true bouts of its class
                assert np.all(truth[m, s:e, f] == c)
            gaps += list(np.diff(got[:, 0]))
    assert n_labelled < 0.8 * n_true
    assert np.std(gaps) / np.mean(gaps) > 0.5                       # irregular, not periodic


def test_simulated_lunges_are_fast_and_the_opponent_slower():
    sim = fly_sim.simulate(8, 1800, np.random.default_rng(1))
    motion = geo.motion_from_pose(sim["pose"], 30.0)
    speed = np.hypot(motion[..., 0], motion[..., 1])
    beh = sim["behaviour"][:, :-1]
    lunge = beh == geo.LUNGE
    peak = [speed[m, s:e, f].max() for m in range(8) for f in range(2)
            for s, e, c in supervision.bouts(beh[m, :, f]) if c == geo.LUNGE]
    assert np.median(peak) > 40 and max(peak) <= 260
    assert np.median(speed[lunge[..., ::-1]]) < 45
    threat = beh == geo.THREAT
    wings = sim["pose"][:, :-1, :, geo.WING_L][threat]
    assert np.median(speed[threat]) < 5 and np.median(wings) > 0.5


def test_thin_annotations_keeps_whole_bouts():
    labels = fly_sim.annotate(fly_sim.simulate(2, 600, np.random.default_rng(2))["behaviour"], np.random.default_rng(3))
    half = supervision.thin_annotations(labels, 0.5, np.random.default_rng(4))
    kept = half >= 0
    np.testing.assert_array_equal(half[kept], labels[kept])
    assert 0 < kept.sum() < (labels >= 0).sum()
    for m in range(2):
        for f in range(2):
            series = labels[m, :, f]
            for s, e, _ in supervision.bouts(half[m, :, f]):
                assert (s == 0 or series[s - 1] != series[s]) and (e == 600 or series[e] != series[s])
    assert (supervision.thin_annotations(labels, 0.0, np.random.default_rng(0)) == -1).all()


def test_prepare_embedded_arrays():
    cfg = {"window": 50, "train_windows": 10, "test_windows": 4, "sim_frames": 300, "supervision": 1.0}
    out = flies.prepare("embedded", cfg, 0, "unused")
    assert out["train_pose"].shape == (10, 51, 2, 7) and out["test_pose"].shape == (4, 51, 2, 7)
    assert out["train_motion"].shape == (10, 50, 2, 5)
    assert out["train_vision"].shape == (10, 50, 2, 2, 72)
    assert out["train_state"].shape == (10, 50, 2, 4)
    assert out["train_labels"].dtype == np.int64 and out["train_true_labels"].shape == (10, 50, 2)
    assert out["motion_mean"].shape == (5,) and np.all(out["motion_std"] > 0)
    assert tuple(out["classes"]) == geo.CLASSES and float(out["fps"]) == 30.0
    np.testing.assert_allclose(out["train_vision"], geo.vision_encoding(
        out["train_pose"][:, :-1].astype(np.float64), out["train_radius"][:, None].astype(np.float64)), atol=1e-5)
    labelled = out["train_labels"] >= 0
    np.testing.assert_array_equal(out["train_labels"][labelled], out["train_true_labels"][labelled])
    thin = flies.prepare("embedded", dict(cfg, supervision=0.25), 0, "unused")
    assert (thin["train_labels"] >= 0).sum() < labelled.sum()
    np.testing.assert_array_equal(thin["train_pose"], out["train_pose"])


def test_prepare_rejects_bad_source_and_params():
    with pytest.raises(PipelineError, match="flies.source"):
        flies.prepare("mnist", {}, 0, "unused")
    with pytest.raises(PipelineError, match="zrznw-w7386"):
        flies.prepare("download", {}, 0, "unused")
    with pytest.raises(PipelineError, match="flies.window"):
        flies.prepare("embedded", {"window": 0}, 0, "unused")


# --------------------------------------------------------------------------- real files
@needs_fixtures
def test_flytracker_fixture_loads():
    m = flytracker.load_movie(FIXTURES / "starved-bb-track.mat")
    pose = m["pose"]
    assert pose.shape == (6700, 5, 7)
    assert m["ppm"] == pytest.approx(8.5976, abs=1e-4) and m["fps"] == 30.0
    assert np.isnan(pose[1492, 1, geo.X]) and np.isnan(pose[2083, 1, geo.X])
    ok = np.isfinite(pose[..., geo.X])
    assert np.all(np.hypot(pose[..., 0], pose[..., 1])[ok] <= m["radius"])
    assert 2.3 < np.median(pose[..., geo.LENGTH]) < 3.0 and 0.8 < np.median(pose[..., geo.WIDTH]) < 1.2
    speed = np.hypot(*np.diff(pose[:, 0, :2], axis=0).T) * 30
    assert 1 < np.nanmedian(speed) < 20                                 # walking flies, mm/s
    pair = pose[:, :2]
    valid = np.all(np.isfinite(pair), axis=(1, 2))
    starts = flies.window_starts(valid, 100, 50)
    assert len(starts) > 50
    for s in starts:
        assert valid[s:s + 101].all() and not (s <= 1492 <= s + 100) and not (s <= 2083 <= s + 100)


@needs_fixtures
def test_calibration_with_matlab_objects_loads():
    ppm, fps, r = flytracker.read_calibration(FIXTURES / "calibration.mat")
    assert ppm == pytest.approx(8.59762713) and fps == 30 and r is None


PPM = 7.0
OLD_NAMES = ["pos x", "pos y", "ori", "major axis len", "minor axis len", "wing l x", "wing l y",
             "wing r x", "wing r y", "body area", "fg area", "img contrast", "min fg dist",
             "wing l len", "wing r len", "dist to wall", "facing angle"]


def old_track(pose, ppm=PPM):
    """Pixel columns of the 2014 Fly-vs-Fly layout (image y down) from poses [F, 2, S]."""
    p = pose.transpose(1, 0, 2)
    data = np.zeros(p.shape[:2] + (17,))
    x, y, h = p[..., 0] + 20, 20 - p[..., 1], p[..., 2]
    data[..., 0], data[..., 1], data[..., 2] = x * ppm, y * ppm, h
    data[..., 3], data[..., 4] = p[..., 5] * ppm, p[..., 6] * ppm
    for col, sign, wing in ((5, -1, p[..., 3]), (7, 1, p[..., 4])):
        a = h + math.pi + sign * wing
        data[..., col], data[..., col + 1] = (x + 2 * np.cos(a)) * ppm, (y - 2 * np.sin(a)) * ppm
    return data


def write_movie(folder, n, pose, bouts, behs, nan=()):
    folder.mkdir(parents=True, exist_ok=True)
    data = old_track(pose)
    for fly, frames, cols in nan:
        data[fly, np.ix_(frames, cols)[0], np.ix_(frames, cols)[1]] = np.nan
    scipy.io.savemat(folder / f"movie{n}_track.mat", {"trk": {
        "flag_frames": np.zeros((0, 2)), "names": np.array(OLD_NAMES, dtype=object), "data": data}})
    dist = np.hypot(*(pose[:, 0, :2] - pose[:, 1, :2]).T)
    feat = np.zeros((2, len(pose), 3))
    feat[:, :, 2] = dist
    scipy.io.savemat(folder / f"movie{n}_feat.mat", {"feat": {
        "names": np.array(["vel", "ang_vel", "dist_to_other"], dtype=object), "data": feat}})
    table = np.empty((2, len(behs)), dtype=object)
    for i in range(2):
        for j in range(len(behs)):
            table[i, j] = np.array(bouts.get((i, j), np.zeros((0, 3))), dtype=float)
    scipy.io.savemat(folder / f"movie{n}_actions.mat", {"behs": np.array(behs, dtype=object), "bouts": table})


BEHS = ["lunge", "tussle", "wing threat", "charging", "hold", "touch", "copulation"]


@pytest.fixture(scope="module")
def aggression(tmp_path_factory):
    """Two movies in the 2014 Fly-vs-Fly layout, written from simulated flies."""
    root = tmp_path_factory.mktemp("flyvsfly") / "Aggression"
    sim = fly_sim.simulate(2, 400, np.random.default_rng(7))
    bouts = {(0, 0): [[11, 14, 0]], (0, 5): [[5, 30, 0]], (1, 3): [[101, 150, 1], [301, 310, 0]],
             (1, 6): [[400, 420, 0]]}
    nan = [(0, [100, 101], [0, 1]), (1, range(200, 205), [5, 6]), (1, range(250, 300), [7, 8])]
    write_movie(root / "movie1", 1, sim["pose"][0], bouts, BEHS, nan)
    write_movie(root / "movie2", 2, sim["pose"][1], {}, BEHS)
    return root, sim


def test_old_layout_loads_by_column_names(aggression):
    root, sim = aggression
    m = flytracker.load_movie(root / "movie2" / "movie2_track.mat", root / "movie2" / "movie2_actions.mat")
    assert m["ppm"] == pytest.approx(PPM) and m["fps"] == 30.0
    np.testing.assert_allclose(geo.motion_from_pose(m["pose"], 30.0), geo.motion_from_pose(sim["pose"][1], 30.0),
                               atol=1e-6)
    np.testing.assert_allclose(m["pose"][:, :, geo.LENGTH], sim["pose"][1][:, :, geo.LENGTH], atol=1e-9)
    assert (m["labels"] == -1).all()


def test_actions_map_to_paper_classes(aggression):
    root, _ = aggression
    labels = flytracker.actions_labels(root / "movie1" / "movie1_actions.mat", 400, 2)
    assert (labels[10:14, 0] == geo.LUNGE).all()              # 1-based inclusive 11..14; lunge beats touch
    assert (labels[4:10, 0] == geo.UNKNOWN).all() and (labels[14:30, 0] == geo.UNKNOWN).all()
    assert labels[3, 0] == -1 and labels[30, 0] == -1
    assert (labels[100:150, 1] == geo.CHARGE).all() and (labels[300:310, 1] == geo.CHARGE).all()
    assert labels[150, 1] == -1 and (labels[399:, 1] == geo.UNKNOWN).all()   # bout clipped at the last frame
    assert [flytracker.behaviour_class(b) for b in ("Wing_Threat", "Lunge", "wing extension", "circle")] == \
           [geo.THREAT, geo.LUNGE, geo.UNKNOWN, geo.UNKNOWN]


def test_missing_frames_never_inside_a_window(aggression, caplog):
    root, _ = aggression
    m = flytracker.load_movie(root / "movie1" / "movie1_track.mat")
    pose = m["pose"]
    assert np.isnan(pose[[100, 101], 0, geo.X]).all()
    assert np.isfinite(pose[200:205, 1, geo.WING_L]).all()       # 5-frame wing gap interpolated
    assert np.isnan(pose[250:300, 1, geo.WING_R]).all()          # 50-frame gap stays missing
    cfg = {"window": 40, "stride": 10, "local_dir": str(root), "train_movies": [1], "test_movies": [2]}
    with caplog.at_level("INFO", logger=flies.log.name):
        out = flies.prepare("flyvsfly", cfg, 0, "unused")
    counted = [r.getMessage() for r in caplog.records if "movie1:" in r.getMessage()]
    assert counted and "with a missing track" in counted[0]
    missing = int(counted[0].split(" with a missing track")[0].rsplit(" ", 1)[1])
    assert missing == int((~np.isfinite(pose).all(axis=(1, 2))).sum()) >= 2 + 50   # 100-101, the long wing gap
    starts = out["train_start"]
    assert len(starts) > 0 and np.isfinite(out["train_pose"]).all()
    for s in starts:
        frames = set(range(s, s + 41))
        assert not frames & {100, 101} and not frames & set(range(250, 300))
    assert out["train_vision"].shape == (len(starts), 40, 2, 2, 72)
    assert out["test_labels"].shape == (len(out["test_start"]), 40, 2)
    assert set(np.unique(out["train_labels"])) <= {-1, geo.LUNGE, geo.CHARGE, geo.UNKNOWN}


def test_bad_files_give_clear_errors(tmp_path, aggression):
    root, _ = aggression
    scipy.io.savemat(tmp_path / "no_data.mat", {"trk": {"names": np.array(["pos x"], dtype=object)}})
    with pytest.raises(PipelineError, match=r"no_data\.mat.*no field 'data'"):
        flytracker.read_track(tmp_path / "no_data.mat")
    names = [n for n in OLD_NAMES if n != "ori"]
    scipy.io.savemat(tmp_path / "no_ori.mat", {"trk": {"names": np.array(names, dtype=object),
                                                       "data": np.zeros((2, 5, len(names)))}})
    with pytest.raises(PipelineError, match=r"no_ori\.mat.*'ori'"):
        flytracker.load_movie(tmp_path / "no_ori.mat", ppm=1.0)
    (tmp_path / "garbage.mat").write_bytes(b"not a mat file at all" * 20)
    with pytest.raises(PipelineError, match=r"garbage\.mat.*not a readable"):
        flytracker.read_track(tmp_path / "garbage.mat")
    scipy.io.savemat(tmp_path / "actions.mat", {"behs": np.array(BEHS, dtype=object)})
    with pytest.raises(PipelineError, match=r"actions\.mat.*'bouts'"):
        flytracker.actions_labels(tmp_path / "actions.mat", 10, 2)
    with pytest.raises(PipelineError, match=r"movie3_track\.mat not found.*zrznw-w7386"):
        flies.prepare("flyvsfly", {"local_dir": str(root), "train_movies": [3]}, 0, "unused")
    with pytest.raises(PipelineError, match="does not exist"):
        flies.prepare("flyvsfly", {}, 0, tmp_path / "nowhere")
    scipy.io.savemat(tmp_path / "lonely_track.mat", {"trk": {"names": np.array(OLD_NAMES, dtype=object),
                                                             "data": old_track(np.zeros((5, 2, 7)) + 1)}})
    with pytest.raises(PipelineError, match=r"pixel size.*flies\.ppm"):
        flytracker.load_movie(tmp_path / "lonely_track.mat")

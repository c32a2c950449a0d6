"""Fly-vs-Fly data (paper sec. 4.3): windows of two flies' poses, motion, vision, own state and
behaviour labels, from one of two sources (`prepare`):

  embedded   simulated flies (fly_sim.py), with the true behaviour of every frame
  flyvsfly   (alias `local`) the real Fly-vs-Fly .mat files in a local folder (flytracker.py)

Poses, motion, vision and state are defined in fly_geometry.py; labels y_t index CLASSES there,
-1 = not annotated.
"""
import logging
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data import fly_sim
from pipeline.data.fly_geometry import CLASSES, MOTION, POSE, STATE, motion_from_pose, own_state, vision_encoding
from pipeline.data.flytracker import MOVIES, WHERE, find_movie, load_movie
from pipeline.data.supervision import runs, thin_annotations

log = logging.getLogger(__name__)

SPLITS = ("train", "test", "valid")     # valid: held out from training, for choices made before scoring test


def window_starts(valid, length, stride):
    """First frames of windows of length + 1 frames (T motions) that never leave a run of valid frames."""
    starts = [np.arange(a, b - length, stride) for a, b in runs(valid) if b - a > length]
    return np.concatenate(starts).astype(np.int64) if starts else np.zeros(0, np.int64)


def cut(arrays, starts, length):
    """Windows of frame-major arrays: poses get length + 1 frames, per-step arrays length frames."""
    idx = starts[:, None] + np.arange(length + 1)
    return {k: (v[idx] if k == "pose" else v[idx[:, :length]]) for k, v in arrays.items()}


def windowed_arrays(pose, labels, radius, fps, true_labels=None, vision=True):
    """Model-ready arrays for windows: pose [N, T+1, 2, S] -> motion, vision, state (float32).

    Vision is computed 256 windows at a time to bound memory; vision=False leaves it out (a
    consumer can compute it per batch with `vision_encoding(pose[:, :-1], radius[:, None])`).
    """
    radius = np.asarray(radius, np.float64)
    now = pose[:, :-1]
    out = {"pose": pose.astype(np.float32),
           "motion": motion_from_pose(pose, fps).astype(np.float32),
           "state": own_state(now, radius[:, None]).astype(np.float32),
           "labels": labels.astype(np.int64),
           "radius": radius.astype(np.float32)}
    if vision:
        out["vision"] = np.concatenate([vision_encoding(now[i:i + 256], radius[i:i + 256, None]).astype(np.float32)
                                        for i in range(0, len(pose), 256)])
    if true_labels is not None:
        out["true_labels"] = true_labels.astype(np.int64)
    return out


# --------------------------------------------------------------------------- sources
def _splits(windows, fps):
    """Flatten {split: windowed arrays} into split_name keys, plus training normalisation stats."""
    out = {"fps": np.float32(fps), "classes": np.array(CLASSES),
           "pose_names": np.array(POSE), "motion_names": np.array(MOTION), "state_names": np.array(STATE)}
    for split, arrays in windows.items():
        out.update({f"{split}_{k}": v for k, v in arrays.items()})
    for key in ("motion", "state"):
        flat = windows["train"][key].reshape(-1, windows["train"][key].shape[-1]).astype(np.float64)
        out[f"{key}_mean"] = flat.mean(axis=0).astype(np.float32)
        out[f"{key}_std"] = np.maximum(flat.std(axis=0), 1e-6).astype(np.float32)
    out["arena_radius"] = np.float32(np.median(windows["train"]["radius"]))
    return out


def _count(cfg, key):
    n = cfg.get(key)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise PipelineError(f"params.yaml: flies.{key} is {n!r}; it must be a whole number >= 1 (or null = all)")
    return n


def _window_cfg(cfg):
    length = cfg.get("window", 150)
    stride = cfg.get("stride") or length
    for key, v in (("window", length), ("stride", stride)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise PipelineError(f"params.yaml: flies.{key} is {v!r}; it must be a whole number >= 1")
    rate = cfg.get("supervision", 1.0)
    if not isinstance(rate, (int, float)) or isinstance(rate, bool) or not 0 <= rate <= 1:
        raise PipelineError(f"params.yaml: flies.supervision is {rate!r}; it must be a number in [0, 1]")
    return length, stride, rate


def prepare_embedded(cfg, seed):
    """Simulated train, test and validation windows (fly_sim.py), with ground-truth labels for every frame."""
    length, stride, rate = _window_cfg(cfg)
    frames = max(_count(cfg, "sim_frames") or 1800, length + 1)
    radius, fps = float(cfg.get("arena_radius", fly_sim.RADIUS)), float(cfg.get("fps", 30))
    per_movie = len(window_starts(np.ones(frames, bool), length, stride))
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    windows = {}
    for split, stream in zip(SPLITS, streams):
        n = _count(cfg, f"{split}_windows") or {"train": 256, "test": 64, "valid": 16}[split]
        rng = np.random.default_rng(stream)
        sim = fly_sim.simulate(-(-n // per_movie), frames, rng, radius=radius, fps=fps)
        labels = fly_sim.annotate(sim["behaviour"], rng)
        if split == "train":
            labels = thin_annotations(labels, rate, rng)
        starts = window_starts(np.ones(frames, bool), length, stride)
        movie, start = np.repeat(np.arange(len(labels)), len(starts))[:n], np.tile(starts, len(labels))[:n]
        idx = start[:, None] + np.arange(length + 1)
        pose = sim["pose"][movie[:, None], idx]
        w = windowed_arrays(pose, labels[movie[:, None], idx[:, :length]], np.full(n, radius), fps,
                            sim["behaviour"][movie[:, None], idx[:, :length]], cfg.get("store_vision", True))
        w.update(movie=movie, start=start)
        windows[split] = w
        log.info("flies/embedded %s: %d windows of %d frames from %d simulated movies; %.1f%% of frames annotated",
                 split, n, length, len(labels), 100 * (w["labels"] >= 0).mean())
    return _splits(windows, fps)



def prepare_flyvsfly(cfg, seed, raw_dir):
    """Real Fly-vs-Fly windows from flies.train_movies and flies.test_movies (default: the split of
    Aggression/traintest.mat, train 1-5, test 6-10), found under flies.local_dir (default raw_dir/flyvsfly).
    The validation windows (flies.<profile>.valid_windows, default a tenth) are drawn from the
    training movies' windows and removed from training.

    Windows never span a missing frame (NaN position or heading, or a wing gap longer than
    flies.max_wing_gap frames); how many frames that leaves out is logged per movie.
    """
    length, stride, rate = _window_cfg(cfg)
    root = Path(cfg.get("local_dir") or Path(raw_dir) / "flyvsfly")
    if not root.is_dir():
        raise PipelineError(f"Fly-vs-Fly: folder {root} does not exist; {WHERE}")
    rng = np.random.default_rng(seed)
    windows, rates = {}, set()
    for split in ("train", "test"):
        parts = []
        for n in cfg.get(f"{split}_movies") or MOVIES[split]:
            track, actions = find_movie(root, n)
            m = load_movie(track, actions, ppm=cfg.get("ppm"), fps=cfg.get("fps"),
                           max_gap=cfg.get("max_wing_gap") or 30)
            if m["pose"].shape[1] != 2:
                raise PipelineError(f"{track}: {m['pose'].shape[1]} flies tracked; Fly-vs-Fly movies hold 2")
            rates.add(m["fps"])
            labels = thin_annotations(m["labels"], rate, rng) if split == "train" else m["labels"]
            valid = np.all(np.isfinite(m["pose"]), axis=(1, 2))
            starts = window_starts(valid, length, stride)
            covered = np.zeros(len(valid), bool)
            for s in starts:
                covered[s:s + length + 1] = True
            log.info("flies/flyvsfly movie%s: %d frames, %d with a missing track, %d outside every window, "
                     "%d windows", n, len(valid), (~valid).sum(), (~covered).sum(), len(starts))
            w = cut({"pose": m["pose"], "labels": labels}, starts, length)
            parts.append(dict(w, radius=np.full(len(starts), m["radius"]), movie=np.full(len(starts), n), start=starts))
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        cap = _count(cfg, f"{split}_windows")
        if cap is not None and cap < len(merged["start"]):
            keep = np.sort(rng.choice(len(merged["start"]), cap, replace=False))
            merged = {k: v[keep] for k, v in merged.items()}
        if len(merged["start"]) == 0:
            raise PipelineError(f"Fly-vs-Fly: no {split} window of {length + 1} frames without a missing track; "
                                f"lower flies.window")
        windows[split] = merged
    train = windows["train"]
    n_valid = _count(cfg, "valid_windows") or max(1, len(train["start"]) // 10)
    if n_valid >= len(train["start"]):
        raise PipelineError(f"Fly-vs-Fly: {len(train['start'])} training windows leave none for training after "
                            f"{n_valid} validation windows; lower flies.valid_windows or flies.window")
    held = np.zeros(len(train["start"]), bool)
    held[rng.choice(len(held), n_valid, replace=False)] = True
    windows["train"], windows["valid"] = ({k: v[~held] for k, v in train.items()}, {k: v[held] for k, v in train.items()})
    if len(rates) > 1:
        raise PipelineError(f"Fly-vs-Fly: the movies have different frame rates {sorted(rates)}; set flies.fps "
                            f"and remove the calibration files that disagree")
    fps = rates.pop()
    for split, m in windows.items():
        arrays = windowed_arrays(m["pose"], m["labels"], m["radius"], fps, vision=cfg.get("store_vision", True))
        windows[split] = dict(arrays, movie=m["movie"], start=m["start"])
    return _splits(windows, fps)


def prepare(source, cfg, seed, raw_dir):
    """Train, test and validation windows of the Fly-vs-Fly experiment as a dict of numpy arrays.

    For each split s in (train, test, valid):
      s_pose [N, T+1, 2, S] float32   poses of both flies (POSE); frame T closes the last motion
      s_motion [N, T, 2, D] float32   x_t, motion from frame t to t+1 (MOTION)
      s_vision [N, T, 2, 2, 72]       vision of each fly at frame t (other fly, wall); absent when
                                      flies.store_vision is false
      s_state [N, T, 2, O]            own state at frame t (STATE)
      s_labels [N, T, 2] int64        class index, -1 = not annotated (train thinned to flies.supervision)
      s_true_labels [N, T, 2] int64   embedded only: the simulator's behaviour at every frame
      s_radius [N] float32            arena radius (mm) of each window's movie
      s_movie [N], s_start [N]        movie number and first frame of each window
    and fps, arena_radius (median), motion_mean/std [D] and state_mean/std [O] from training
    windows, classes, pose_names, motion_names, state_names.
    """
    if source == "embedded":
        return prepare_embedded(cfg, seed)
    if source in ("flyvsfly", "local"):
        return prepare_flyvsfly(cfg, seed, raw_dir)
    if source == "download":
        raise PipelineError(f"flies.source 'download': the Fly-vs-Fly files cannot be fetched automatically; {WHERE}, "
                            f"then set flies.source to 'flyvsfly'")
    raise PipelineError(f"params.yaml: flies.source is {source!r}; use 'embedded' or 'flyvsfly'")

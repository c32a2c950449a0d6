"""Fly-vs-Fly data (paper sec. 4.3): two male flies in a circular dish, 30 frames per second.

Per fly and frame, the pose (POSE, S = 7) is
    x, y      mm, arena centre at the origin, y pointing up
    heading   rad, counter-clockwise from +x, wrapped to [-pi, pi)
    wing_l/r  rad, angle of each wing from the body's rear axis (0 = folded), in [0, pi/2]
    length    mm, body length (major axis), constant per fly and movie
    width     mm, body width (minor axis), constant per fly and movie
What models predict, x_t (MOTION, D = 5), is the velocity taking pose t to pose t + 1, in the
fly's own frame at t, so that a sampler can integrate it (`integrate`, `rollout`):
    forward, lateral (mm/s, lateral > 0 = to the fly's left), turn (rad/s), wing_l/r rates (rad/s).
Inputs at t, computed from pose t only (so a closed-loop sampler can recompute them):
    vision  [2 channels: other fly, wall; 72 bins] per fly (`vision_encoding`)
    state   (STATE, O = 4): wing_l, wing_r, length, wall_dist (mm from the wall)
The previous velocity x_{t-1}, also part of a fly's knowledge of its own state, reaches the
models through their recurrence, so it is not repeated here.  Labels y_t index CLASSES; -1 =
not annotated.  Geometry works on numpy arrays and on torch tensors alike.

Sources (`prepare`): `embedded` simulates flies (fly_sim.py); `flyvsfly` (alias `local`) reads
the real Fly-vs-Fly .mat files from a local folder.
"""
import logging
import math
from pathlib import Path

import numpy as np
import scipy.io

from pipeline import PipelineError

log = logging.getLogger(__name__)

CLASSES = ("lunge", "charge", "tussle", "wing threat", "hold", "unknown")
LUNGE, CHARGE, TUSSLE, THREAT, HOLD, UNKNOWN = range(6)
POSE = ("x", "y", "heading", "wing_l", "wing_r", "length", "width")
X, Y, HEADING, WING_L, WING_R, LENGTH, WIDTH = range(7)
MOTION = ("forward", "lateral", "turn", "wing_l_rate", "wing_r_rate")
STATE = ("wing_l", "wing_r", "length", "wall_dist")
N_BINS = 72
BIN = 2 * math.pi / N_BINS
OFFSETS = -math.pi + BIN * np.arange(N_BINS)     # bin k looks at heading - 180 deg + 5k deg
WING_MAX = math.pi / 2
SPLITS = ("train", "test")


# --------------------------------------------------------------------------- geometry
def _xp(a):
    """The array module `a` belongs to: torch for tensors, numpy otherwise."""
    if type(a).__module__.startswith("torch"):
        import torch
        return torch
    return np


def _const(values, like):
    """`values` as an array of `like`'s kind, dtype and device."""
    if _xp(like) is np:
        return np.asarray(values, dtype=like.dtype)
    import torch
    return torch.as_tensor(values, dtype=like.dtype, device=like.device)


def _expand(radius, k):
    """A radius broadcastable to pose.shape[:-2], with k trailing axes added (a number as is)."""
    return radius[(..., *[None] * k)] if getattr(radius, "ndim", 0) else radius


def wrap(angle):
    """Angles to [-pi, pi)."""
    return _xp(angle).remainder(angle + math.pi, 2 * math.pi) - math.pi


def encode_distance(d, radius):
    """The vision code of a distance: 1 - min(1, (d / 2R)^0.6); 1 at contact, 0 far away."""
    return 1 - _xp(d).clip(d / (2 * radius), 0, 1) ** 0.6


def vision_encoding(pose, radius):
    """What each fly sees: [..., 2 flies, 2 channels (other fly, wall), 72 bins].

    pose [..., 2, S]; radius a number or an array broadcastable to pose.shape[:-2].
    Bin k is centred on heading + (-180 + 5k) degrees (bin 36 straight ahead, bin 0 behind)
    and is 5 degrees wide.  Other fly: an ellipse (length x width) whose angular extent is
    set by its half-width across the line of sight; every bin overlapping that extent gets the
    code of the distance to its near surface (centre distance minus its half-depth along the
    line of sight); other bins get 0.  Wall: the ray-circle distance along each bin's centre.
    """
    xp = _xp(pose)
    other = pose[..., [1, 0], :]
    rx, ry = other[..., X] - pose[..., X], other[..., Y] - pose[..., Y]
    d = xp.sqrt(rx ** 2 + ry ** 2)
    bearing = xp.arctan2(ry, rx)
    c2 = xp.cos(bearing - other[..., HEADING]) ** 2             # line of sight vs its body axis
    a2, b2 = (other[..., LENGTH] / 2) ** 2, (other[..., WIDTH] / 2) ** 2
    depth = xp.sqrt(a2 * c2 + b2 * (1 - c2))
    half_width = xp.sqrt(a2 * (1 - c2) + b2 * c2)
    extent = xp.arcsin(xp.clip(half_width / xp.clip(d, 1e-9, None), 0, 1))
    centres = pose[..., HEADING, None] + _const(OFFSETS, pose)   # [..., 2, 72]
    seen = xp.abs(wrap(centres - bearing[..., None])) <= extent[..., None] + BIN / 2
    near = encode_distance(xp.clip(d - depth, 0, None), _expand(radius, 1))
    fly = xp.where(seen, near[..., None], xp.zeros_like(centres))
    ux, uy = xp.cos(centres), xp.sin(centres)
    px, py = pose[..., X, None], pose[..., Y, None]
    along = px * ux + py * uy
    R = _expand(radius, 2)
    inside = xp.clip(px ** 2 + py ** 2 - R ** 2, None, 0)       # <= 0 for a fly in the arena
    wall = encode_distance(-along + xp.sqrt(along ** 2 - inside), R)
    return xp.stack([fly, wall], axis=-2)


def own_state(pose, radius):
    """A fly's own state [..., 2, 4] = wing_l, wing_r, length, distance to the wall (mm)."""
    xp = _xp(pose)
    wall = _expand(radius, 1) - xp.sqrt(pose[..., X] ** 2 + pose[..., Y] ** 2)
    return xp.stack([pose[..., WING_L], pose[..., WING_R], pose[..., LENGTH], wall], axis=-1)


def motion_from_pose(pose, fps):
    """Motion [..., T, 2, D] taking pose [..., T+1, 2, S] from each frame to the next (axis -3 = time)."""
    xp = _xp(pose)
    p0, p1 = pose[..., :-1, :, :], pose[..., 1:, :, :]
    dx, dy = (p1[..., X] - p0[..., X]) * fps, (p1[..., Y] - p0[..., Y]) * fps
    c, s = xp.cos(p0[..., HEADING]), xp.sin(p0[..., HEADING])
    return xp.stack([dx * c + dy * s, -dx * s + dy * c,
                     wrap(p1[..., HEADING] - p0[..., HEADING]) * fps,
                     (p1[..., WING_L] - p0[..., WING_L]) * fps,
                     (p1[..., WING_R] - p0[..., WING_R]) * fps], axis=-1)


def integrate(pose, motion, radius, fps):
    """The next pose [..., 2, S] after `motion` [..., 2, D]: inverse of `motion_from_pose`.

    A fly's centre stays at least half its width inside the wall (positions beyond are pulled
    back radially); wing angles stay in [0, pi/2]; length and width are carried over.
    """
    xp = _xp(pose)
    c, s = xp.cos(pose[..., HEADING]), xp.sin(pose[..., HEADING])
    fwd, lat = motion[..., 0] / fps, motion[..., 1] / fps
    x, y = pose[..., X] + fwd * c - lat * s, pose[..., Y] + fwd * s + lat * c
    limit = _expand(radius, 1) - pose[..., WIDTH] / 2
    scale = xp.clip(limit / xp.clip(xp.sqrt(x ** 2 + y ** 2), 1e-9, None), None, 1)
    return xp.stack([x * scale, y * scale,
                     wrap(pose[..., HEADING] + motion[..., 2] / fps),
                     xp.clip(pose[..., WING_L] + motion[..., 3] / fps, 0, WING_MAX),
                     xp.clip(pose[..., WING_R] + motion[..., 4] / fps, 0, WING_MAX),
                     pose[..., LENGTH], pose[..., WIDTH]], axis=-1)


def rollout(pose0, motion, radius, fps):
    """Integrate motion [..., T, 2, D] from pose0 [..., 2, S]: poses [..., T+1, 2, S]."""
    xp = _xp(pose0)
    poses = [pose0]
    for t in range(motion.shape[-3]):
        poses.append(integrate(poses[-1], motion[..., t, :, :], radius, fps))
    return xp.stack(poses, axis=-3)


# --------------------------------------------------------------------------- labels and windows
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


# --------------------------------------------------------------------------- .mat files
def _loadmat(path):
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: file not found")
    with open(path, "rb") as f:
        if b"MATLAB 7.3" in f.read(128):          # HDF5-based, which scipy.io cannot read
            raise PipelineError(f"{path}: a MATLAB v7.3 (HDF5) file; re-save it in MATLAB with "
                                f"save(name, '-struct', ..., '-v7') or load/save it with '-v7'")
    try:
        return scipy.io.loadmat(path, squeeze_me=False, struct_as_record=True)
    except Exception as err:      # scipy raises ValueError, TypeError, OSError... on bad files
        raise PipelineError(f"{path}: not a readable MATLAB .mat file ({err.__class__.__name__}: "
                            f"{str(err)[:120]}); fetch the file again") from None


def _struct(mat, path, key, fields):
    """The scalar struct `key` of a loaded .mat file, checked to have `fields`."""
    if key not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__"))
        raise PipelineError(f"{path}: no variable '{key}' (found {found}); is this the right file?")
    s = mat[key]
    if s.dtype.names is None or s.size == 0:
        raise PipelineError(f"{path}: '{key}' is not a MATLAB struct; is this the right file?")
    s = s.reshape(-1)[0]
    for f in fields:
        if f not in s.dtype.names:
            raise PipelineError(f"{path}: {key} has no field '{f}' (fields: {', '.join(s.dtype.names)}); "
                                f"the file is not in a Fly-vs-Fly/FlyTracker layout")
    return s


def _strings(arr):
    """A MATLAB cell array of strings (or a char matrix) as a list of str."""
    arr = np.asarray(arr)
    if arr.dtype.kind == "U":
        return [str(s).strip() for s in arr.ravel()]
    return [str(np.asarray(s).ravel()[0]).strip() if np.asarray(s).size else "" for s in arr.ravel()]


def _norm(name):
    return " ".join(name.lower().replace("_", " ").split())


def _number(s, field):
    v = np.asarray(s[field], dtype=float).ravel() if field in (s.dtype.names or ()) else np.zeros(0)
    return float(v[0]) if v.size else None


def read_track(path):
    """Column names and data [n_flies, n_frames, n_columns] of a track .mat file, either layout.

    Fly-vs-Fly 2014: trk.flag_frames, trk.names, trk.data (2, n_frames, 17).  Caltech FlyTracker:
    trk.names (35), trk.data (n_flies, n_frames, 35), trk.flags, trk.obj_list.  Both are read
    through the column names only; flags are not used.  Values are in pixels; NaN = missing.
    """
    trk = _struct(_loadmat(path), path, "trk", ["names", "data"])
    names = [_norm(n) for n in _strings(trk["names"])]
    data = np.asarray(trk["data"], dtype=np.float64)
    if data.ndim == 2:
        data = data[None]
    if data.ndim != 3 or data.shape[2] != len(names):
        raise PipelineError(f"{path}: trk.data has shape {data.shape} but trk.names lists {len(names)} "
                            f"columns; expected data (n_flies, n_frames, n_columns)")
    layout = "Fly-vs-Fly 2014" if "flag_frames" in trk.dtype.names else "FlyTracker"
    log.info("%s: %s track, %d flies x %d frames x %d columns", Path(path).name, layout, *data.shape)
    return names, data


def read_calibration(path):
    """(PPM pixels/mm, FPS, arena radius in pixels or None) from a FlyTracker calibration.mat."""
    calib = _struct(_loadmat(path), path, "calib", ["PPM"])
    r = _number(calib, "r")
    return _number(calib, "PPM"), _number(calib, "FPS"), (r if r and r > 0 else None)


def ppm_from_feat(path, names, data):
    """Pixels per mm estimated from a feat .mat: the flies' pixel distance over feat 'dist to other' (mm)."""
    feat = _struct(_loadmat(path), path, "feat", ["names", "data"])
    fnames = [_norm(n) for n in _strings(feat["names"])]
    if "dist to other" not in fnames or data.shape[0] != 2:
        return None
    mm = np.asarray(feat["data"], dtype=float)[0, :, fnames.index("dist to other")]
    xi, yi = names.index("pos x"), names.index("pos y")
    px = np.hypot(data[0, :, xi] - data[1, :, xi], data[0, :, yi] - data[1, :, yi])
    n = min(len(px), len(mm))
    ok = np.isfinite(px[:n]) & np.isfinite(mm[:n]) & (mm[:n] > 1)
    return float(np.median(px[:n][ok] / mm[:n][ok])) if ok.sum() > 10 else None


TRACK_COLUMNS = ("pos x", "pos y", "ori", "major axis len", "minor axis len")


def _interpolate_gaps(v, max_gap):
    """Fill interior NaN runs of at most max_gap frames linearly; longer runs stay NaN."""
    v = v.copy()
    for a, b in runs(~np.isfinite(v)):
        if a > 0 and b < len(v) and b - a <= max_gap:
            v[a:b] = np.interp(np.arange(a, b), [a - 1, b], [v[a - 1], v[b]])
    return v


def track_pose(names, data, ppm, path="track", max_gap=30):
    """Poses [n_frames, n_flies, S] in mm (y up, not yet centred) from raw track columns.

    Heading: FlyTracker's 'ori' (its image-frame heading is (cos ori, -sin ori) with y down,
    i.e. ori counter-clockwise once y points up).  Wing angles: |'wing l ang'|, |'wing r ang'|
    when present, else computed from the wing tips ('wing l x/y', 'wing r x/y'), clipped to
    [0, pi/2].  Length and width: each fly's median major and minor axis.  Missing wing angles
    are interpolated over gaps of at most `max_gap` frames; position, heading and longer wing
    gaps stay NaN (the frame counts as missing).
    """
    missing = [c for c in TRACK_COLUMNS if c not in names]
    if missing:
        raise PipelineError(f"{path}: trk.names has no column '{missing[0]}'; a Fly-vs-Fly/FlyTracker "
                            f"track needs {', '.join(TRACK_COLUMNS)} and wing angles or wing tips")
    col = {n: data[..., names.index(n)] for n in names}
    x, y, heading = col["pos x"] / ppm, -col["pos y"] / ppm, wrap(col["ori"])
    wings = []
    for side in "lr":
        if f"wing {side} ang" in col:
            ang = np.abs(col[f"wing {side} ang"])
        elif f"wing {side} x" in col and f"wing {side} y" in col:
            tip = np.arctan2(-(col[f"wing {side} y"] - col["pos y"]), col[f"wing {side} x"] - col["pos x"])
            ang = np.abs(wrap(tip - heading - math.pi))
        else:
            raise PipelineError(f"{path}: trk.names has neither 'wing {side} ang' nor 'wing {side} x'/'wing {side} y'")
        wings.append(np.stack([_interpolate_gaps(a, max_gap) for a in np.clip(ang, 0, WING_MAX)]))
    with np.errstate(all="ignore"):
        size = [np.nanmedian(col[c], axis=1) / ppm for c in ("major axis len", "minor axis len")]
    if not np.all(np.isfinite(size)):
        raise PipelineError(f"{path}: a fly has no tracked frame at all; remove it or use another movie")
    length, width = (np.broadcast_to(s[:, None], x.shape) for s in size)
    return np.stack([x, y, heading, wings[0], wings[1], length, width], axis=-1).transpose(1, 0, 2)


def centre_arena(pose, radius=None):
    """Centre poses [F, n, S] on the arena (mid-point of the tracked extent) and find its radius.

    The radius is the largest of `radius` (e.g. from a calibration) and the smallest circle
    about the centre that holds every tracked fly, so no tracked position lies beyond the wall.
    """
    xy = pose[..., :2].reshape(-1, 2)
    xy = xy[np.all(np.isfinite(xy), axis=1)]
    centre = (xy.min(axis=0) + xy.max(axis=0)) / 2
    pose = pose.copy()
    pose[..., :2] -= centre
    with np.errstate(invalid="ignore"):
        reach = np.nanmax(np.hypot(pose[..., X], pose[..., Y]) + pose[..., WIDTH] / 2)
    return pose, float(max(reach, radius or 0.0))


def actions_labels(path, n_frames, n_flies):
    """Per-frame labels [n_frames, n_flies] (-1 = not annotated) from a Fly-vs-Fly actions .mat.

    actions: behs (names) and bouts{fly, beh}, each a (k, 3) array [start, end, x] of 1-based
    inclusive frames.  Names map to CLASSES via BEHAVIOURS; any other behaviour (FlyTracker's
    touch, wing extension, circle, copul attempt, copulation) is 'unknown'.  Where bouts
    overlap, the more specific class wins: lunge > tussle > hold > wing threat > charge > unknown.
    """
    mat = _loadmat(path)
    for key in ("behs", "bouts"):
        if key not in mat:
            raise PipelineError(f"{path}: no variable '{key}'; a Fly-vs-Fly actions file holds behs and bouts")
    behs = _strings(mat["behs"])
    table = np.asarray(mat["bouts"], dtype=object)
    if table.ndim != 2 or len(behs) not in table.shape:
        raise PipelineError(f"{path}: bouts has shape {table.shape} but behs lists {len(behs)} behaviours; "
                            f"expected bouts{{fly, behaviour}}")
    if table.shape[1] != len(behs):
        table = table.T
    if table.shape[0] != n_flies:
        raise PipelineError(f"{path}: bouts holds {table.shape[0]} flies but the track has {n_flies}")
    labels = np.full((n_frames, n_flies), -1, dtype=np.int64)
    classes = [behaviour_class(b) for b in behs]
    for c in PAINT_ORDER:
        for j in (j for j, cj in enumerate(classes) if cj == c):
            for fly in range(n_flies):
                spans = np.asarray(table[fly, j], dtype=float)
                if spans.size == 0:
                    continue
                if spans.ndim != 2 or spans.shape[1] < 2:
                    raise PipelineError(f"{path}: bouts{{{fly + 1},{j + 1}}} ({behs[j]}) has shape {spans.shape}; "
                                        f"expected rows [start_frame, end_frame, x]")
                for start, end in spans[:, :2].astype(np.int64):
                    labels[max(start - 1, 0):min(end, n_frames), fly] = c
    return labels


BEHAVIOURS = {"lunge": LUNGE, "lunging": LUNGE, "charge": CHARGE, "charging": CHARGE,
              "chase": CHARGE, "chasing": CHARGE, "tussle": TUSSLE, "tussling": TUSSLE,
              "wing threat": THREAT, "wingthreat": THREAT, "hold": HOLD, "holding": HOLD}
PAINT_ORDER = (UNKNOWN, CHARGE, THREAT, HOLD, TUSSLE, LUNGE)


def behaviour_class(name):
    """The paper's class index of an annotated behaviour name (other behaviours -> unknown)."""
    return BEHAVIOURS.get(_norm(name), UNKNOWN)


def _beside(track, names):
    """The first of `names` found beside the track file or in its parent folder."""
    for folder in (track.parent, track.parent.parent):
        for n in names:
            if (folder / n).is_file():
                return folder / n
    return None


def load_movie(track, actions=None, ppm=None, fps=None, max_gap=30):
    """One movie: pose [F, n_flies, S] (mm, centred, NaN where missing), labels [F, n_flies], radius, fps.

    Pixel size, in order: `ppm`; a FlyTracker calibration beside the track (movieN_calibration.mat,
    movieN-calibration.mat or calibration.mat, also one folder up); the feat file beside it
    (movieN_feat.mat, via 'dist to other').  Frame rate: the calibration's, else `fps`, else 30.
    """
    track = Path(track)
    stem = track.name.replace("_track.mat", "").replace("-track.mat", "")
    names, data = read_track(track)
    calib = _beside(track, [f"{stem}_calibration.mat", f"{stem}-calibration.mat", "calibration.mat"])
    c_ppm, c_fps, c_r = read_calibration(calib) if calib else (None, None, None)
    if ppm is None:
        ppm = c_ppm
    if ppm is None:
        feat = _beside(track, [f"{stem}_feat.mat", f"{stem}-feat.mat"])
        ppm = ppm_from_feat(feat, names, data) if feat else None
        if ppm is not None:
            log.info("%s: %.3f pixels/mm estimated from %s", track.name, ppm, feat.name)
    if ppm is None:
        raise PipelineError(f"{track}: cannot tell its pixel size; put its FlyTracker calibration.mat or "
                            f"{stem}_feat.mat beside it, or set flies.ppm (pixels per mm) in params.yaml")
    fps = c_fps or fps or 30.0
    pose, radius = centre_arena(track_pose(names, data, ppm, track, max_gap), c_r / ppm if c_r else None)
    n_frames, n_flies = pose.shape[:2]
    labels = actions_labels(actions, n_frames, n_flies) if actions else np.full((n_frames, n_flies), -1, np.int64)
    return {"pose": pose, "labels": labels, "radius": radius, "fps": float(fps), "ppm": float(ppm)}


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
    """Simulated train and test windows (fly_sim.py), with ground-truth labels for every frame."""
    from pipeline.data import fly_sim
    length, stride, rate = _window_cfg(cfg)
    frames = max(_count(cfg, "sim_frames") or 1800, length + 1)
    radius, fps = float(cfg.get("arena_radius", fly_sim.RADIUS)), float(cfg.get("fps", 30))
    per_movie = len(window_starts(np.ones(frames, bool), length, stride))
    streams = np.random.SeedSequence(seed).spawn(len(SPLITS))
    windows = {}
    for split, stream in zip(SPLITS, streams):
        n = _count(cfg, f"{split}_windows") or {"train": 256, "test": 64}[split]
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


MOVIES = {"train": [1, 2, 3, 4, 5], "test": [6, 7, 8, 9, 10]}
WHERE = ("download the Fly-vs-Fly Aggression movies from CaltechDATA record zrznw-w7386 "
         "(https://data.caltech.edu/records/zrznw-w7386) and unpack them there, so that movieN_track.mat "
         "and movieN_actions.mat exist (in any subfolder), or set flies.local_dir to the folder holding them")


def find_movie(root, n):
    """(track, actions) paths of movie n under root, searched recursively (Aggression/ first)."""
    found = []
    for suffix in ("track", "actions"):
        name = f"movie{n}_{suffix}.mat"
        hits = sorted(Path(root).rglob(name), key=lambda p: ("aggression" not in str(p).lower(), str(p)))
        if not hits:
            raise PipelineError(f"Fly-vs-Fly: {name} not found under {root}; {WHERE}")
        if len(hits) > 1:
            log.warning("Fly-vs-Fly: %d files named %s under %s; using %s", len(hits), name, root, hits[0])
        found.append(hits[0])
    return found


def prepare_flyvsfly(cfg, seed, raw_dir):
    """Real Fly-vs-Fly windows from flies.train_movies and flies.test_movies (default: the split of
    Aggression/traintest.mat, train 1-5, test 6-10), found under flies.local_dir (default raw_dir/flyvsfly).

    Windows never span a missing frame (NaN position or heading, or a wing gap longer than
    flies.max_wing_gap frames); how many frames that leaves out is logged per movie.
    """
    length, stride, rate = _window_cfg(cfg)
    root = Path(cfg.get("local_dir") or Path(raw_dir) / "flyvsfly")
    if not root.is_dir():
        raise PipelineError(f"Fly-vs-Fly: folder {root} does not exist; {WHERE}")
    rng = np.random.default_rng(seed)
    windows, rates = {}, set()
    for split in SPLITS:
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
    if len(rates) > 1:
        raise PipelineError(f"Fly-vs-Fly: the movies have different frame rates {sorted(rates)}; set flies.fps "
                            f"and remove the calibration files that disagree")
    fps = rates.pop()
    for split, m in windows.items():
        arrays = windowed_arrays(m["pose"], m["labels"], m["radius"], fps, vision=cfg.get("store_vision", True))
        windows[split] = dict(arrays, movie=m["movie"], start=m["start"])
    return _splits(windows, fps)


def prepare(source, cfg, seed, raw_dir):
    """Train and test windows of the Fly-vs-Fly experiment as a dict of numpy arrays.

    For each split s in (train, test):
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

"""Readers of the real Fly-vs-Fly files (Eyjolfsdottir et al. 2014; FlyTracker layouts): track,
calibration, feat and actions .mat files, turned into poses (fly_geometry.POSE) and per-frame
labels (fly_geometry.CLASSES, -1 = not annotated)."""
import logging
import math
from pathlib import Path

import numpy as np
import scipy.io

from pipeline import PipelineError
from pipeline.data.fly_geometry import CHARGE, HOLD, LUNGE, THREAT, TUSSLE, UNKNOWN, WIDTH, WING_MAX, X, Y, wrap
from pipeline.data.supervision import runs

log = logging.getLogger(__name__)


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


"""The deepwriting source: the Deep-Writing release (character-aligned IAM-OnDB), local npz files."""
import logging
import zipfile
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data import fetch
from pipeline.data.handwriting.common import _need, _shuffle_cap, _splits
from pipeline.data.handwriting.strokes import cut_windows
from pipeline.data.handwriting.text import INDEX, decode
from pipeline.io import sha256

log = logging.getLogger(__name__)

DEEPWRITING_URL = "https://ait.ethz.ch/projects/2018/deepwriting/downloads/deepwriting_dataset.zip"
DEEPWRITING_FILES = {"train": "deepwriting_training.npz", "valid": "deepwriting_validation.npz"}


def _load_npz(path, trusted):
    """np.load `path`; unpickle only when its SHA-256 is in `trusted`."""
    if not zipfile.is_zipfile(path):
        raise PipelineError(f"{path}: not an npz (zip) file; delete it and fetch the Deep-Writing release again")
    try:
        with np.load(path, allow_pickle=False) as f:
            return _read_deepwriting(f, path)
    except ValueError as err:
        if "allow_pickle" not in str(err):
            raise PipelineError(f"{path}: unreadable Deep-Writing file ({err})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as err:
        raise PipelineError(f"{path}: not a readable npz file ({err}); delete it and fetch it again") from None
    digest = sha256(path)
    if digest not in {h.lower() for h in trusted}:
        raise PipelineError(
            f"{path}: holds pickled object arrays, and unpickling an untrusted file can run arbitrary "
            f"code. Its SHA-256 is {digest}. Check that the file is the genuine Deep-Writing release, "
            f"then add this checksum to handwriting.trusted_sha256 in params.yaml")
    with np.load(path, allow_pickle=True) as f:
        return _read_deepwriting(f, path)


def _read_deepwriting(f, path):
    keys = set(f.files)
    sample_key = "samples" if "samples" in keys else "strokes"
    missing = {sample_key, "char_labels", "eoc_labels", "alphabet"} - keys
    if missing:
        raise PipelineError(f"{path}: not a Deep-Writing file (no {', '.join(sorted(missing))} array)")
    samples, chars, eocs = list(f[sample_key]), list(f["char_labels"]), list(f["eoc_labels"])
    stored = f["alphabet"]
    stored = list(str(stored)) if stored.ndim == 0 else [str(c) for c in stored]
    subjects = f["subject_labels"] if "subject_labels" in keys else np.zeros(len(samples), np.int64)
    if "preprocessing" in keys:
        normalised = "normalization" in [str(p) for p in np.ravel(f["preprocessing"])]
    else:
        normalised = "mean" in keys and "std" in keys
    if normalised and not {"mean", "std"} <= keys:
        raise PipelineError(f"{path}: preprocessing says 'normalization' but the mean or std array is missing")
    mean = np.ravel(f["mean"])[:2].astype(np.float64) if normalised else np.zeros(2)
    std = np.ravel(f["std"])[:2].astype(np.float64) if normalised else np.ones(2)
    if not len(samples) == len(chars) == len(eocs) == len(subjects):
        raise PipelineError(f"{path}: {sample_key}, char_labels, eoc_labels and subject_labels differ in length")
    # Labels index sorted(alphabet) (sklearn LabelEncoder), not the stored order; numpy stores chr(0) as ''.
    ordered = sorted(c if c else "\x00" for c in stored)
    unknown = [c for c in ordered if c not in INDEX]
    if unknown:
        log.warning("%s: characters %r are outside our alphabet; their steps get label 0", path, unknown)
    lut = np.array([INDEX.get(c, 0) for c in ordered], dtype=np.int64)
    out = []
    for i, (s, c, e) in enumerate(zip(samples, chars, eocs)):
        s, c, e = np.asarray(s, dtype=np.float64), np.ravel(c).astype(np.int64), np.ravel(e)
        if s.ndim != 2 or s.shape[1] < 3 or len(c) != len(s) or len(e) != len(s):
            raise PipelineError(f"{path}: sample {i} has shape {s.shape} with {len(c)} labels and {len(e)} "
                                f"eoc flags; expected (T, 3) and T of each")
        if c.size and (c.min() < 0 or c.max() >= len(lut)):
            raise PipelineError(f"{path}: sample {i} has character labels outside 0..{len(lut) - 1}")
        d = s[:, :2] * std + mean
        d[:, 1] *= -1                      # IAM-OnDB y grows downwards; ours grows upwards
        x = np.column_stack([d, s[:, 2], e]).astype(np.float32)
        out.append((x, lut[c], int(np.ravel(subjects)[i])))
    return out


def _deepwriting_split(samples, seq_len):
    xs, ys, writers = [], [], []
    for x, y, writer in samples:
        xw, yw = cut_windows(x, seq_len, y)
        xs.append(xw)
        ys.append(yw)
        writers += [writer] * len(xw)
    if not writers:
        raise PipelineError(f"no Deep-Writing sample has {seq_len} steps; lower handwriting.seq_len")
    x, y = np.concatenate(xs), np.concatenate(ys)
    texts = np.array([decode(yi, xi[:, 3]) for xi, yi in zip(x, y)], dtype=str)
    return x, y, texts, np.array(writers, dtype=np.int64)


def deepwriting(cfg, seed, raw_dir):
    """Windows of the Deep-Writing training and validation files."""
    seq_len, n_train, n_valid = _need(cfg, "seq_len", low=2), _need(cfg, "n_train"), _need(cfg, "n_valid")
    paths = _deepwriting_files(cfg, Path(raw_dir) / "deepwriting")
    trusted = cfg.get("trusted_sha256") or []
    if isinstance(trusted, str) or not all(isinstance(h, str) for h in trusted):
        raise PipelineError(f"params.yaml: handwriting.trusted_sha256 is {trusted!r}; it must be a list of "
                            f"SHA-256 hex strings, e.g. ['{'0' * 64}']")
    rng = np.random.default_rng([seed, 5])
    train = _shuffle_cap(_deepwriting_split(_load_npz(paths["train"], trusted), seq_len), n_train, rng)
    valid = _shuffle_cap(_deepwriting_split(_load_npz(paths["valid"], trusted), seq_len), n_valid, rng)
    return _splits(train, valid, labelled=True)


def _find(root, name):
    root = Path(root)
    hits = [root / name] if (root / name).exists() else sorted(root.rglob(name)) if root.is_dir() else []
    return hits[0] if hits else None


def _deepwriting_files(cfg, raw_dir):
    where = Path(cfg["local_dir"]) if cfg.get("local_dir") else raw_dir
    paths = {k: _find(where, name) for k, name in DEEPWRITING_FILES.items()}
    if all(paths.values()):
        return paths
    hint = (f"Get deepwriting_dataset.zip from the Deep-Writing project page (ait.ethz.ch, CC BY-NC-SA; "
            f"it extends IAM-OnDB, whose terms apply) and put {' and '.join(DEEPWRITING_FILES.values())} "
            f"in {where}, or set handwriting.local_dir to their folder")
    if cfg.get("local_dir"):
        raise PipelineError(f"{where}: {' and '.join(DEEPWRITING_FILES.values())} not found. {hint}")
    archive = fetch.download([cfg.get("deepwriting_url") or DEEPWRITING_URL],
                             raw_dir / "deepwriting_dataset.zip", hint=hint)
    fetch.safe_extract(archive, raw_dir)
    paths = {k: _find(raw_dir, name) for k, name in DEEPWRITING_FILES.items()}
    if not all(paths.values()):
        raise PipelineError(f"{archive}: holds no {' and '.join(DEEPWRITING_FILES.values())}. {hint}")
    return paths

"""Handwriting data: fixed-length pen-trajectory windows with per-step character labels.

A step is x_t = (dx, dy, pen, eoc): the pen's displacement from the previous point (y up),
pen = 1 where the pen lifts after the point, eoc = 1 on a character's last point.  Its label
y_t indexes ALPHABET (0 = no character, e.g. travel between words; -1 = unknown).

Sources, all returning the same arrays from `prepare`:
  embedded     rendered offline from the Hershey stroke fonts in many writer styles; exact labels
  deepwriting  the Deep-Writing release (character-aligned IAM-OnDB), local npz files
  iamondb      raw IAM-OnDB lineStrokes XML + transcriptions; unlabelled (y = -1, eoc = 0)
"""
import logging
import re
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data import fetch, hershey

log = logging.getLogger(__name__)

ALPHABET = "\x00" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ'.,-()/"
INDEX = {c: i for i, c in enumerate(ALPHABET)}
UNKNOWN = -1
FIG4_TEXT = "hello friends my name is Bob and machine learning is very cool while useful"

DEEPWRITING_URL = "https://ait.ethz.ch/projects/2018/deepwriting/downloads/deepwriting_dataset.zip"
DEEPWRITING_FILES = {"train": "deepwriting_training.npz", "valid": "deepwriting_validation.npz"}
IAMONDB_URL = "https://fki.tic.heia-fr.ch/DBs/iamOnDB/data/"
IAMONDB_ARCHIVES = ("lineStrokes-all.tar.gz", "ascii-all.tar.gz")
IAMONDB_BAD = {"a08-551z-08.xml", "a08-551z-09.xml"}   # and every line of form z01-000z
IAMONDB_BAD_FORMS = {"z01-000z"}


# ---------------------------------------------------------------- alphabet and text

_REPLACE = str.maketrans({"\u2018": "'", "\u2019": "'", '"': "'", "`": "'", ";": ",", ":": ",",
                          "!": ".", "?": ".", "[": "(", "]": ")", "{": "(", "}": ")", "_": "-",
                          "\u2013": "-", "\u2014": "-", "\\": "/"})


def clean_text(text):
    """Map punctuation outside the alphabet to its nearest member, drop the rest, one space between words."""
    text = str(text).translate(_REPLACE)
    text = "".join(c if (c in INDEX and c != "\x00") else (" " if c.isspace() else "") for c in text)
    return " ".join(text.split())


def encode_text(text):
    """int64 alphabet indices of `text`; a space becomes 0 (no character)."""
    bad = sorted({c for c in text if c != " " and (c not in INDEX or c == "\x00")})
    if bad:
        raise PipelineError(f"characters {''.join(bad)!r} are not in the handwriting alphabet; "
                            f"use letters, digits and ' . , - ( ) /")
    return np.array([0 if c == " " else INDEX[c] for c in text], dtype=np.int64)


def decode(y, eoc=None):
    """Text from per-step labels.  With `eoc`, one character per end-of-character step (exact);
    without, runs of equal labels collapse (doubled letters merge).  Label-0 runs become spaces."""
    y = np.asarray(y).reshape(-1)
    ends = np.ones(len(y), bool) if eoc is None else np.asarray(eoc).reshape(-1) > 0.5
    out, gap, prev = [], False, None
    for t, label in enumerate(y):
        if label == 0:
            gap, prev = bool(out), 0
            continue
        if label < 0 or not ends[t] or (eoc is None and label == prev):
            continue
        if gap:
            out.append(" ")
        out.append(ALPHABET[label])
        gap, prev = False, label
    return "".join(out)


# A small sentence grammar: everyday English with names, numbers, dates, codes and
# punctuation, so that every character of the alphabet occurs often.
_WORDS = {
    "Name": "Alice Bob Carol David Emma Frank Grace Henry Iris Jack Kate Leo Maria Nina Oscar Paul "
            "Quentin Rosa Sam Tom Uma Victor Wendy Xavier Yara Zoe Olga Ivan Hugo Beth",
    "Surname": "Smith Jones Brown Quinn Young Zimmer Kelly Walker Ortiz Xu Vance Hughes Fox Lane "
               "Dixon Jensen Ford Reyes Usher Grant Ibsen Moss Patel Nolan Evans Yates",
    "place": "London Paris York Oxford Zurich Quebec Vienna Jakarta Kyoto Bristol Glasgow Madrid "
             "Oslo Utrecht Lisbon Denver Houston Geneva Warsaw Naples Turin Exeter",
    "noun": "house garden letter window river machine teacher market jacket puzzle zebra question "
            "quarter journey friend doctor box picture story kitchen village engine bottle clock "
            "bridge paper ticket museum valley forest island harbour jazz band piano parcel "
            "message number pencil island camera wagon yacht kettle lamp oxygen tank prize",
    "nouns": "houses letters windows machines friends apples boxes tickets stories questions "
             "rivers bottles papers songs jokes pictures keys gifts maps books boats lamps prizes",
    "adj": "quiet quick lazy amazing frozen bright heavy small useful cool yellow old new happy "
           "strange noisy gentle major anxious empty clever narrow wooden excellent famous dizzy",
    "adv": "very quietly quickly exactly rather slowly almost simply really nearly gladly",
    "verb": "found opened painted moved fixed carried visited watched joined quoted mixed packed "
            "wrote sold kept built froze judged explained borrowed dropped signed",
    "verbs": "likes writes keeps needs sends finds brings wants checks fixes opens reads",
}
_WORDS = {k: v.split() for k, v in _WORDS.items()}
_TEMPLATES = [
    "{Name} {verb} the {adj} {noun} near {place} on {date}.",
    "{Name} {Surname} {verb} {num} {nouns} (about {pct} of them were {adj}).",
    "The {noun} in room {code} is {adv} {adj}, said {Name}.",
    "Please call {Name} at {phone} before {time} on {date}.",
    "My name is {Name} and I think machine learning is very cool while useful.",
    "It's {adv} {adj}, but {Name}'s {noun} {verbs} {num} {nouns}.",
    "See page {num}, lines {num}-{num} (and/or the notes from {year}).",
    "In {year} the {noun} cost {price}, or {frac} of the old price.",
    "Hello friends, {Name} {verb} a {adj} {noun} in {place}.",
    "We don't know why the {noun} was {adj} ({Name} {verb} it in {year}).",
    "Flight {code} to {place} leaves at {time}, gate {num}.",
    "{Name} {verbs} {adj} {nouns}, and {Name} {verbs} the {adj} {noun}.",
    "The quick brown fox jumps over the lazy dog.",
    "Jack's {adj} {noun} is {num} metres long, {frac} of it {adj}.",
    "Order no. {code}/{num} was sent to {Name} {Surname}, {place}.",
    "Why did the {adj} {noun} move? {Name} {verb} it, of course.",
    "One {adj} {noun}, two {adj} {nouns} and {num} {nouns} - that is all.",
    "{Name} {Surname} (born {date}) {verb} {num} {adj} {nouns} in {place}.",
]


def _slot(name, rng):
    if name in _WORDS:
        return str(rng.choice(_WORDS[name]))
    i = lambda lo, hi: int(rng.integers(lo, hi))  # noqa: E731
    if name == "num":
        return str(i(2, 100) if rng.random() < 0.8 else i(100, 10000))
    if name == "year":
        return str(i(1900, 2026))
    if name == "date":
        return f"{i(1, 29)}/{i(1, 13):02d}/{i(1950, 2026)}"
    if name == "time":
        return f"{i(6, 23)}.{rng.choice(['00', '15', '30', '45'])}"
    if name == "price":
        return f"{i(1, 500)}.{i(0, 100):02d}"
    if name == "frac":
        return f"{i(1, 4)}/{i(4, 10)}"
    if name == "pct":
        return f"{i(5, 96)} per cent"
    if name == "code":
        return "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), size=2)) + f"-{i(1, 999)}"
    if name == "phone":
        return f"0{i(100, 999)}-{i(100, 999)}-{i(1000, 9999)}"
    raise KeyError(name)


def make_text(rng, n_sentences=3):
    """A paragraph of generated English sentences, already in the alphabet."""
    sentences = [re.sub(r"\{(\w+)\}", lambda m: _slot(m.group(1), rng),
                        _TEMPLATES[rng.integers(len(_TEMPLATES))]) for _ in range(n_sentences)]
    return clean_text(" ".join(sentences))


# ---------------------------------------------------------------- steps, windows, drawing

def to_steps(points, pen, eoc):
    """[N, 4] float32 steps (dx, dy, pen, eoc) from absolute points; the first step is (0, 0)."""
    d = np.diff(points, axis=0, prepend=points[:1])
    return np.column_stack([d, pen, eoc]).astype(np.float32)


def cut_windows(x, seq_len, *per_step):
    """Consecutive windows of exactly `seq_len` steps (remainder dropped), each starting at (0, 0).

    Returns (x [n, T, 4], then each extra per-step array as [n, T])."""
    n = len(x) // seq_len
    xw = x[: n * seq_len].reshape(n, seq_len, x.shape[-1]).copy()
    xw[:, 0, :2] = 0
    return (xw, *(np.asarray(a)[: n * seq_len].reshape(n, seq_len) for a in per_step))


def standardise(x, mean, std):
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., :2] = (out[..., :2] - mean) / std
    return out


def destandardise(x, mean, std):
    out = np.array(x, dtype=np.float32, copy=True)
    out[..., :2] = out[..., :2] * std + mean
    return out


def to_polylines(x, mean=None, std=None):
    """Ink of one sequence [T, >=3]: a list of (n, 2) arrays, split where the pen lifts."""
    x = np.asarray(x, dtype=np.float64)
    d = x[:, :2] * (1 if std is None else std) + (0 if mean is None else mean)
    points = np.cumsum(d, axis=0)
    cuts = np.flatnonzero(x[:, 2] > 0.5) + 1
    return [p for p in np.split(points, cuts) if len(p)]


def render_text(text, style=None, seed=0):
    """Unwindowed rendering of `text`: (x [T, 4] float32, raw units, y [T] int64)."""
    style = style or hershey.neutral_style()
    text = clean_text(text)
    if not text:
        raise PipelineError("render_text: the text has no character of the handwriting alphabet")
    points, pen, eoc, label, _ = hershey.render(text, style, np.random.default_rng(seed), ALPHABET)
    return to_steps(points, pen, eoc), label


# ---------------------------------------------------------------- embedded (Hershey)

def _need(cfg, key, low=1, default=None):
    """cfg[key] as a whole number >= low (or `default` when given and the key is absent)."""
    if key not in cfg and default is None:
        raise PipelineError(f"params.yaml: handwriting.{key} is missing; add it to the handwriting section")
    value = cfg.get(key, default)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise PipelineError(f"params.yaml: handwriting.{key} is {value!r}; it must be a whole number >= {low}")
    return int(value)


def _render_split(n_windows, writer_ids, styles, seq_len, rng):
    xs, ys, texts, writers, have = [], [], [], [], 0
    while have < n_windows:
        writer = int(rng.choice(writer_ids))
        text = make_text(rng, int(rng.integers(1, 4)))
        points, pen, eoc, label, pos = hershey.render(text, styles[writer], rng, ALPHABET)
        xw, yw, pw = cut_windows(to_steps(points, pen, eoc), seq_len, label, pos)
        xs.append(xw)
        ys.append(yw)
        texts += [text[a:b + 1].strip() for a, b in zip(pw.min(axis=1), pw.max(axis=1))]
        writers += [writer] * len(xw)
        have += len(xw)
    return (np.concatenate(xs)[:n_windows], np.concatenate(ys)[:n_windows],
            np.array(texts[:n_windows], dtype=str), np.array(writers[:n_windows], dtype=np.int64))


def embedded(cfg, seed):
    """Windows rendered from the Hershey fonts; training and validation writers are disjoint."""
    seq_len, n_train, n_valid = _need(cfg, "seq_len", low=2), _need(cfg, "n_train"), _need(cfg, "n_valid")
    n_writers, n_valid_writers = _need(cfg, "writers", default=40), _need(cfg, "valid_writers", default=8)
    fonts = cfg.get("fonts") or hershey.FONTS
    if isinstance(fonts, str):
        raise PipelineError(f"params.yaml: handwriting.fonts is {fonts!r}; it must be a list, e.g. [{fonts}]")
    for font in fonts:
        hershey.glyphs(font)
    styles = [hershey.sample_style(np.random.default_rng([seed, 3, w]), fonts)
              for w in range(n_writers + n_valid_writers)]
    train = _render_split(n_train, np.arange(n_writers), styles, seq_len, np.random.default_rng([seed, 1]))
    valid = _render_split(n_valid, np.arange(n_writers, n_writers + n_valid_writers), styles, seq_len,
                          np.random.default_rng([seed, 2]))
    rng = np.random.default_rng([seed, 4])   # shuffle: neighbouring windows share a paragraph
    train, valid = _shuffle_cap(train, n_train, rng), _shuffle_cap(valid, n_valid, rng)
    return _splits(train, valid, labelled=True)


def _splits(train, valid, labelled):
    keys = ("x", "y", "text", "writer")
    out = {f"{k}_train": v for k, v in zip(keys, train)}
    out.update({f"{k}_valid": v for k, v in zip(keys, valid)})
    out["labelled"] = np.array(labelled)
    return out


def _shuffle_cap(split, n, rng):
    """A random subset of at most `n` windows (all of them, shuffled, if fewer)."""
    order = rng.permutation(len(split[0]))[:n]
    return tuple(a[order] for a in split)


# ---------------------------------------------------------------- Deep-Writing npz

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
    digest = fetch.sha256(path)
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


# ---------------------------------------------------------------- raw IAM-OnDB

def read_line_strokes(path):
    """Strokes of one lineStrokes XML file: a list of float arrays (n, 2) of (x, y), y down."""
    try:
        root = ET.parse(path).getroot()
        strokes = [np.array([(float(p.attrib["x"]), float(p.attrib["y"])) for p in stroke.iter("Point")])
                   for stroke in root.iter("Stroke")]
    except ET.ParseError as err:
        raise PipelineError(f"{path}: malformed XML ({err}); re-extract lineStrokes-all.tar.gz") from None
    except (KeyError, ValueError) as err:
        raise PipelineError(f"{path}: a Point lacks a numeric x or y ({err}); re-extract the archive") from None
    except OSError as err:
        raise PipelineError(f"{path}: cannot read ({err.strerror or err})") from None
    strokes = [s for s in strokes if len(s)]
    if root.tag != "WhiteboardCaptureSession" or not strokes:
        raise PipelineError(f"{path}: not an IAM-OnDB lineStrokes file (no WhiteboardCaptureSession "
                            f"with Stroke/Point elements)")
    return strokes


def read_transcription(path):
    """Text lines of an IAM-OnDB ascii file: those after 'CSR:' and its blank line."""
    try:
        lines = Path(path).read_text(encoding="iso-8859-1").splitlines()
    except OSError as err:
        raise PipelineError(f"{path}: cannot read ({err.strerror or err})") from None
    starts = [i for i, line in enumerate(lines) if line.strip() == "CSR:"]
    if not starts:
        raise PipelineError(f"{path}: no 'CSR:' line; not an IAM-OnDB transcription file")
    body = [line.strip() for line in lines[starts[0] + 1:]]
    while body and not body[0]:
        body.pop(0)
    return body[: body.index("")] if "" in body else body


def line_steps(strokes):
    """[N, 4] float32 steps of one line: y flipped up, pen = 1 on each stroke's last point, eoc = 0."""
    points = np.concatenate(strokes) * [1.0, -1.0]
    pen = np.zeros(len(points))
    pen[np.cumsum([len(s) for s in strokes]) - 1] = 1
    return to_steps(points, pen, np.zeros(len(points)))


def load_iamondb(root, min_steps):
    """All usable lines under `root` (lineStrokes/ and ascii/): a list of (form, steps, text).

    Known bad files are skipped; malformed files and lines shorter than `min_steps` are
    skipped and counted in the log."""
    root = Path(root)
    strokes_dir, ascii_dir = _find_dir(root, "lineStrokes"), _find_dir(root, "ascii")
    lines, skipped, texts = [], {"malformed": 0, "too short": 0, "known bad": 0, "no text": 0}, {}
    for path in sorted(strokes_dir.rglob("*.xml")):
        form, _, number = path.stem.rpartition("-")
        if path.name in IAMONDB_BAD or form in IAMONDB_BAD_FORMS:
            skipped["known bad"] += 1
            continue
        try:
            steps = line_steps(read_line_strokes(path))
        except PipelineError as err:
            log.warning("skipping %s", err)
            skipped["malformed"] += 1
            continue
        if len(steps) < min_steps:
            skipped["too short"] += 1
            continue
        if form not in texts:
            txt = ascii_dir / path.parent.relative_to(strokes_dir) / f"{form}.txt"
            try:
                texts[form] = read_transcription(txt) if txt.exists() else []
            except PipelineError as err:
                log.warning("no transcription: %s", err)
                texts[form] = []
        text = texts[form][int(number) - 1] if number.isdigit() and 0 < int(number) <= len(texts[form]) else ""
        skipped["no text"] += not text
        lines.append((form, steps, clean_text(text)))
    log.info("IAM-OnDB: %d lines kept; skipped %s", len(lines), skipped)
    if not lines:
        raise PipelineError(f"{strokes_dir}: no usable line of at least {min_steps} points (skipped {skipped})")
    return lines


def _locate_dir(root, name):
    """root/name, or the first folder called `name` below root, or None."""
    if (root / name).is_dir():
        return root / name
    hits = sorted(p for p in root.rglob(name) if p.is_dir()) if root.is_dir() else []
    return hits[0] if hits else None


def _find_dir(root, name):
    found = _locate_dir(root, name)
    if found is None:
        raise PipelineError(f"{root}: no '{name}' folder; extract {name}-all.tar.gz there "
                            f"or set handwriting.local_dir to the folder holding it")
    return found


def _iamondb_root(cfg, raw_dir):
    if cfg.get("local_dir"):
        return Path(cfg["local_dir"])
    root = Path(raw_dir) / "iamondb"
    if _locate_dir(root, "lineStrokes") and _locate_dir(root, "ascii"):
        return root
    base = cfg.get("iamondb_url") or IAMONDB_URL
    if not base.startswith("https://"):
        raise PipelineError(f"handwriting.iamondb_url {base!r}: use https, credentials must not travel in clear")
    auth = fetch.env_credentials("IAMONDB_USER", "IAMONDB_PASSWORD", "IAM-OnDB download")
    hint = ("Register at the IAM-OnDB site, or download lineStrokes-all.tar.gz and ascii-all.tar.gz yourself, "
            f"extract them into {root} (or set handwriting.local_dir)")
    for name in IAMONDB_ARCHIVES:
        fetch.safe_extract(fetch.download([base.rstrip("/") + "/" + name], root / name, auth=auth, hint=hint), root)
    return root


def iamondb(cfg, seed, raw_dir):
    """Unlabelled windows of raw IAM-OnDB lines; validation lines come from held-out forms.

    writer = index of the line's form (one writer per form); text = the line's transcription."""
    seq_len, n_train, n_valid = _need(cfg, "seq_len", low=2), _need(cfg, "n_train"), _need(cfg, "n_valid")
    lines = load_iamondb(_iamondb_root(cfg, raw_dir), seq_len)
    forms = sorted({form for form, _, _ in lines})
    rng = np.random.default_rng([seed, 6])
    held, count, windows = set(), 0, {}
    for form, steps, _ in lines:
        windows[form] = windows.get(form, 0) + len(steps) // seq_len
    for k in rng.permutation(len(forms)):   # hold out whole forms until n_valid windows
        if count >= n_valid or len(held) == len(forms) - 1:
            break
        held.add(forms[k])
        count += windows[forms[k]]
    parts, writer_of = {True: ([], [], []), False: ([], [], [])}, {form: i for i, form in enumerate(forms)}
    for form, steps, text in lines:
        (xw,) = cut_windows(steps, seq_len)
        xs, texts, writers = parts[form in held]
        xs.append(xw)
        texts += [text] * len(xw)
        writers += [writer_of[form]] * len(xw)

    def split(is_valid, n):
        xs, texts, writers = parts[is_valid]
        if not xs:
            return (np.zeros((0, seq_len, 4), np.float32), np.zeros((0, seq_len), np.int64),
                    np.array([], dtype=str), np.zeros(0, np.int64))
        x = np.concatenate(xs)
        y = np.full(x.shape[:2], UNKNOWN, dtype=np.int64)
        return _shuffle_cap((x, y, np.array(texts, dtype=str), np.array(writers, dtype=np.int64)), n, rng)

    return _splits(split(False, n_train), split(True, n_valid), labelled=False)


# ---------------------------------------------------------------- dispatcher

SOURCES = {"embedded": lambda cfg, seed, raw_dir: embedded(cfg, seed),
           "deepwriting": deepwriting, "iamondb": iamondb}


def prepare(source, cfg, seed, raw_dir):
    """Standardised train/validation windows from `source`.

    Returns numpy arrays: x_train/x_valid [N, T, 4] float32, y_train/y_valid [N, T] int64,
    text_*, writer_*, mean [2], std [2] (dx, dy statistics of the training split),
    labelled (bool scalar: whether y holds real labels) and source (str scalar)."""
    if source not in SOURCES:
        raise PipelineError(f"params.yaml: handwriting.source is {source!r}; use one of {', '.join(SOURCES)}")
    data = SOURCES[source](cfg, seed, Path(raw_dir))
    if len(data["x_train"]) == 0:
        raise PipelineError(f"handwriting ({source}): no training window; lower handwriting.n_valid or seq_len")
    steps = data["x_train"][..., :2].reshape(-1, 2).astype(np.float64)
    mean, std = steps.mean(axis=0), steps.std(axis=0)
    std[std < 1e-8] = 1.0
    data["mean"], data["std"] = mean.astype(np.float32), std.astype(np.float32)
    for split in ("train", "valid"):
        data[f"x_{split}"] = standardise(data[f"x_{split}"], data["mean"], data["std"])
    data["source"] = np.array(source)
    log.info("handwriting (%s): %d training and %d validation windows of %d steps", source,
             len(data["x_train"]), len(data["x_valid"]), data["x_train"].shape[1])
    return data

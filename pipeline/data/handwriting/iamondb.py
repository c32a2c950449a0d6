"""The iamondb source: raw IAM-OnDB lineStrokes XML + transcriptions; unlabelled (y = -1, eoc = 0)."""
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data import fetch
from pipeline.data.handwriting.common import _need, _shuffle_cap, _splits
from pipeline.data.handwriting.strokes import cut_windows, to_steps
from pipeline.data.handwriting.text import UNKNOWN, clean_text

log = logging.getLogger(__name__)

IAMONDB_URL = "https://fki.tic.heia-fr.ch/DBs/iamOnDB/data/"
IAMONDB_ARCHIVES = ("lineStrokes-all.tar.gz", "ascii-all.tar.gz")
IAMONDB_BAD = {"a08-551z-08.xml", "a08-551z-09.xml"}   # and every line of form z01-000z
IAMONDB_BAD_FORMS = {"z01-000z"}


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

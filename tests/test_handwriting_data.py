"""Handwriting data: alphabet, Hershey rendering, windows, standardisation, and the real-format loaders."""
import logging
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest

from pipeline import PipelineError
from pipeline.data import fetch
from pipeline.data.handwriting import hershey
from pipeline.data.handwriting.deepwriting import _load_npz
from pipeline.data.handwriting.embedded import embedded
from pipeline.data.handwriting.hershey import render_text
from pipeline.data.handwriting.iamondb import (IAMONDB_ARCHIVES, line_steps, load_iamondb, read_line_strokes,
                                               read_transcription)
from pipeline.data.handwriting.sources import prepare
from pipeline.data.handwriting.strokes import destandardise, standardise, to_polylines
from pipeline.data.handwriting.text import ALPHABET, INDEX, clean_text, decode, encode_text, make_text
from pipeline.io import sha256

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "iamondb"
LINE_XML = FIXTURES / "lineStrokes" / "a01" / "a01-000" / "a01-000u-01.xml"
needs_fixtures = pytest.mark.skipif(not LINE_XML.exists(), reason=f"IAM-OnDB fixtures absent ({FIXTURES})")
SMOKE = {"seq_len": 50, "n_train": 40, "n_valid": 10, "writers": 6, "valid_writers": 2}
TEXT = "Hello friends, Bob's (42) x/y-z."


# ---------------------------------------------------------------- alphabet and text

def test_alphabet_encode_decode():
    assert len(ALPHABET) == 70 and ALPHABET[0] == "\x00" and len(set(ALPHABET)) == 70
    codes = encode_text("Bob 42")
    assert codes.dtype == np.int64 and codes[3] == 0
    assert decode(codes) == "Bob 42"
    with pytest.raises(PipelineError, match="not in the handwriting alphabet"):
        encode_text("caf\u00e9")


def test_clean_text_maps_punctuation():
    assert clean_text("Hi!  What?  a;b \u201cq\u201d [x]_y\n") == "Hi. What. a,b q (x)-y"


def test_generated_text_covers_alphabet_and_varies():
    rng = np.random.default_rng(0)
    paragraphs = [make_text(rng, 2) for _ in range(60)]
    assert set("".join(paragraphs)) == set(ALPHABET[1:]) | {" "}
    assert len(set(paragraphs)) == len(paragraphs)
    assert clean_text(paragraphs[0]) == paragraphs[0]


# ---------------------------------------------------------------- rendering

def test_rendered_labels_align_with_text():
    x, y = render_text(TEXT)
    assert x.dtype == np.float32 and x.shape == (len(y), 4) and y.dtype == np.int64
    assert decode(y, x[:, 3]) == TEXT
    ends = np.flatnonzero(x[:, 3] == 1)
    assert "".join(ALPHABET[i] for i in y[ends]) == TEXT.replace(" ", "")
    # each character's steps are one contiguous run ending at its eoc step
    starts = np.concatenate([[0], ends[:-1] + 1])
    for a, b in zip(starts, ends):
        run = y[a:b + 1]
        assert (run[run != 0] == y[b]).all() and (run[run == 0].size == 0 or run[0] == 0)
    assert (x[y == 0, 2] == 1).all()            # label 0 only on pen-up travel between words
    assert x[-1, 2] == 1 and np.all(x[0, :2] == 0)


def test_every_writer_style_decodes_back_to_its_text():
    rng = np.random.default_rng(5)
    for _ in range(20):
        style, text = hershey.sample_style(rng), make_text(rng, 1)
        points, pen, eoc, label, pos = hershey.render(text, style, rng, ALPHABET)
        assert decode(label, eoc) == text, style
        assert all(text[p] == (ALPHABET[c] if c else " ") for p, c in zip(pos, label))


def test_single_character_carries_its_label():
    x, y = render_text("Q")
    assert (y == INDEX["Q"]).all() and x[:, 3].sum() == 1 and x[-1, 3] == 1


@pytest.mark.parametrize("font", hershey.FONTS + ("scriptc", "timesi"))
def test_every_font_draws_every_character(font):
    style = hershey.neutral_style(font)
    for char in ALPHABET[1:]:
        x, y = render_text(char, style)
        assert len(x) >= 2 and np.isfinite(x).all() and (y == INDEX[char]).all(), char


def test_unknown_font_is_a_clear_error():
    with pytest.raises(PipelineError, match="handwriting.fonts"):
        embedded({**SMOKE, "fonts": ["comic"]}, seed=0)


def test_to_polylines_splits_at_pen_ups_and_inverts_standardisation():
    x, _ = render_text("ink")
    lines = to_polylines(x)
    assert len(lines) == int(x[:, 2].sum()) and sum(map(len, lines)) == len(x)
    mean, std = np.array([0.3, -0.1], np.float32), np.array([2.0, 0.5], np.float32)
    again = to_polylines(standardise(x, mean, std), mean, std)
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(lines, again))


def test_styles_differ_between_writers():
    styles = [hershey.sample_style(np.random.default_rng([0, 3, w])) for w in range(6)]
    assert len(set(styles)) == 6 and len({s.font for s in styles}) > 1
    inks = [hershey.render("the same words", s, np.random.default_rng(1), ALPHABET)[0] for s in styles]
    widths = [np.ptp(p[:, 0]) for p in inks]
    assert len({len(p) for p in inks}) > 1 and np.std(widths) > 0.05 * np.mean(widths)


# ---------------------------------------------------------------- embedded dataset

def test_embedded_shapes_dtypes_and_writers():
    d = prepare("embedded", SMOKE, seed=0, raw_dir="unused")
    T = SMOKE["seq_len"]
    for split, n in (("train", 40), ("valid", 10)):
        x, y = d[f"x_{split}"], d[f"y_{split}"]
        assert x.shape == (n, T, 4) and x.dtype == np.float32
        assert y.shape == (n, T) and y.dtype == np.int64 and y.min() >= 0 and y.max() < 70
        assert set(np.unique(x[..., 2:])) <= {0.0, 1.0}
        assert d[f"text_{split}"].shape == (n,) and d[f"text_{split}"].dtype.kind == "U"
        assert d[f"writer_{split}"].dtype == np.int64
        raw = destandardise(x, d["mean"], d["std"])
        assert np.allclose(raw[:, 0, :2], 0, atol=1e-6)   # every window starts at the origin
    assert set(d["writer_train"]).isdisjoint(d["writer_valid"])
    assert d["mean"].shape == d["std"].shape == (2,) and bool(d["labelled"])
    for x, y, text in zip(d["x_train"], d["y_train"], d["text_train"]):
        assert decode(y, x[:, 3]).replace(" ", "") in text.replace(" ", "")


def test_embedded_is_deterministic_given_seed():
    a, b = prepare("embedded", SMOKE, 3, "unused"), prepare("embedded", SMOKE, 3, "unused")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    c = prepare("embedded", SMOKE, 4, "unused")
    assert not np.array_equal(a["x_train"], c["x_train"])


def test_standardisation_uses_training_split_only():
    raw = embedded(SMOKE, seed=0)
    d = prepare("embedded", SMOKE, seed=0, raw_dir="unused")
    steps = raw["x_train"][..., :2].reshape(-1, 2)
    assert np.allclose(d["mean"], steps.mean(0), atol=1e-6) and np.allclose(d["std"], steps.std(0), rtol=1e-5)
    assert np.allclose(d["x_valid"], standardise(raw["x_valid"], d["mean"], d["std"]))
    valid_mean = raw["x_valid"][..., :2].reshape(-1, 2).mean(0)
    assert not np.allclose(valid_mean, d["mean"])
    assert np.array_equal(d["x_train"][..., 2:], raw["x_train"][..., 2:])   # pen and eoc untouched


def test_bad_config_is_a_clear_error():
    with pytest.raises(PipelineError, match="handwriting.seq_len"):
        prepare("embedded", {"n_train": 4, "n_valid": 2}, 0, "unused")
    with pytest.raises(PipelineError, match="handwriting.n_train"):
        prepare("embedded", {**SMOKE, "n_train": 0}, 0, "unused")
    with pytest.raises(PipelineError, match="handwriting.source"):
        prepare("imaginary", SMOKE, 0, "unused")


# ---------------------------------------------------------------- Deep-Writing npz

def _objects(items):
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def _write_deepwriting(path, texts, ragged=True):
    """A file in the Deep-Writing layout: standardised (dx, dy, pen) with y down, labels
    indexing sorted(alphabet), chr(0) stored by numpy as ''."""
    mean, std = np.array([0.5, -0.2, 0.1]), np.array([2.0, 3.0, 1.0])
    samples, labels, eocs, originals = [], [], [], []
    sorted_index = {c: i for i, c in enumerate(sorted(ALPHABET))}
    for k, text in enumerate(texts):
        x, y = render_text(text, seed=k)
        x = x[:60] if not ragged else x
        y = y[:60] if not ragged else y
        dxdy = x[:, :2] * [1, -1]
        samples.append(np.column_stack([(dxdy - mean[:2]) / std[:2], x[:, 2]]).astype(np.float32))
        labels.append(np.array([sorted_index[ALPHABET[i]] for i in y]))
        eocs.append(x[:, 3:4])
        originals.append((x, y))
    pack = _objects if ragged else np.stack
    np.savez(path, samples=pack(samples), char_labels=pack(labels), eoc_labels=pack(eocs),
             alphabet=np.array(list(ALPHABET)), subject_labels=np.arange(len(texts)) + 7,
             texts=np.array(texts), mean=mean, std=std,
             preprocessing=np.array(["origin_translation", "relative_representation", "normalization"]))
    return originals


def test_deepwriting_untrusted_pickle_is_refused(tmp_path):
    path = tmp_path / "deepwriting_training.npz"
    _write_deepwriting(path, ["Hello there", "Bob (42)"])
    with pytest.raises(PipelineError) as err:
        _load_npz(path, trusted=[])
    message = str(err.value)
    assert str(path) in message and sha256(path) in message and "trusted_sha256" in message


def test_deepwriting_trusted_file_loads_with_sorted_alphabet_labels(tmp_path):
    path = tmp_path / "deepwriting_training.npz"
    texts = ["Hello there, Zoe", "Bob (42) x/y-z's."]
    originals = _write_deepwriting(path, texts)
    samples = _load_npz(path, trusted=[sha256(path).upper()])
    for (x, y, writer), (x0, y0), text, k in zip(samples, originals, texts, range(7, 9)):
        assert np.array_equal(y, y0) and writer == k
        assert decode(y, x[:, 3]) == text
        assert np.allclose(x, x0, atol=1e-5)           # de-standardised, y flipped back up


def test_deepwriting_without_pickle_needs_no_trust(tmp_path):
    path = tmp_path / "deepwriting_validation.npz"
    originals = _write_deepwriting(path, ["abcdefghijklmnopq", "ABCDEFGHIJKLMNOPQ"], ragged=False)
    samples = _load_npz(path, trusted=[])
    assert [list(y) for _, y, _ in samples] == [list(y0) for _, y0 in originals]


def test_deepwriting_prepare_from_local_folder(tmp_path):
    _write_deepwriting(tmp_path / "deepwriting_training.npz", [f"Line {i} of the training text." for i in range(6)])
    _write_deepwriting(tmp_path / "deepwriting_validation.npz", ["Held out words.", "More (7) here."])
    trusted = [sha256(p) for p in sorted(tmp_path.glob("*.npz"))]
    cfg = {"seq_len": 40, "n_train": 1000, "n_valid": 1000, "local_dir": str(tmp_path), "trusted_sha256": trusted}
    d = prepare("deepwriting", cfg, seed=0, raw_dir=tmp_path / "raw")
    assert d["x_train"].shape[1:] == (40, 4) and len(d["x_train"]) > 10 and bool(d["labelled"])
    assert set(d["writer_valid"]) == {7, 8}
    assert all(decode(y, x[:, 3]).replace(" ", "") in "".join(
        f"Line {i} of the training text." for i in range(6)).replace(" ", "")
        for x, y in zip(d["x_train"], d["y_train"]))


def test_deepwriting_missing_files_say_where_to_put_them(tmp_path):
    with pytest.raises(PipelineError, match="deepwriting_training.npz"):
        prepare("deepwriting", {**SMOKE, "local_dir": str(tmp_path)}, 0, tmp_path)


def test_deepwriting_corrupt_file_is_a_clear_error(tmp_path):
    (tmp_path / "deepwriting_training.npz").write_bytes(b"not a zip file")
    with pytest.raises(PipelineError, match="deepwriting_training.npz: not an npz"):
        _load_npz(tmp_path / "deepwriting_training.npz", trusted=[])
    np.savez(tmp_path / "other.npz", samples=np.zeros((2, 5, 3)))
    with pytest.raises(PipelineError, match="other.npz: not a Deep-Writing file"):
        _load_npz(tmp_path / "other.npz", trusted=[])


# ---------------------------------------------------------------- raw IAM-OnDB

@needs_fixtures
def test_iamondb_line_strokes_fixture():
    strokes = read_line_strokes(LINE_XML)
    assert len(strokes) == 31 and sum(map(len, strokes)) == 568
    assert np.array_equal(strokes[0][0], [1073, 1058])
    x = line_steps(strokes)
    assert x.shape == (568, 4) and x[:, 2].sum() == 31 and x[:, 3].sum() == 0
    assert np.array_equal(x[1, :2], [-1, -27])        # the file's y grows down, ours up


@needs_fixtures
def test_iamondb_transcriptions_fixture():
    ascii_dir = FIXTURES / "ascii" / "a01" / "a01-000"
    u = read_transcription(ascii_dir / "a01-000u.txt")
    assert u[0] == "A MOVE to stop Mr . Gaitskell" and len(u) == 6
    x = read_transcription(ascii_dir / "a01-000x.txt")   # whitespace-only line before CSR:
    assert x[0] == "A MOVE to stop Mr . Gaitskell from nominating" and len(x) == 5


def test_malformed_xml_is_a_clear_error(tmp_path):
    bad = tmp_path / "a01-000u-02.xml"
    bad.write_text('<?xml version="1.0"?><WhiteboardCaptureSession><StrokeSet><Stroke>')
    with pytest.raises(PipelineError, match="a01-000u-02.xml.*malformed XML"):
        read_line_strokes(bad)
    no_y = tmp_path / "a01-000u-03.xml"
    no_y.write_text('<WhiteboardCaptureSession><StrokeSet><Stroke><Point x="1"/></Stroke></StrokeSet>'
                    '</WhiteboardCaptureSession>')
    with pytest.raises(PipelineError, match="a01-000u-03.xml"):
        read_line_strokes(no_y)


def _iamondb_folder(root, forms=("a01-000u", "a01-001w", "b02-010x"), lines=3):
    """Copies of the real fixture under several form and line names, plus transcriptions."""
    for form in forms:
        sub = Path(form[:3]) / form[:7]
        (root / "lineStrokes" / sub).mkdir(parents=True, exist_ok=True)
        (root / "ascii" / sub).mkdir(parents=True, exist_ok=True)
        for n in range(1, lines + 1):
            shutil.copy(LINE_XML, root / "lineStrokes" / sub / f"{form}-{n:02d}.xml")
        body = "\r\n".join(f"line {n} of {form}" for n in range(1, lines + 1))
        (root / "ascii" / sub / f"{form}.txt").write_text(f"OCR:\r\n\r\nocr text\r\n\r\nCSR:\r\n\r\n{body}\r\n")
    return root


@needs_fixtures
def test_iamondb_folder_skips_and_counts_bad_lines(tmp_path, caplog):
    root = _iamondb_folder(tmp_path, forms=("a01-000u",), lines=1)
    folder = root / "lineStrokes" / "a01" / "a01-000"
    (folder / "a01-000u-02.xml").write_text("<WhiteboardCaptureSession><StrokeSet>")
    (folder / "a01-000u-03.xml").write_text(
        '<WhiteboardCaptureSession><StrokeSet><Stroke><Point x="1" y="2" time="0"/></Stroke>'
        '</StrokeSet></WhiteboardCaptureSession>')
    bad = root / "lineStrokes" / "a08" / "a08-551"
    bad.mkdir(parents=True)
    shutil.copy(LINE_XML, bad / "a08-551z-08.xml")
    with caplog.at_level(logging.INFO, logger="pipeline.data.handwriting"):
        lines = load_iamondb(root, min_steps=100)
    assert [(form, len(x), text) for form, x, text in lines] == [("a01-000u", 568, "line 1 of a01-000u")]
    assert "'malformed': 1" in caplog.text and "'too short': 1" in caplog.text and "'known bad': 1" in caplog.text


@needs_fixtures
def test_iamondb_prepare_gives_unlabelled_windows_split_by_form(tmp_path):
    root = _iamondb_folder(tmp_path / "iam")
    cfg = {"seq_len": 200, "n_train": 100, "n_valid": 4, "local_dir": str(root)}
    d = prepare("iamondb", cfg, seed=0, raw_dir=tmp_path / "raw")
    assert d["x_train"].shape == (12, 200, 4) and d["x_valid"].shape == (4, 200, 4)  # one held-out form, capped
    assert (d["y_train"] == -1).all() and (d["y_valid"] == -1).all() and not bool(d["labelled"])
    assert set(d["writer_train"]).isdisjoint(d["writer_valid"])
    assert all(t.startswith("line ") for t in d["text_train"])
    again = prepare("iamondb", cfg, seed=0, raw_dir=tmp_path / "raw")
    assert np.array_equal(d["x_train"], again["x_train"])


def test_iamondb_download_needs_credentials_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("IAMONDB_USER", raising=False)
    monkeypatch.delenv("IAMONDB_PASSWORD", raising=False)
    with pytest.raises(PipelineError, match="IAMONDB_USER"):
        prepare("iamondb", SMOKE, 0, tmp_path)
    with pytest.raises(PipelineError, match="https"):
        prepare("iamondb", {**SMOKE, "iamondb_url": "http://example.org/"}, 0, tmp_path)


@needs_fixtures
def test_iamondb_download_uses_env_credentials_and_stores_none(tmp_path, monkeypatch, caplog):
    source = _iamondb_folder(tmp_path / "src", forms=("a01-000u",), lines=2)
    calls = []

    def fake_download(urls, dest, sha256_hex=None, auth=None, hint="", timeout=60):
        calls.append((urls, auth))
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(dest, "w:gz") as tar:
            folder = "lineStrokes" if dest.name.startswith("lineStrokes") else "ascii"
            tar.add(source / folder, arcname=folder)
        return dest

    monkeypatch.setenv("IAMONDB_USER", "reader")
    monkeypatch.setenv("IAMONDB_PASSWORD", "s3cret-pw")
    monkeypatch.setattr(fetch, "download", fake_download)
    cfg = {"seq_len": 200, "n_train": 10, "n_valid": 1}
    with caplog.at_level(logging.DEBUG):
        d = prepare("iamondb", cfg, seed=0, raw_dir=tmp_path / "raw")
    assert len(d["x_train"]) + len(d["x_valid"]) == 4
    assert [u[0].rsplit("/", 1)[1] for u, _ in calls] == list(IAMONDB_ARCHIVES)
    assert all(u[0].startswith("https://") and auth == ("reader", "s3cret-pw") for u, auth in calls)
    assert "s3cret-pw" not in caplog.text
    assert not any(b"s3cret-pw" in p.read_bytes() for p in (tmp_path / "raw").rglob("*") if p.is_file())

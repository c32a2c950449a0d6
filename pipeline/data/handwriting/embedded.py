"""The embedded source: text rendered from the Hershey stroke fonts in many writer styles, with
exact per-step labels."""
import numpy as np

from pipeline import PipelineError
from pipeline.data.handwriting import hershey
from pipeline.data.handwriting.common import _need, _shuffle_cap, _splits
from pipeline.data.handwriting.strokes import cut_windows, to_steps
from pipeline.data.handwriting.text import ALPHABET, make_text


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

"""Pen trajectories rendered from the Hershey stroke fonts, with writer styles.

A glyph is a list of polylines in font units (y down).  We move them to "cap-height units"
(y up, baseline 0, cap height 1), apply a writer's style (font, slant, scale, spacing, wobble),
sample points along each stroke at the writer's pen speed, insert pen-up travel between
strokes, and add smooth low-frequency jitter.  Every step keeps the character it belongs to.
"""
import functools
from dataclasses import dataclass, replace

import numpy as np

from pipeline import PipelineError
from pipeline.data.handwriting.strokes import to_steps
from pipeline.data.handwriting.text import ALPHABET, clean_text

# Single-line fonts (one pen pass per stroke).  scriptc, timesi, timesr also have all 69
# characters but draw thick parts with several parallel strokes, unlike a pen.
FONTS = ("cursive", "scripts", "futural", "rowmans")
CONNECTED_FONTS = ("cursive", "scripts", "scriptc")  # joined letters: ligatures drawn pen-down
CAP_HEIGHT = 21.0  # font units from cap line (-12) to baseline (9) in every Hershey font


@dataclass(frozen=True)
class Style:
    """How one writer writes.  Lengths are in cap heights; `speed` is the spacing of samples."""
    font: str = "cursive"
    slant: float = 0.2           # shear, radians (positive leans right)
    scale: float = 1.0
    aspect: float = 1.0          # width / height
    speed: float = 0.15          # pen travel between two samples
    ease: float = 0.3            # 0: constant speed; 1: slow at stroke ends
    letter_gap: float = 0.0      # extra space after each character
    word_gap: float = 0.55       # space between words
    wobble: float = 0.03         # per-character random size and offset (standard deviation)
    jitter: float = 0.02         # amplitude of the smooth drift of the pen
    jitter_period: float = 30.0  # its typical period, in steps
    baseline_slope: float = 0.0  # radians
    hover: float = 3.0           # pen-up travel is sampled `hover` times coarser than ink


def sample_style(rng, fonts=FONTS):
    """A random writer drawn from a broad distribution of handwriting styles."""
    font = str(fonts[rng.integers(len(fonts))])
    joined = font in CONNECTED_FONTS
    return Style(
        font=font,
        slant=float(rng.uniform(-0.1, 0.45)),
        scale=float(rng.uniform(0.8, 1.25)),
        aspect=float(rng.uniform(0.85, 1.2)),
        speed=float(rng.uniform(0.1, 0.2)),
        ease=float(rng.uniform(0.0, 0.6)),
        letter_gap=float(rng.uniform(-0.02, 0.04) if joined else rng.uniform(-0.05, 0.15)),
        word_gap=float(rng.uniform(0.35, 0.8)),
        wobble=float(rng.uniform(0.0, 0.05)),
        jitter=float(rng.uniform(0.0, 0.04)),
        jitter_period=float(rng.uniform(15.0, 50.0)),
        baseline_slope=float(rng.uniform(-0.03, 0.03)),
        hover=float(rng.uniform(2.0, 4.0)),
    )


@functools.lru_cache(maxsize=None)
def glyphs(font):
    """{char: (strokes, advance)}: strokes as float arrays (n, 2) in cap heights, y up."""
    from HersheyFonts import HersheyFonts
    if font not in HersheyFonts().default_font_names:
        raise PipelineError(f"handwriting.fonts: unknown Hershey font {font!r}; use some of {', '.join(FONTS)}")
    hf = HersheyFonts()
    hf.load_default_font(font)
    base = float(hf.render_options["base_line"])
    table = {}
    for char, glyph in hf.all_glyphs.items():
        strokes = tuple(np.array([((x - glyph.left_offset) / CAP_HEIGHT, (base - y) / CAP_HEIGHT)
                                  for x, y in stroke], dtype=np.float64) for stroke in glyph.strokes)
        table[char] = (strokes, glyph.char_width / CAP_HEIGHT)
    return table


def _resample(points, step, ease):
    """Points spaced about `step` apart along a polyline, slower near its ends when ease > 0."""
    seg = np.hypot(*np.diff(points, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] < 1e-9:
        return points[:1]
    u = np.linspace(0.0, 1.0, max(1, int(round(arc[-1] / step))) + 1)
    u = (1 - ease) * u + ease * u * u * (3 - 2 * u)
    at = u * arc[-1]
    return np.stack([np.interp(at, arc, points[:, 0]), np.interp(at, arc, points[:, 1])], axis=1)


def _smooth_noise(n, amplitude, period, rng):
    """[n, 2] sum of three random sinusoids per axis: a slow, smooth drift of the hand."""
    if amplitude <= 0 or n == 0:
        return np.zeros((n, 2))
    t = np.arange(n)[:, None, None]
    freq = 1.0 / rng.uniform(period / 2, period * 2, size=(1, 3, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(1, 3, 2))
    return amplitude / np.sqrt(3) * np.sin(2 * np.pi * freq * t + phase).sum(axis=1)


def render(text, style, rng, alphabet):
    """Render `text` (characters of `alphabet` and spaces) in `style`.

    Returns (points [N, 2], pen [N], eoc [N], label [N], position [N]): absolute pen positions
    (y up), pen = 1 where the pen lifts after the point, eoc = 1 on a character's last point,
    label = alphabet index (0 for travel between words), position = index into `text`.
    """
    table = glyphs(style.font)
    code = {c: i for i, c in enumerate(alphabet)}
    shear, slope = np.tan(style.slant), np.tan(style.baseline_slope)
    join = 0.3 if style.font in CONNECTED_FONTS else 0.0
    chunks, pens, eocs, labels, positions = [], [], [], [], []
    last, cursor, gap_at = None, 0.0, None   # gap_at: position of the space before this word
    for i, char in enumerate(text):
        if char == " ":
            cursor += style.word_gap * style.scale
            gap_at = i if last is not None else None
            continue
        strokes, advance = table[char]
        size = style.scale * (1 + rng.normal(0, style.wobble))
        offset = rng.normal(0, style.wobble, size=2) * [0.3, 0.5] + [cursor, 0.0]
        step = style.speed * np.exp(rng.normal(0, 0.1))
        for k, stroke in enumerate(strokes):
            p = stroke * [size * style.aspect, size] + offset
            p = np.stack([p[:, 0] + shear * p[:, 1], p[:, 1] + slope * p[:, 0]], axis=1)
            gap = np.inf if last is None else np.hypot(*(p[0] - last))
            if k == 0 and gap_at is None and gap <= join * style.scale and (gap > 0 or len(p) > 1):
                # ligature: the pen stays down from the previous letter
                ink = _resample(np.vstack([last, p]), step, style.ease)[1:]
            else:
                ink = _resample(p, step, style.ease)
                if last is not None:
                    pens[-1][-1] = 1
                    travel = _travel(last, ink[0], step * style.hover, 1 if gap_at is not None else 0)
                    chunks.append(travel)
                    pens.append(np.ones(len(travel)))
                    eocs.append(np.zeros(len(travel)))
                    labels.append(np.full(len(travel), 0 if gap_at is not None else code[char]))
                    positions.append(np.full(len(travel), gap_at if gap_at is not None else i))
            gap_at = None
            chunks.append(ink)
            pens.append(np.zeros(len(ink)))
            eocs.append(np.zeros(len(ink)))
            labels.append(np.full(len(ink), code[char]))
            positions.append(np.full(len(ink), i))
            last = ink[-1]
        if strokes:
            eocs[-1][-1] = 1
        cursor += (advance * style.aspect * size) + style.letter_gap * style.scale
    if not chunks:
        raise PipelineError(f"nothing to draw in the text {text!r}")
    pens[-1][-1] = 1
    points = np.concatenate(chunks)
    points += _smooth_noise(len(points), style.jitter * style.scale, style.jitter_period, rng)
    return (points, np.concatenate(pens), np.concatenate(eocs),
            np.concatenate(labels).astype(np.int64), np.concatenate(positions).astype(np.int64))


def _travel(start, end, step, at_least=0):
    """Pen-up points strictly between `start` and `end`, about `step` apart."""
    k = max(at_least, int(np.hypot(*(end - start)) // step))
    u = np.arange(1, k + 1)[:, None] / (k + 1)
    return start + u * (end - start)


def neutral_style(font="cursive"):
    return replace(Style(), font=font, wobble=0.0, jitter=0.0)


def render_text(text, style=None, seed=0):
    """Unwindowed rendering of `text`: (x [T, 4] float32, raw units, y [T] int64)."""
    style = style or neutral_style()
    text = clean_text(text)
    if not text:
        raise PipelineError("render_text: the text has no character of the handwriting alphabet")
    points, pen, eoc, label, _ = render(text, style, np.random.default_rng(seed), ALPHABET)
    return to_steps(points, pen, eoc), label

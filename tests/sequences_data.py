"""Small partly labelled time series the sequences tests write: each sequence switches between
regimes (classes) that set its features' level and rhythm, and some regimes' steps are unlabelled."""
import numpy as np

CLASSES = ("rest", "walk", "run")


def regimes(n_seq=6, length=48, seed=0, unlabelled=0.4, features=2):
    """[(id, x [T, D], labels [T] as class names or None)] with bouts of 6 to 14 steps."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_seq):
        labels, t = [], 0
        while t < length:
            c, n = int(rng.integers(len(CLASSES))), int(rng.integers(6, 15))
            hidden = rng.random() < unlabelled
            labels += [None if hidden else CLASSES[c]] * n
            t += n
        truth = np.array([CLASSES.index(v) if v else rng.integers(len(CLASSES)) for v in labels[:length]])
        steps = np.arange(length)
        x = np.stack([truth + 0.2 * rng.standard_normal(length),
                      np.sin(steps * (1 + truth)) + 0.1 * rng.standard_normal(length)][:features], -1)
        out.append((f"s{i}", x, labels[:length]))
    return out


def frame(sequences, time=True):
    import pandas as pd
    rows = []
    for sid, x, labels in sequences:
        for t, (xt, y) in enumerate(zip(x, labels)):
            rows.append({"sequence": sid, **({"time": 0.1 * t} if time else {}),
                         **{f"f{d}": float(v) for d, v in enumerate(xt)}, "label": y})
    return pd.DataFrame(rows)


def write_csv(path, **kw):
    frame(regimes(**kw)).to_csv(path, index=False)
    return path


def write_npz(path, lengths=None, **kw):
    seqs = regimes(**kw)
    x = np.stack([s[1] for s in seqs])
    labels = np.array([[sorted(CLASSES).index(v) if v else -1 for v in s[2]] for s in seqs])   # as the CSV's names sort
    extra = {"lengths": np.asarray(lengths)} if lengths is not None else {}
    np.savez(path, x=x, labels=labels, **extra)
    return path

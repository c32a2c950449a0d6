"""Where handwriting generation loses legibility: the Fig. 4 sentence read by the ceiling classifier
under each way of producing its strokes, from closest to training to free generation (docs/tuning.md).

The reference rendering of the sentence is cut into windows of the training length, as the score
stage cuts generations.  Each column replaces its ink by the model's, and the seed's ceiling
classifier reads the result against the characters written (per-step top-1, the stage's legibility):

  ahead            each step's stroke from the model given the TRUE history: h_{t-1}, the pen context
                   and the labels of the reference; z_t from the posterior q (sampled) or the prior
                   (its mean); the stroke sampled from the head or the head's mean (of its most
                   probable component, pen flags thresholded at one half)
  copied           the whole sentence from one state with every step's character forced, durations
                   copied from the reference, strokes and flags sampled (the score stage before the
                   writing protocol)
  written          the score stage's generation: evaluate/writing.py's protocol (the model's own
                   end-of-character moves to the next character; mean strokes); with sampled strokes;
                   with an end-of-character threshold of one half; and the chance control of the first
  label use        the IWAE bound of log p(x | y) per step on the validation windows with the true labels
                   and with the labels shuffled across steps: how much the generative model's p(x)
                   depends on y (a model that writes y legibly must depend on it)

Reads the trained runs and the prepared data of a finished `make repro`; trains nothing.

    python -m benchmarks.generation_probe
    python -m benchmarks.generation_probe --runs runs/handwriting/main/ssws-s1 --samples 8
"""
import argparse
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from pipeline import config, layout, runs
from pipeline.data.handwriting.hershey import render_text
from pipeline.data.handwriting.strokes import cut_windows, standardise
from pipeline.data.handwriting.text import FIG4_TEXT, clean_text, encode_text
from pipeline.evaluate import writing
from pipeline.evaluate.classification import topk_accuracy
from pipeline.models.pen_context import PenTracker, pen_context
from tests.conftest import ROOT

DEFAULT_RUNS = (layout.run_folder("handwriting", "baseline", 0, group="ceiling"),
                layout.run_folder("handwriting", "cws", 0, group="main"))


def reference_windows(seq_len, mean, std):
    """The rendered sentence cut into training-length windows: x [W, T, 4] standardised, y [W, T]."""
    reference, y = render_text(FIG4_TEXT)
    xw, yw = cut_windows(reference, seq_len, y)
    return torch.as_tensor(standardise(xw, mean, std)), torch.as_tensor(yw)


@torch.no_grad()
def one_step_ahead(model, x, y, z_from="posterior", stroke="sample"):
    """Every step's stroke predicted from the true ink and labels before it: [W, T, 4]."""
    batch = {"x": x, "labels": y, "mask": torch.ones_like(y, dtype=torch.bool)}
    if model.u_dim:
        batch["u"] = pen_context(x)
    st, _ = model.recur_time_major(batch, 1)
    ctx = st["ctx"]
    z = st["z"] if z_from == "posterior" else model._gaussian(model.prior_z, ctx).mean
    features = model.decode(ctx, z, y.T)
    out = model.head.sample(features) if stroke == "sample" else model.head.mode(features)
    return out.transpose(0, 1)


@torch.no_grad()
def label_use(model, x, y, particles=4, seed=0):
    """Bound on log p(x | y) per step with the true, shuffled and constant labels, every step given."""
    shuffled = y.flatten()[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(seed))].view_as(y)
    out = {}
    for name, labels in (("true", y), ("shuffled", shuffled), ("constant", torch.zeros_like(y))):
        torch.manual_seed(seed)
        batch = {"x": x, "labels": labels, "mask": torch.ones_like(y, dtype=torch.bool)}
        trace = model({**batch, "u": pen_context(x)} if model.u_dim else batch, particles)
        log_w = (trace.log_px + trace.log_pz - trace.log_qz).sum(-1)          # y given: no y terms
        out[name] = ((torch.logsumexp(log_w, 0) - math.log(particles)).mean() / x.shape[1]).item()
    return out


def read_windows(reader, xw, yw):
    probs = writing.read(reader, xw)
    return topk_accuracy(probs.reshape(-1, probs.shape[-1]), np.asarray(yw).reshape(-1))[1]


PROTOCOLS = {"written": writing.Protocol(), "written, sampled strokes": writing.Protocol(stroke="sample"),
             "written, eoc above 0.5": writing.Protocol(eoc_threshold=0.5)}


class Reference(NamedTuple):
    """What the probe writes and reads against: the reference windows x, y (one step ahead), the
    sentence's labels, and the window length and standardisation of the data."""
    x: object
    y: object
    sentence_y: object
    seq_len: int
    mean: object
    std: object


def probe(model, reader, ref, samples, seed):
    """Legibility (a fraction) under each way of writing the sentence (ref: a Reference)."""
    x, y, sentence_y, seq_len, mean, std = ref
    out = {}
    for z_from, stroke in (("posterior", "sample"), ("posterior", "mean"), ("prior", "mean")):
        torch.manual_seed(seed)
        out[f"ahead {z_from}/{stroke}"] = read_windows(reader, one_step_ahead(model, x, y, z_from, stroke), y)
    torch.manual_seed(seed)
    tracker = PenTracker(samples) if model.u_dim else None
    copied = model.generate(torch.as_tensor(sentence_y), n=samples, tracker=tracker).numpy()
    out["copied"] = writing.legibility(reader, [(c, sentence_y) for c in copied], seq_len, mean, std)
    text = encode_text(clean_text(FIG4_TEXT))
    for name, protocol in PROTOCOLS.items():
        torch.manual_seed(seed)
        written = [writing.write(model, text, mean, std, protocol) for _ in range(samples)]
        out[name] = writing.legibility(reader, written, seq_len, mean, std)
        if name == "written":
            rng = np.random.default_rng([seed, 5])
            out["written: chance"] = writing.legibility(reader, written, seq_len, mean, std,
                                                        against=lambda a, b: writing.chance_labels(a, b, rng))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="handwriting run folders")
    parser.add_argument("--samples", type=int, default=4, help="generations per window")
    args = parser.parse_args()
    params = config.load(ROOT / "params.yaml")
    torch.set_num_threads(params["threads"])
    data = np.load(ROOT / layout.prepared("handwriting"))
    mean, std, seq_len = data["mean"], data["std"], data["x_train"].shape[1]
    x, y = reference_windows(seq_len, mean, std)
    valid_x, valid_y = torch.as_tensor(data["x_valid"]), torch.as_tensor(data["y_valid"]).clamp(min=0)
    _, sentence_y = render_text(FIG4_TEXT)
    header = None
    for folder in map(Path, args.runs):
        seed = int(folder.name.rsplit("-s", 1)[1])
        model = runs.load_run(ROOT / folder)
        reader = runs.load_run(ROOT / layout.run_folder("handwriting", "baseline", seed, group="ceiling"))
        if header is None:
            print(f"{'run':40} reference {read_windows(reader, x, y):6.1%}")
        result = probe(model, reader, Reference(x, y, sentence_y, seq_len, mean, std), args.samples, seed)
        use = label_use(model, valid_x, valid_y, seed=seed)
        if header is None:
            header = list(result)
            print(f"{'run':40} " + " ".join(f"{k:>24}" for k in header) + "  log p(x | y): true / shuffled")
        print(f"{str(folder):40} " + " ".join(f"{result[k]:24.1%}" for k in header)
              + f"  {use['true']:+.2f} / {use['shuffled']:+.2f}", flush=True)


if __name__ == "__main__":
    main()

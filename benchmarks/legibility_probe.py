"""Why the Fig. 4 generations read badly: two probes of trained handwriting runs (docs/tuning.md).

For each run folder given (default: CWS, the baseline and the ceiling at seed 0), it prints

  label use        the IWAE bound of log p(x | y) per step on the validation windows (4 particles),
                   with the true labels given at every step, with the labels shuffled across
                   steps, and with one constant label: how much the trained generative model's
                   p(x) depends on y.  A model that writes y legibly must depend on it;
  sampling bias    legibility (the stage's measure: the seed's ceiling classifier reading the
                   generated Fig. 4 sentence) when the stroke head samples with Graves's (2013)
                   bias b: mixture weights sharpened by (1 + b), standard deviations scaled by
                   exp(-b), pen flags sharpened by (1 + b).  b = 0 is the model's own distribution,
                   as the score stage samples it.

Reads the trained runs and the prepared data of a finished `make repro`; trains nothing.

    python -m benchmarks.legibility_probe
    python -m benchmarks.legibility_probe --runs runs/handwriting/main/ssws-s1 --biases 0 2
"""
import argparse
import math
from pathlib import Path

import numpy as np
import torch

from pipeline import config, graph, layout, runs
from pipeline.data.handwriting import FIG4_TEXT, render_text
from pipeline.evaluate import writing
from pipeline.experiments import handwriting
from pipeline.models.pen_context import PenTracker, pen_context
from tests.conftest import ROOT

DEFAULT_RUNS = (graph._run("handwriting", "main", "cws", 0), graph._run("handwriting", "main", "baseline", 0),
                graph._run("handwriting", "ceiling", "baseline", 0))


def biased_sample(head, features, bias):
    """A draw from the stroke head with Graves's sampling bias (bias = 0: the head's own sample)."""
    log_pi, mu, sd, rho, flag_logits = head.params(features)
    k = torch.distributions.Categorical(logits=log_pi * (1 + bias)).sample()[..., None]
    pick = lambda a: torch.gather(a, -1, k)[..., 0]                         # noqa: E731
    mu1, mu2, r = pick(mu[..., 0]), pick(mu[..., 1]), pick(rho)
    s1, s2 = pick(sd[..., 0]) * math.exp(-bias), pick(sd[..., 1]) * math.exp(-bias)
    e1, e2 = torch.randn_like(mu1), torch.randn_like(mu1)
    dx, dy = mu1 + s1 * e1, mu2 + s2 * (r * e1 + torch.sqrt(1 - r ** 2) * e2)
    flags = torch.bernoulli(torch.sigmoid(flag_logits * (1 + bias)))
    return torch.cat([dx[..., None], dy[..., None], flags], -1)


@torch.no_grad()
def label_use(model, x, y, particles=4, seed=0):
    """Bound on log p(x | y) per step for the true, shuffled and constant labels, all steps given."""
    shuffled = y.flatten()[torch.randperm(y.numel(), generator=torch.Generator().manual_seed(seed))].view_as(y)
    out = {}
    for name, labels in (("true", y), ("shuffled", shuffled), ("constant", torch.zeros_like(y))):
        torch.manual_seed(seed)
        batch = {"x": x, "labels": labels, "mask": torch.ones_like(y, dtype=torch.bool)}
        trace = model({**batch, "u": pen_context(x)} if model.u_dim else batch, particles)
        log_w = (trace.log_px + trace.log_pz - trace.log_qz).sum(-1)          # y given: no y terms
        out[name] = ((torch.logsumexp(log_w, 0) - math.log(particles)).mean() / x.shape[1]).item()
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=list(DEFAULT_RUNS), help="handwriting run folders")
    parser.add_argument("--biases", nargs="+", type=float, default=[0.0, 1.0, 3.0])
    parser.add_argument("--samples", type=int, default=8, help="generations of the sentence per bias")
    args = parser.parse_args()
    params = config.load(ROOT / "params.yaml")
    torch.set_num_threads(params["threads"])
    cfg = config.settings(params, "handwriting")
    data = np.load(ROOT / layout.prepared("handwriting"))
    mean, std, seq_len = data["mean"], data["std"], data["x_train"].shape[1]
    x, y = torch.as_tensor(data["x_valid"]), torch.as_tensor(data["y_valid"]).clamp(min=0)
    _, sentence = render_text(FIG4_TEXT)
    print(f"{'run':40} {'log p(x | y) per step: true':>28} {'shuffled':>9} {'constant':>9}   "
          + "  ".join(f"legibility b={b:g}" for b in args.biases))
    for folder in args.runs:
        folder = Path(folder)
        method, seed = folder.name.split("-")[0], int(folder.name.rsplit("-s", 1)[1])
        model = runs.load_trained(ROOT / folder, handwriting.build_model(cfg, method), "cpu")
        reader = runs.load_trained(ROOT / graph._run("handwriting", "ceiling", "baseline", seed),
                                   handwriting.build_model(cfg, "baseline"), "cpu")
        use = label_use(model, x, y, seed=seed)
        readable = []
        for bias in args.biases:
            model.head.sample = lambda features, b=bias: biased_sample(model.head, features, b)
            torch.manual_seed(seed)
            tracker = PenTracker(args.samples) if model.u_dim else None
            strokes = model.generate(torch.as_tensor(sentence), n=args.samples, tracker=tracker).numpy()
            readable.append(writing.legibility(reader, [(s, sentence) for s in strokes], seq_len, mean, std))
        print(f"{str(folder):40} {use['true']:28.3f} {use['shuffled']:9.3f} {use['constant']:9.3f}   "
              + "  ".join(f"{100 * r:15.1f}%" for r in readable), flush=True)


if __name__ == "__main__":
    main()

"""Deep-Writing's latent structure, part by part (docs/tuning.md, issue 31): train the ceiling model
and CWS under each variant and measure what the structure is for.

A variant is a set of handwriting keys (`content_latent`, `decoder_reads_h`, `kl_warmup`, or any
other) over params.yaml's.  For each variant and seed it trains, into a scratch folder, the ceiling
model (the baseline with every window labelled) and CWS at `supervision` under
`supervision_pattern`, then prints per model:

  kl       KL(q(z_t) || p(z_t | h_{t-1})) per step, nats: the mean of log q - log p at q's samples on
           the validation windows, their labels teacher-forced (is z used?)
  ahead    one step ahead on the rendered Fig. 4 sentence: each step's mean stroke given the true
           history, z at its prior mean (generation_probe's `ahead prior/mean`)
  written  the score stage's free writing of the sentence (evaluate/writing.py), and `ink`: the same
           generations with every character's ink replaced by another's (writing.destroyed_ink):
           `net` = written - ink is what the letters' shapes carry
  top1/10  validation accuracy (metrics.json; CWS's is the paper's measure)
  distinct how many of the generations differ (style varied by z)

Every generation is read by one fixed classifier, the workspace's ceiling run of the first seed (from
`make repro`; the score stage's reader too), so the variants' numbers are comparable.  Needs a finished `make repro`.

    python -m benchmarks.latent_structure --variant kl=kl_warmup:0.3 \\
        --variant dw=decoder_reads_h:false,kl_warmup:0.3,content_latent:8 --seeds 0 --jobs 2
"""
import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import yaml

from benchmarks.generation_probe import one_step_ahead, read_windows, reference_windows
from pipeline import config, layout, runs, settings
from pipeline.data.handwriting.text import FIG4_TEXT, clean_text, encode_text
from pipeline.evaluate import writing
from pipeline.experiments import handwriting
from pipeline.runs import Run
from pipeline.train import tune_cpu
from tests.conftest import ROOT

MODELS = {"ceiling": ("baseline", 1.0), "cws": ("cws", None)}      # name: (method, rate; None: `supervision`)


def parse_variant(text):
    """'name=key:value,key:value' -> (name, {key: value}), values read as YAML ('false', '0.3', '8')."""
    name, _, spec = text.partition("=")
    pairs = (item.split(":", 1) for item in spec.split(",") if item)
    return name, {key: yaml.safe_load(value) for key, value in pairs}


def one_model(name, variant, keys, seed, out, samples):
    """Train one model of one variant and measure it (the module's docstring)."""
    params = config.load(ROOT / "params.yaml")
    torch.set_num_threads(params["threads"])
    tune_cpu()
    cfg = settings.unchecked({**params, "handwriting": {**params["handwriting"], **keys}})
    method, rate = MODELS[name]
    data_path = ROOT / layout.prepared("handwriting")
    folder = Path(out) / f"{variant}-{name}-s{seed}"
    run = Run(method, seed, data_path, folder, "cpu", group="ceiling" if rate == 1.0 else "main",
              rate=rate or params["supervision"], pattern=params["supervision_pattern"])
    metrics = runs.train(run, handwriting.training(cfg, run))
    model = runs.load_run(folder)
    model.eval()
    reader = runs.load_run(ROOT / layout.run_folder("handwriting", "baseline", params["seeds"][0], group="ceiling"))
    data = np.load(data_path)
    mean, std, seq_len = data["mean"], data["std"], data["x_train"].shape[1]
    x, y = reference_windows(seq_len, mean, std)
    torch.manual_seed(seed)
    ahead = read_windows(reader, one_step_ahead(model, x, y, "prior", "mean"), y)
    torch.manual_seed(seed)
    written = [writing.write(model, encode_text(clean_text(FIG4_TEXT)), mean, std) for _ in range(samples)]
    rng = np.random.default_rng([seed, 5])
    read = lambda **kw: writing.legibility(reader, written, seq_len, mean, std, **kw)  # noqa: E731
    legible, ink = read(), read(ink=lambda a, b: writing.destroyed_ink(a, b, rng))
    return {"variant": variant, "model": name, "seed": seed, "kl": handwriting.z_kl_per_step(model, handwriting.validation_set(cfg["handwriting"], data), 4, seed),
            "ahead": ahead, "written": legible, "ink": ink, "net": legible - ink,
            "top1": metrics["val_top1"], "top10": metrics["val_top10"],
            "distinct": len({np.round(a, 3).tobytes() for a, _ in written}), "folder": str(folder)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY:VALUE,...",
                        help="a set of handwriting keys (repeatable); `default` (no change) is always run first")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--samples", type=int, default=4, help="generations of the sentence per model")
    parser.add_argument("--jobs", type=int, default=2, help="models trained side by side (one per core)")
    parser.add_argument("--keep", help="a folder to keep the trained models in (default: a scratch folder)")
    parser.add_argument("--skip-default", action="store_true", help="leave out the unchanged variant")
    args = parser.parse_args()
    variants = ([] if args.skip_default else [("default", {})]) + [parse_variant(v) for v in args.variant]
    cells = [(m, name, keys, s) for name, keys in variants for s in args.seeds for m in args.models]
    for name, keys in variants:
        print(f"{name}: {keys or 'params.yaml as it is'}")
    print(f"{'variant':>12} {'model':>8} {'seed':>4} {'kl':>7} {'ahead':>6} {'written':>7} {'ink':>6} {'net':>6} "
          f"{'top1':>6} {'top10':>6} {'distinct':>8}", flush=True)
    with tempfile.TemporaryDirectory() as scratch, ProcessPoolExecutor(args.jobs) as pool:
        out = args.keep or scratch
        for r in pool.map(one_model, *zip(*cells), [out] * len(cells), [args.samples] * len(cells)):
                print(f"{r['variant']:>12} {r['model']:>8} {r['seed']:>4} {r['kl']:7.3f} {r['ahead']:6.1%} {r['written']:7.1%} "
                  f"{r['ink']:6.1%} {r['net']:+6.1%} {r['top1']:6.1%} {r['top10']:6.1%} {r['distinct']:>8}", flush=True)
    if args.keep:
        print(f"models kept in {args.keep}")


if __name__ == "__main__":
    main()

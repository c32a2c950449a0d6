"""One training step of every sequence model, today's against the step before the speed work.

For each model (the handwriting DVRNN with its stroke head, the fly DVRNN with its Gaussian head,
the VRNN, the binned RNN) at the sizes of the `default` and `paper` profiles (pipeline/profiles/), it
times one step (forward, both backward passes, both optimiser steps) of today's code and of the
reference (benchmarks/reference.py: the code at commit 159f627), side by side in one process with
the same weights and batch (and the stages' process settings, train.tune_cpu, for both), and prints

  ms/step and sequence-steps/s (B sequences x T steps per step), today and reference, and their ratio;
  model FLOPs per step (torch.utils.flop_counter: forward and backward) and the fraction of the
  machine's fp32 GEMM peak they reach (FLOPs / step time / peak), the peak measured in the same run.

    python -m benchmarks.steps                 # every model, default and paper sizes (minutes)
    python -m benchmarks.steps --sizes default --repeat 20 --threads 2
    python -m benchmarks.steps --sizes paper --models stroke      # the handwriting DVRNN only
    python -m benchmarks.steps --device cuda --repeat 3           # on the GPU, against its fp32 GEMM peak
"""
import argparse
import time

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import reference
from pipeline import objectives, sized
from pipeline.experiments import flies
from pipeline.models.baselines import BinnedRNN
from pipeline.models.dvrnn import DVRNN
from pipeline.train import Spec, optimisers, pick_device, train_step, tune_cpu
from tests.conftest import ROOT


def synchronise(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def gemm_peak(device, seconds=2.0):
    """fp32 matrix-product throughput of the device, with torch's threads on the CPU (FLOP/s)."""
    n = 1024 if device.type == "cpu" else 8192
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    for _ in range(3):
        a @ b
    synchronise(device)
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        a @ b
        count += 1
        synchronise(device)
    return 2 * n ** 3 * count / (time.perf_counter() - began)


def cases(profile):
    """(name, build(module), batch, K, objective) of every sequence model at a profile's sizes."""
    sizes = sized.profile(profile)
    hw, fl = sizes["handwriting"], sizes["flies"]
    g = torch.Generator().manual_seed(0)
    B, T = hw["batch_size"], hw["seq_len"]
    x = torch.randn(B, T, 4, generator=g)
    x[..., 2:] = (torch.rand(B, T, 2, generator=g) < 0.3).float()
    mask = torch.rand(B, T, generator=g) < 0.125
    labels = torch.where(mask, torch.randint(0, 70, (B, T), generator=g), -1)
    stroke = {"x": x, "labels": labels, "mask": mask}
    Bf, Tf = 2 * fl["batch_size"], fl["window"]              # each window holds two fly-sequences
    fmask = torch.rand(Bf, Tf, generator=g) < 0.2
    fly = {"x": torch.randn(Bf, Tf, flies.X_DIM, generator=g), "u": torch.rand(Bf, Tf, flies.U_DIM, generator=g),
           "labels": torch.where(fmask, torch.randint(0, 6, (Bf, Tf), generator=g), -1), "mask": fmask}
    unlabelled = {**fly, "labels": torch.full_like(fly["labels"], -1), "mask": torch.zeros_like(fmask)}
    edges = torch.sort(torch.randn(flies.X_DIM, fl["rnn_bins"] + 1, generator=g), -1).values
    return [
        ("DVRNN, stroke head (handwriting CWS)",
         lambda m: m.DVRNN(4, 70, hw["z_dim"], hw["hidden"], emission="stroke", mixture=hw["mixture"],
                           q_hidden=hw["q_hidden"]), stroke, hw["particles"], "cws"),
        ("DVRNN, Gaussian head (flies CWS)",
         lambda m: m.DVRNN(flies.X_DIM, 6, fl["z_cws"], fl["hidden"], u_dim=flies.U_DIM, emission="gaussian",
                           mixture=fl["mixture"]), fly, fl["particles"], "cws"),
        ("VRNN (flies)",
         lambda m: m.DVRNN(flies.X_DIM, 0, fl["z_vrnn"], fl["hidden"], u_dim=flies.U_DIM, emission="gaussian",
                           mixture=fl["mixture"]), unlabelled, fl["particles"], "iwae"),
        ("binned RNN (flies)", lambda m: m.BinnedRNN(flies.X_DIM, flies.U_DIM, fl["hidden"], edges), unlabelled, 1,
         "iwae"),
    ]


class Current:
    DVRNN, BinnedRNN = DVRNN, BinnedRNN


def reference_optimisers(groups, lr):
    """The optimisers as the reference made them: plain Adam, one loop over tensors."""
    phi = groups["phi_z"] + groups["phi_y"] or [torch.zeros(0, requires_grad=True)]
    return torch.optim.Adam(groups["theta"], lr=lr), torch.optim.Adam(phi, lr=lr)


def timed_steps(model, objective, batch, K, step, repeat, make_optimisers=optimisers):
    """Seconds per training step (after two warm-up steps) and model FLOPs of one step."""
    groups = model.parameter_groups()
    opt_theta, opt_phi = make_optimisers(groups, 1e-4)
    spec = Spec(name="benchmark", objective=objective, epochs=1, particles=K, lr=1e-4, seed=0)
    device = next(model.parameters()).device
    for _ in range(2):
        step(model, spec, batch, opt_theta, opt_phi, groups)
    synchronise(device)
    began = time.perf_counter()
    for _ in range(repeat):
        step(model, spec, batch, opt_theta, opt_phi, groups)
    synchronise(device)
    seconds = (time.perf_counter() - began) / repeat
    counter = FlopCounterMode(display=False)
    with counter:
        step(model, spec, batch, opt_theta, opt_phi, groups)
    return seconds, counter.get_total_flops()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["default", "paper"], choices=["smoke", "default", "paper"])
    parser.add_argument("--repeat", type=int, default=0, help="timed steps per model (default: 10, paper sizes 2)")
    parser.add_argument("--models", nargs="+", default=[], metavar="WORD",
                        help="only the models whose name contains one of these words (e.g. stroke VRNN)")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (default: params.yaml's `threads`, as the stages run)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                        help="where both steps run (cuda: the GEMM peak is the GPU's fp32 one, TF32 off)")
    args = parser.parse_args()
    device = pick_device(args.device)
    torch.set_num_threads(args.threads or yaml.safe_load((ROOT / "params.yaml").read_text())["threads"])
    malloc = tune_cpu()                  # as every stage does; the reference step runs with it too
    ref = reference.load()
    old = type("Reference", (), {"DVRNN": ref["dvrnn"].DVRNN, "BinnedRNN": ref["baselines"].BinnedRNN})
    peak = gemm_peak(device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}; fp32 GEMM peak {peak / 1e9:.1f} GFLOP/s; "
          f"denormals flushed, malloc keeps freed memory (both steps): {'yes' if malloc else 'no'}\n")
    header = (f"{'model':40} {'sizes':8} {'ms/step':>9} {'ref ms':>9} {'seq-steps/s':>12} {'ref':>9} "
              f"{'speed-up':>9} {'GFLOP/step':>11} {'% peak':>7} {'ref %':>6}")
    print(header)
    for size in args.sizes:
        repeat = args.repeat or (2 if size == "paper" else 10)
        for name, build, batch, K, objective in cases(size):
            if args.models and not any(word.lower() in name.lower() for word in args.models):
                continue
            torch.manual_seed(0)
            model_old = build(old).to(device)
            model_new = build(Current).to(device)
            model_new.load_state_dict(model_old.state_dict())
            batch = {k: v.to(device) for k, v in batch.items()}
            new_s, flops = timed_steps(model_new, getattr(objectives, objective), batch, K, train_step, repeat)
            old_s, old_flops = timed_steps(model_old, getattr(ref["objectives"], objective), batch, K,
                                           ref["train"].train_step, repeat, reference_optimisers)
            seq_steps = batch["x"].shape[0] * batch["x"].shape[1]
            print(f"{name:40} {size:8} {1000 * new_s:9.1f} {1000 * old_s:9.1f} {seq_steps / new_s:12.0f} "
                  f"{seq_steps / old_s:9.0f} {old_s / new_s:8.2f}x {flops / 1e9:11.2f} "
                  f"{100 * flops / new_s / peak:6.1f}% {100 * old_flops / old_s / peak:5.1f}%", flush=True)


if __name__ == "__main__":
    main()

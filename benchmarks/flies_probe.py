r"""Can the embedded flies benchmark show the value of labels?  (issue 29, item 1)

Measures, on the simulated flies at the active profile (params.yaml), with one CPU thread:
  plateau   a run at a CONSTANT learning rate for many epochs: the validation bound per step
            (`val_bound_per_step`, computed on the test sequences) after every epoch, and the wall
            time per gradient step;
  run       a run at a given budget (cosine decay, as the pipeline trains), then flies.score on it:
            Scott's-rule kde_fly1/kde_fly2 and the validation grids for the shared/defensive rules.
            Method `oracle` is the positive control: the CWS DVRNN given every true label (the
            training npz's labels replaced by train_true_labels, so the mask is all ones);
  bounds    scale bounds scored by the same KDE on the same first `score_windows` test windows:
            upper = the simulator's own continuations from its true hidden state at the end of the
            seed (fly_sim.simulate replayed with the test split's random stream, the stream forked
            into K independent continuations at the seed's last frame); lower = a constant-velocity
            model (the last seed motion held, body frame, integrated in the dish: `cv`) and the same
            with a random walk on the motion whose step sd is the training data's (`cv_rw`);
  table     Table 1 numbers for a set of scored runs: Scott's rule per run, the shared and the
            defensive rule chosen on the runs' validation windows (evaluate.kde.table1_scores),
            and the bounds scored by the same chosen rules;
  purity    how much of the true behaviour a run's q(y) recovers with its classes mapped (on the
            training split) to the true class they most often coincide with: RWS's unsupervised y;
  labels    the true behaviour's class shares and bout lengths, and the annotated test steps'
            majority-class rate;
  prepare   the prepared npz for a simulator variant (fly_sim constants monkeypatched here only):
            `default`, `before29` (the simulator before issue 29; `long`, charge, tussle, threat and
            hold bouts x4 and unknown bouts x1/2, is fly_sim's default since then).

Numbers in docs/flies_probe.md came from (each command at most one training process, 1 thread):

    P=/work/main/.venv/bin/python; B="$P -m benchmarks.flies_probe"
    $P -m stages.prepare_flies --out data/prepared/flies.npz --raw data/raw
    $B plateau --method cws --epochs 30 --out probe/plateau-cws
    $B plateau --method rws --epochs 30 --out probe/plateau-rws
    $B run --method oracle --epochs 30 --out probe/oracle-s0   # likewise rws, cws; --seed 1
    $B bounds --out probe/bounds.npz   # --variant long --data probe/long.npz for the variant
    $B table --runs probe/oracle-s0 probe/rws-s0 probe/cws-s0 probe/oracle-s1 probe/rws-s1 \
        --bounds probe/bounds.npz --pair oracle-s0,rws-s0 oracle-s1,rws-s1 cws-s0,rws-s0
    $B purity --run probe/rws-s0; $B labels
    $B prepare --variant long --out probe/long.npz   # then run/table with --data probe/long.npz and
    $B bounds --variant long --data probe/long.npz --out probe/long-bounds.npz
"""
import argparse
import contextlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from pipeline import config, layout, runs, settings
from pipeline.data import fly_sim
from pipeline.data import flies as flies_data
from pipeline.data.fly_geometry import CLASSES, UNKNOWN
from pipeline.evaluate import bounds
from pipeline.evaluate.kde import defensive_scores, kde_scores, table1_scores
from pipeline.experiments import flies
from tests.conftest import ROOT

DATA = ROOT / layout.prepared("flies")


def params_with(**flies_overrides):
    params = config.load(ROOT / "params.yaml")
    return {**params, "flies": {**params["flies"], **flies_overrides}}


def oracle_data(data_path, out):
    """A copy of the prepared npz whose training labels are the true behaviour of every frame."""
    data = dict(np.load(data_path))
    data["train_labels"] = data["train_true_labels"].copy()
    np.savez(out, **data)
    return out


def train(method, seed, data, out, **overrides):
    """Train one run (method `oracle` = cws on every true label); returns (history, seconds, steps)."""
    torch.set_num_threads(1)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if method == "oracle":
        data = oracle_data(data, out / "oracle_data.npz")
    cfg = settings.unchecked(params_with(**overrides))
    this = runs.Run("cws" if method == "oracle" else method, seed, str(data), str(out), "cpu")
    training = flies.training(cfg, this)
    began = time.perf_counter()
    runs.train(this, training)
    seconds = time.perf_counter() - began
    n_seq = 2 * len(np.load(data)["train_motion"])
    steps = training.spec.epochs * (n_seq // cfg["flies"]["batch_size"])
    import pandas as pd
    curve = pd.read_csv(out / layout.CURVE, sep="\t")
    info = {"method": method, "seed": seed, "data": str(data), "overrides": overrides, "train_seconds": seconds,
            "steps": steps, "steps_per_epoch": n_seq // cfg["flies"]["batch_size"],
            "bound_per_epoch": curve["val_bound_per_step"].tolist()}
    (out / "probe.json").write_text(json.dumps(info, indent=1))
    return info, cfg, this


def cmd_plateau(a):
    info, _, _ = train(a.method, a.seed, a.data, a.out, epochs=a.epochs, lr_decay="constant")
    b = info["bound_per_epoch"]
    print(f"{a.method} seed {a.seed}: {info['steps']} steps, {info['train_seconds']:.0f} s "
          f"({info['train_seconds'] / info['steps']:.3f} s/step incl. per-epoch evaluation)")
    for e, v in enumerate(b):
        print(f"  epoch {e:3d} step {e * info['steps_per_epoch']:4d}  val_bound_per_step {v:.4f}")


def cmd_run(a):
    done = Path(a.out) / "probe.json"
    if done.exists() and (Path(a.out) / layout.MODEL).exists():       # trained already: score it again
        info = json.loads(done.read_text())
        cfg = settings.unchecked(params_with(epochs=a.epochs, lr_decay=a.decay))
        this = runs.Run("cws" if a.method == "oracle" else a.method, a.seed, info["data"], str(a.out), "cpu")
    else:
        info, cfg, this = train(a.method, a.seed, a.data, a.out, epochs=a.epochs, lr_decay=a.decay)
    began = time.perf_counter()
    arrays, numbers = flies.score(cfg, this)
    numbers["score_seconds"] = time.perf_counter() - began
    np.savez(Path(a.out) / "continuations.npz", **arrays)
    metrics = json.loads((Path(a.out) / layout.METRICS).read_text())
    numbers.update({k: v for k, v in metrics.items() if k.startswith(("test_", "val_"))})
    numbers["probe_method"], numbers["train_seconds"], numbers["steps"] = a.method, info["train_seconds"], info["steps"]
    (Path(a.out) / "kde.json").write_text(json.dumps(numbers, indent=1))
    print(json.dumps({k: v for k, v in numbers.items() if not k.startswith(("valid_", "kde_fixed"))}, indent=1))


# --------------------------------------------------------------------------- bounds
def simulator_continuations(data, cfg, n, K, data_seed=0):
    """The simulator's K continuations of the first n test windows (evaluate.bounds) and the truth."""
    T0, H = cfg["seed_steps"], cfg["horizon"]
    out = bounds.simulator_continuations(data, {**cfg, "data_seed": data_seed}, n, K)
    return out, data["test_pose"][:n, T0 + 1:T0 + 1 + H, :, :2]


def cv_continuations(data, cfg, n, K, random_walk, rng):
    """Constant-velocity continuations (evaluate.bounds), with a random walk on the motion or without."""
    return bounds.cv_continuations(data, n, K, cfg["seed_steps"], cfg["horizon"], rng if random_walk else None)


def cmd_bounds(a):
    params = params_with()
    cfg = params["flies"]
    data = dict(np.load(a.data))
    n, K = min(cfg["score_windows"], len(data["test_pose"])), cfg["continuations"]
    began = time.perf_counter()
    with variant(a.variant):          # the simulator that made the data
        sim, truth = simulator_continuations(data, cfg, n, K, cfg["data_seed"])
    t_sim = time.perf_counter() - began
    rng = np.random.default_rng(0)
    arrays = {"truth": truth, "radius": data["test_radius"][:n], "simulator": sim,
              "cv": cv_continuations(data, cfg, n, K, False, rng),
              "cv_rw": cv_continuations(data, cfg, n, K, True, rng)}
    np.savez(a.out, **{k: np.asarray(v, np.float32) for k, v in arrays.items()})
    print(f"bounds written to {a.out} ({n} windows x {K} continuations; simulator replay {t_sim:.0f} s)")


# --------------------------------------------------------------------------- table
def scott(positions, truth, floor):
    totals = np.stack([kde_scores(p, t, floor).sum(0) for p, t in zip(positions, truth)])   # [n, 2]
    return totals.mean(0), totals


def cmd_table(a):
    floor = params_with()["flies"]["kde_floor_mm"]
    grids, defensive, test, per_run = {}, {}, {}, {}
    for folder in a.runs:
        numbers = json.loads((Path(folder) / "kde.json").read_text())
        arrays = dict(np.load(Path(folder) / "continuations.npz"))
        grids[folder], defensive[folder] = numbers["valid_kde_by_bandwidth"], numbers["valid_defensive"]
        test[folder] = {k: arrays[k] for k in ("positions", "truth", "radius")}
        per_run[folder] = numbers
    chosen, steps = table1_scores(grids, defensive, test, floor)
    h, h_def, eps = chosen["bandwidth_mm"], chosen["defensive_bandwidth_mm"], chosen["defensive_eps"]
    rows = []
    for folder in a.runs:
        r, nb = chosen["runs"][folder], per_run[folder]
        per_window = steps[folder]["defensive"].sum(1)                      # [n, 2]
        rows.append({"run": Path(folder).name, "steps": nb.get("steps"), "train_s": round(nb.get("train_seconds", 0)),
                     "scott_fly1": nb["kde_fly1"], "scott_fly2": nb["kde_fly2"],
                     "shared_fly1": r["kde_fly1"], "shared_fly2": r["kde_fly2"],
                     "defensive_fly1": r["defensive_fly1"], "defensive_fly2": r["defensive_fly2"],
                     "def_window_sd_fly1": float(per_window[:, 0].std(ddof=1)),
                     "annotated_top1": nb.get("test_annotated_top1"), "all_frames_top1": nb.get("test_all_frames_top1"),
                     "val_bound_per_step": nb.get("val_bound_per_step"), "_per_window": per_window})
    if a.bounds:
        b = dict(np.load(a.bounds))
        truth, radius = b["truth"].astype(np.float64), b["radius"]
        ref = next(iter(test.values()))["truth"]
        assert np.allclose(truth, ref, atol=1e-4), "bounds were made from other test windows"
        for name in ("simulator", "cv", "cv_rw"):
            pos = b[name].astype(np.float64)
            sc, _ = scott(pos, truth, floor)
            sh = np.stack([kde_scores(p, t, floor, h) for p, t in zip(pos, truth)]).sum(1).mean(0)
            d = defensive_scores(pos, truth, radius, h_def, (eps,))[0].sum(1)
            rows.append({"run": f"bound:{name}", "scott_fly1": sc[0], "scott_fly2": sc[1], "shared_fly1": sh[0],
                         "shared_fly2": sh[1], "defensive_fly1": d.mean(0)[0], "defensive_fly2": d.mean(0)[1],
                         "def_window_sd_fly1": float(d[:, 0].std(ddof=1)), "_per_window": d})
    print(f"shared bandwidth {h} mm; defensive rule {h_def} mm, eps {eps} (chosen on the runs' validation windows)")
    cols = ["run", "steps", "train_s", "scott_fly1", "scott_fly2", "shared_fly1", "shared_fly2", "defensive_fly1",
            "defensive_fly2", "def_window_sd_fly1", "annotated_top1", "all_frames_top1", "val_bound_per_step"]
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        cells = (f"{r[c]:.4g}" if isinstance(r.get(c), float) else str(r.get(c, "")) for c in cols)
        print("| " + " | ".join(cells) + " |")
    if a.pair:
        for x, y in (p.split(",") for p in a.pair):
            dx = next(r for r in rows if r["run"] == x)["_per_window"]
            dy = next(r for r in rows if r["run"] == y)["_per_window"]
            diff = dx - dy
            se = diff.std(0, ddof=1) / np.sqrt(len(diff))
            print(f"{x} - {y} (defensive, paired over {len(diff)} windows): fly1 {diff[:, 0].mean():+.1f} "
                  f"± {1.96 * se[0]:.1f}, fly2 {diff[:, 1].mean():+.1f} ± {1.96 * se[1]:.1f}")


def cmd_labels(a):
    """Class shares of the true behaviour and of the annotated test steps (majority-class rate)."""
    data = np.load(a.data)
    true = data["train_true_labels"].ravel()
    print("true behaviour share (train):", {c: round(float((true == i).mean()), 3) for i, c in enumerate(CLASSES)})
    lab = data["test_labels"].ravel()
    lab = lab[lab >= 0]
    share = np.bincount(lab, minlength=len(CLASSES)) / len(lab)
    print("annotated test steps:", len(lab), {c: round(float(s), 3) for c, s in zip(CLASSES, share)},
          "majority-class rate", round(float(share.max()), 3))
    from pipeline.data.supervision import bouts
    tl = data["train_true_labels"]
    lengths = {c: [] for c in CLASSES}
    for seq in tl.transpose(0, 2, 1).reshape(-1, tl.shape[1]):
        for s, e, c in bouts(seq):
            lengths[CLASSES[c]].append(e - s)
    print("median bout length within 150-frame windows:", {c: float(np.median(v)) if v else None
                                                             for c, v in lengths.items()})


def cmd_purity(a):
    """How well a trained model's q(y) recovers the true behaviour without being told the class names:
    each q class is mapped to the true class it most often coincides with on the training split,
    then that mapping is scored on every test frame (for RWS: how much of the behaviour the
    unsupervised y found)."""
    from pipeline.experiments.batches import class_probabilities
    torch.set_num_threads(1)
    model = runs.load_run(a.run)
    data = dict(np.load(a.data))
    cfg = params_with()["flies"]
    out = {}
    for split in ("train", "test"):
        seq = flies.sequences(data, split)
        probs = class_probabilities(model, seq, "cpu", cfg["eval_particles"])
        out[split] = (probs.argmax(-1).ravel(), seq["true_labels"].ravel())
    q, y = out["train"]
    table = np.zeros((int(q.max()) + 1, len(CLASSES)))
    np.add.at(table, (q, y), 1)
    mapping = table.argmax(1)
    q, y = out["test"]
    q = np.minimum(q, len(mapping) - 1)
    majority = np.bincount(y, minlength=len(CLASSES)).max() / len(y)
    print(f"{a.run}: mapped top-1 on all test frames {(mapping[q] == y).mean():.3f} "
          f"(majority class {majority:.3f}); classes used on test {len(np.unique(q))}")


# --------------------------------------------------------------------------- variants
VARIANTS = {
    "default": {},
    # bouts 4x longer (lunges excepted: a strike is a strike); unknown bouts halved, so fewer unknown frames:
    # fly_sim's default since issue 29
    "long": {},
    # the simulator before issue 29 (docs/flies_probe.md's `default`)
    "before29": {"DURATION": fly_sim.DURATION / np.array([[1, 1, 1, 1]] + [[4, 1, 4, 4]] * 4 + [[0.5, 1, 0.5, 0.5]]),
                 "NEAR_UNKNOWN": (15, 0.6, 4, 90)},
}


@contextlib.contextmanager
def variant(name):
    """fly_sim's constants replaced by those of VARIANTS[name] inside the block."""
    saved = {k: getattr(fly_sim, k) for k in VARIANTS[name]}
    for k, v in VARIANTS[name].items():
        setattr(fly_sim, k, v)
    try:
        yield
    finally:
        for k, v in saved.items():
            setattr(fly_sim, k, v)


def cmd_prepare(a):
    with variant(a.variant):
        cfg = params_with()["flies"]
        from pipeline.io import write_npz
        write_npz(a.out, **flies_data.prepare_embedded(cfg, cfg["data_seed"]))
    data = np.load(a.out)
    print(f"{a.variant}: unknown share of true frames {(data['train_true_labels'] == UNKNOWN).mean():.3f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("plateau", "run"):
        s = sub.add_parser(name)
        s.add_argument("--method", choices=("cws", "rws", "vrnn", "rnn", "oracle"), required=True)
        s.add_argument("--seed", type=int, default=0)
        s.add_argument("--epochs", type=int, default=30)
        s.add_argument("--data", default=str(DATA))
        s.add_argument("--out", required=True)
        if name == "run":
            s.add_argument("--decay", default="cosine", choices=("cosine", "constant"))
    s = sub.add_parser("bounds")
    s.add_argument("--data", default=str(DATA))
    s.add_argument("--variant", choices=sorted(VARIANTS), default="default", help="the simulator of --data")
    s.add_argument("--out", required=True)
    s = sub.add_parser("table")
    s.add_argument("--runs", nargs="+", required=True)
    s.add_argument("--bounds")
    s.add_argument("--pair", nargs="*", help="run,run pairs (folder names or bound:NAME) to difference")
    s = sub.add_parser("labels")
    s.add_argument("--data", default=str(DATA))
    s = sub.add_parser("purity")
    s.add_argument("--run", required=True)
    s.add_argument("--data", default=str(DATA))
    s = sub.add_parser("prepare")
    s.add_argument("--variant", choices=sorted(VARIANTS), required=True)
    s.add_argument("--out", required=True)
    a = p.parse_args()
    {"plateau": cmd_plateau, "run": cmd_run, "bounds": cmd_bounds, "table": cmd_table, "labels": cmd_labels,
     "purity": cmd_purity, "prepare": cmd_prepare}[a.cmd](a)


if __name__ == "__main__":
    main()

"""The Fly-vs-Fly report page: Table 1 (ours beside the paper's) with its scale (the bounds) and the
positive control that says whether these data can reward labels at all, Fig. 5b tracks, Fig. 6 KDEs.
Reads the run and score files of the runs it is given; loads no model."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import stats
from pipeline.declarations.flies import EXPERIMENT, METHODS, TABLE1
from pipeline.evaluate.kde import FIXED_MM
from pipeline.io import read_json, write_json
from pipeline.report import verdicts
from pipeline.report.pages import embed, render
from pipeline.report.tables import ACCURACY, fmt_col, summarise
from pipeline.run_folder import read_arrays, read_runs, read_trained
from pipeline.sized import profile_of

MODELS = TABLE1                 # Table 1's models; the oracle is the control beside them
NAMES = {k: m.label for k, m in METHODS.items()}
PAPER = {"cws": (-780.1, -851.5), "rws": (-901.8, -853.9), "vrnn": (-962.0, -879.8), "rnn": (-931.0, -921.2)}
PAPER_ORDER = "CWS+DVRNN > RWS+DVRNN > VRNN > RNN"


def diagnostics(frame, fps):
    """Why a model scores as it does: how spread its samples are, how far their mean is from the
    truth, how fast its flies move (averaged over seed windows, steps and training seeds), and the
    effective sample size of its particles after the seed steps."""
    rows = []
    for model in MODELS:
        runs = frame[frame.method == model]
        values = []
        for folder in runs.folder:
            d = read_arrays(EXPERIMENT, folder)
            pos, truth = d["positions"], d["truth"]
            values.append([pos.std(1).mean(), np.linalg.norm(pos.mean(1) - truth, axis=-1).mean(),
                           np.linalg.norm(np.diff(pos, axis=2), axis=-1).mean() * fps,
                           np.linalg.norm(np.diff(truth, axis=1), axis=-1).mean() * fps])
        spread, bias, speed, true_speed = np.mean(values, 0)
        rows.append({"model": NAMES[model], "spread": f"{spread:.2f}", "bias": f"{bias:.2f}",
                     "speed": f"{speed:.1f}", "true_speed": f"{true_speed:.1f}",
                     "ess": f"{runs.ess_after_seed.mean():.1f} of {int(runs.continuations.iloc[0])}",
                     "ess_filter": f"{runs.ess_filter.mean():.1f}"})
    return rows


def ordering(means):
    """'A > B > C' from {model: mean score}."""
    return " > ".join(NAMES[m] for m in sorted(means, key=means.get, reverse=True))


def rules_table(frame):
    """Table 1 summed over both flies under every rule, with each rule's ordering."""
    rules = {"defensive, chosen on validation (the verdicts)": ("defensive_fly1", "defensive_fly2"),
             "defensive, continuations from a particle filter over the seed": ("filter_fly1", "filter_fly2"),
             "shared bandwidth, chosen on validation": ("shared_fly1", "shared_fly2"),
             "Scott's rule, per model": ("kde_fly1", "kde_fly2")}
    rules.update({f"fixed {h} mm": (f"fixed_{h}_fly1", f"fixed_{h}_fly2") for h in FIXED_MM})
    rows, orders = [], {}
    for rule, (a, b) in rules.items():
        both = frame.assign(both=frame[a] + frame[b])
        means = both.groupby("method").both.mean().to_dict()
        orders[rule] = ordering(means)
        table = summarise(both, "method", ["both"]).set_index("method")
        rows.append({"rule": rule, **{m: fmt_col(table.loc[m], "both") for m in MODELS if m in table.index},
                     "order": orders[rule]})
    stable = len(set(orders.values())) == 1
    return rows, stable


def claims(frame, rule, half):
    """Table 1's claims under the defensive rule chosen on validation, each decided by the rule of verdicts.py,
    with its plateau check from the first seed's runs at half the steps (`half`: their rows, scored by the same
    rules; empty: no check)."""
    frame = frame.assign(shared_both=frame.defensive_fly1 + frame.defensive_fly2)
    half = half.assign(shared_both=half.defensive_fly1 + half.defensive_fly2) if len(half) else half
    score = lambda f, m, col: verdicts.by_seed(f, "method", m, col) if len(f) else {}  # noqa: E731
    judge = lambda a, b, col: verdicts.paired_plateau(NAMES[a], NAMES[b], score(frame, a, col), score(frame, b, col),  # noqa: E731
                                                      score(half, a, col), score(half, b, col))
    out = []
    for fly in (1, 2):
        col = f"defensive_fly{fly}"
        means = frame.groupby("method")[col].mean().to_dict()
        out.append(verdicts.claim(
            f"CWS+DVRNN gives the true position of fly {fly} the highest KDE density (Table 1)",
            f"CWS {PAPER['cws'][fly - 1]} (best)", f"order ({rule}): {ordering(means)}",
            [judge("cws", m, col) for m in MODELS[1:]],
            units=verdicts.RAW, why="orderings compare; raw values do not (other units and data)"))
    chain = [judge(a, b, "shared_both") for a, b in zip(MODELS, MODELS[1:])]
    out.append(verdicts.claim("Ranking: CWS+DVRNN, then RWS+DVRNN, then VRNN, then RNN (sec. 4.3)", PAPER_ORDER,
                              f"{ordering(frame.groupby('method').shared_both.mean().to_dict())} (sum over both flies)",
                              chain, units=verdicts.RAW, why="each neighbouring pair in the paper's order"))
    return out


def positive_control(frame, half):
    """Does this benchmark reward labels at all?  The oracle (every true label) against RWS (none), per fly,
    under the verdicts' rule with its plateau check (`half`: the runs at half the steps): a claim entry that
    is not one of the paper's."""
    score = lambda f, m, col: verdicts.by_seed(f, "method", m, col) if len(f) else {}  # noqa: E731
    comparisons = [verdicts.paired_plateau(NAMES["oracle"], NAMES["rws"], *(score(f, m, f"defensive_fly{fly}")
                                                                         for f in (frame, half) for m in ("oracle", "rws")))
                   for fly in (1, 2)]
    ours = "; ".join(f"fly {fly}: {c.text()}" for fly, c in zip((1, 2), comparisons))
    entry = verdicts.claim("Positive control (ours, issue 29): the DVRNN given every true label predicts both flies "
                           "better than RWS's, which has none", "(not in the paper)", ours, comparisons, units=verdicts.RAW,
                           why="if even every true label does not help, Table 1 cannot show the value of labels")
    entry["paper_claim"] = False
    return entry


def bound_rows(bounds, radius, horizon):
    """Rows beside Table 1: the scale's bounds under the chosen rules, and a uniform guess over the dish."""
    names = {"upper": "upper bound: the simulator's own continuations from its true state",
             "lower": "lower bound: constant-velocity random walk from the seed's last motion"}
    rows = [{"model": names[k], "fly1": f"{b['defensive_fly1']:.1f}", "fly2": f"{b['defensive_fly2']:.1f}",
             "shared1": f"{b['kde_fly1']:.1f}", "shared2": f"{b['kde_fly2']:.1f}"} for k, b in bounds.items()]
    uniform = f"{horizon * uniform_floor(radius).mean():.1f}"
    return rows + [{"model": "a uniform guess over the dish", "fly1": uniform, "fly2": uniform, "shared1": uniform,
                    "shared2": uniform}]


def majority(labels, classes):
    """(class name, share) of the most frequent class among annotated steps (labels >= 0); classes: the
    prepared data's class names."""
    counts = np.bincount(labels[labels >= 0].ravel(), minlength=len(classes))
    return str(classes[int(counts.argmax())]), float(counts.max() / max(counts.sum(), 1))


def uniform_floor(radius):
    """Per test window [W], the log density of a uniform guess over its dish (a lost continuation)."""
    return -np.log(np.pi * np.asarray(radius, np.float64) ** 2)


def variance_rows(frame, steps, floor):
    """Table 1's spread decomposed (stats.decompose) for each model and each paired comparison
    of CWS with a rival, per fly, under the verdicts' rule and, for the comparisons, the shared bandwidth.
    steps: the select stage's per-step scores {"<run>.<rule>": [W, H, 2]}; floor: uniform_floor [W]."""
    seeds = sorted(frame.seed.unique().tolist())
    folder = {(r.method, r.seed): Path(r.folder).name for _, r in frame.iterrows()}
    table = lambda m, rule, fly: np.stack([steps[f"{folder[m, s]}.{rule}"][..., fly] for s in seeds])  # noqa: E731
    rows = []
    for fly in (0, 1):
        for rule in ("defensive", "shared"):
            pairs = [(NAMES[m], table(m, rule, fly), floor[:, None]) for m in MODELS if rule == "defensive"]
            pairs += [(f"CWS+DVRNN - {NAMES[m]}", table("cws", rule, fly) - table(m, rule, fly), None) for m in MODELS[1:]]
            for name, values, gross in pairs:
                d = stats.decompose(values, gross)
                rows.append({"fly": fly + 1, "rule": "verdicts' (defensive)" if rule == "defensive" else "shared bandwidth",
                             "what": name, "sd": f"{d['entry_sd']:.1f}", "seed": f"{np.sqrt(d['seed']):.1f}",
                             "window": f"{np.sqrt(d['window']):.1f}", "cell": f"{np.sqrt(d['seed_x_window']):.1f}",
                             "seed_share": f"{100 * d['seed_share']:.0f}%", "cells": f"{100 * d['top_cells_share']:.0f}%",
                             "steps": f"{100 * d['top_steps_share']:.0f}%",
                             "gross": "" if gross is None else f"{100 * d['gross_fraction']:.1f}% / {100 * d['gross_share']:.0f}%",
                             "sd_value": d["entry_sd"], "key": (fly, rule, name)})
    return rows


def seed_rows(frame, steps, floor):
    """Per model and training seed: the verdicts' Table 1 entries and the fraction of test steps whose
    true position scores below a uniform guess over the dish (uniform_floor: the continuations have lost the fly)."""
    floor = floor[:, None, None]
    rows = []
    for _, r in frame.sort_values(["method", "seed"], key=lambda c: c.map(MODELS.index) if c.name == "method" else c).iterrows():
        values = steps[f"{Path(r.folder).name}.defensive"]
        rows.append({"model": NAMES[r.method], "seed": int(r.seed), "fly1": f"{r.defensive_fly1:.1f}",
                     "fly2": f"{r.defensive_fly2:.1f}", "lost": f"{100 * (values < floor).mean():.0f}%"})
    return rows


def narrowing(rows):
    """How much narrower the verdicts' rule makes CWS - RWS's seed spread than the shared bandwidth, per fly."""
    sd = {r["key"]: r["sd_value"] for r in rows}
    pair = f"CWS+DVRNN - {NAMES['rws']}"
    return {fly + 1: sd[fly, "shared", pair] / sd[fly, "defensive", pair] if sd[fly, "defensive", pair] > 0 else float("nan")
            for fly in (0, 1)}


def fig_seeds(frame, steps, models=("cws", "rws"), fly=0, samples=12):
    """Why training seeds differ: the test window where CWS - RWS's window total (fly 1, the verdicts'
    rule) varies most between seeds; one row per model, one column per seed, with the seed track,
    the true continuation and a few sampled continuations, titled by the window's total."""
    seeds = sorted(frame.seed.unique().tolist())
    folder = {(r.method, r.seed): r.folder for _, r in frame.iterrows()}
    total = lambda m, sd: steps[f"{Path(folder[m, sd]).name}.defensive"][..., fly].sum(1)  # noqa: E731
    diff = np.stack([total(models[0], sd) - total(models[1], sd) for sd in seeds])        # [S, W]
    window = int(diff.std(0).argmax())
    fig, axes = plt.subplots(len(models), len(seeds), figsize=(2.6 * len(seeds), 2.6 * len(models)), squeeze=False)
    for i, model in enumerate(models):
        for j, sd in enumerate(seeds):
            d, ax = read_arrays(EXPERIMENT, folder[model, sd]), axes[i, j]
            r = float(d["radius"][window])
            ax.add_patch(plt.Circle((0, 0), r, fill=False, color="0.6"))
            for k in range(min(samples, d["positions"].shape[1])):
                track = d["positions"][window, k, :, fly]
                ax.plot(track[:, 0], track[:, 1], color=METHODS[model].colour, linewidth=0.5, alpha=0.6)
            seed_track, truth = d["seed_track"][window, :, fly], d["truth"][window, :, fly]
            ax.plot(seed_track[:, 0], seed_track[:, 1], color="black", linewidth=1.0)
            ax.plot(truth[:, 0], truth[:, 1], color="red", linewidth=1.2)
            ax.set_title(f"{NAMES[model]}, seed {sd}: {total(model, sd)[window]:.0f}", fontsize=7)
            ax.set_xlim(-r * 1.05, r * 1.05)
            ax.set_ylim(-r * 1.05, r * 1.05)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
    return fig, window


def fig5b(folders, n_windows=4):
    """Rows: seed windows; columns: the true continuation, then one sample of each model.
    folders: {model: run folder} of one training seed."""
    data = {m: read_arrays(EXPERIMENT, f) for m, f in folders.items()}
    first = data[MODELS[0]]
    n = min(n_windows, len(first["truth"]))
    cols = ["true"] + list(MODELS)
    fig, axes = plt.subplots(n, len(cols), figsize=(2.2 * len(cols), 2.2 * n), squeeze=False)
    for j, col in enumerate(cols):
        d = first if col == "true" else data[col]
        for i in range(n):
            ax = axes[i, j]
            r = float(d["radius"][i])
            ax.add_patch(plt.Circle((0, 0), r, fill=False, color="0.6"))
            track = d["truth"][i] if col == "true" else d["positions"][i, 0]
            for fly, (seed_c, cont_c, end_c) in enumerate((("black", "purple", "red"), ("0.5", "orange", "blue"))):
                s = d["seed_track"][i, :, fly]
                ax.plot(s[:, 0], s[:, 1], color=seed_c, linewidth=0.8)
                ax.plot(track[:, fly, 0], track[:, fly, 1], color=cont_c, linewidth=0.8)
                ax.plot(track[-1, fly, 0], track[-1, fly, 1], "x", color=end_c, markersize=5)
            ax.set_xlim(-r * 1.05, r * 1.05)
            ax.set_ylim(-r * 1.05, r * 1.05)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title("true continuation" if col == "true" else NAMES[col], fontsize=8)
    return fig


def fig6(folders, bandwidth, window=0):
    """KDE (at the shared bandwidth) of each fly's sampled position at three steps, per model, true
    position marked.  folders: {model: run folder} of one training seed."""
    data = {m: read_arrays(EXPERIMENT, f) for m, f in folders.items()}
    H = data[MODELS[0]]["positions"].shape[2]
    steps = sorted({max(0, H // 10 - 1), H // 2 - 1, H - 1})
    r = float(data[MODELS[0]]["radius"][window])
    grid = np.linspace(-r, r, 90)
    gx, gy = np.meshgrid(grid, grid)
    points = np.stack([gx, gy], -1)
    fig, axes = plt.subplots(len(steps), 2 * len(MODELS), figsize=(2.0 * 2 * len(MODELS), 2.0 * len(steps)), squeeze=False)
    for j, model in enumerate(MODELS):
        for fly in range(2):
            for i, t in enumerate(steps):
                ax = axes[i, 2 * j + fly]
                samples = data[model]["positions"][window, :, t, fly].astype(np.float64)
                h = np.array([bandwidth, bandwidth])
                z = (points[..., None, :] - samples) / h
                dens = np.exp(-0.5 * (z ** 2).sum(-1)).sum(-1) / (len(samples) * 2 * np.pi * h.prod())
                ax.imshow(dens, origin="lower", extent=(-r, r, -r, r), cmap="viridis")
                ax.add_patch(plt.Circle((0, 0), r, fill=False, color="white", linewidth=0.5))
                true = data[model]["truth"][window, t, fly]
                ax.plot(true[0], true[1], "x", color="red", markersize=6)
                ax.set_xticks([])
                ax.set_yticks([])
                if i == 0:
                    ax.set_title(f"{NAMES[model]}\nfly {fly + 1}", fontsize=7)
                if j == 0 and fly == 0:
                    ax.set_ylabel(f"step {t + 1}", fontsize=8)
    return fig


def half_runs(shared, plateau):
    """Rows (method, seed, defensive_fly1/2) of the plateau check's runs, scored by the chosen rules."""
    rows = [{**read_trained([f]).iloc[0].to_dict(), **shared["half"][str(f)]} for f in plateau]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=["method", "seed", "defensive_fly1", "defensive_fly2"])


def build(params, run_dirs, bandwidth_json, steps_npz, data_path, out, plateau=()):
    """The page, its figures and its summary JSON (out: pages.Outputs) from the run folders and the plateau
    check's (`plateau`: the first seed at half the steps, scored by select_bandwidth_flies); params: the
    stage's Settings."""
    cfg = params["flies"]
    frame, _ = read_runs(EXPERIMENT, run_dirs)
    shared = read_json(bandwidth_json)
    half = half_runs(shared, plateau)
    for fly in ("fly1", "fly2"):
        frame[f"shared_{fly}"] = [shared["runs"][f][f"kde_{fly}"] for f in frame.folder]
        frame[f"defensive_{fly}"] = [shared["runs"][f][f"defensive_{fly}"] for f in frame.folder]
        frame[f"filter_{fly}"] = [shared["runs"][f][f"filter_{fly}"] for f in frame.folder]
    with np.load(steps_npz) as f:
        steps = dict(f)
    for h in FIXED_MM:
        for fly in ("fly1", "fly2"):
            frame[f"fixed_{h}_{fly}"] = [k[str(h)][fly] for k in frame.kde_fixed]
    everything, frame = frame, frame[frame.method.isin(MODELS)]
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        fps, simulated = float(data["fps"]), "train_true_labels" in data
        top_class, top_share = majority(data["test_labels"], data["classes"])
    summary = summarise(everything, "method", ["defensive_fly1", "defensive_fly2", "shared_fly1", "shared_fly2"])
    table = [{"model": NAMES[r.method], "n": r.n, "fly1": fmt_col(r, "defensive_fly1"), "fly2": fmt_col(r, "defensive_fly2"),
              "shared1": fmt_col(r, "shared_fly1"), "shared2": fmt_col(r, "shared_fly2"),
              "paper1": PAPER.get(r.method, ("",))[0], "paper2": PAPER.get(r.method, ("", ""))[1]}
             for _, r in summary.iterrows()]
    rules, stable = rules_table(frame)
    cws = frame[frame.method == "cws"]
    accuracy = {k: summarise(cws, "method", [k], bounds=ACCURACY).iloc[0]
                for k in ("test_annotated_top1", "test_all_frames_top1") if k in cws}
    accuracy = {k: fmt_col(v, k, 100) for k, v in accuracy.items()}
    rule = f"defensive, {shared['defensive_bandwidth_mm']:g} mm, eps {shared['defensive_eps']:g}"
    found = claims(frame, rule, half[half.method.isin(MODELS)] if len(half) else half)
    control = positive_control(everything, half) if simulated and "oracle" in set(everything.method) else None
    if control:
        found = [*verdicts.unless_testable(found, control), control]
    radius = read_arrays(EXPERIMENT, frame.folder.iloc[0])["radius"]
    bounds = bound_rows(shared.get("bounds", {}), radius, int(frame.horizon.iloc[0]))
    floor = uniform_floor(radius)
    spread = variance_rows(frame, steps, floor)
    narrower = narrowing(spread)
    per_seed = seed_rows(frame, steps, floor)
    first = {r.method: r.folder for _, r in frame[frame.seed == seeds[0]].iterrows()}
    names = [Path(out.figures) / name for name in EXPERIMENT.figures]
    tracks = embed(fig5b(first), names[0])
    kdes = embed(fig6(first, shared["bandwidth_mm"]), names[1])
    fig, seed_window = fig_seeds(frame, steps)
    seeds_fig = embed(fig, names[2])
    write_json(out.summary, {"table1": {r.method: {"fly1": r.defensive_fly1, "fly2": r.defensive_fly2}
                                         for _, r in summary.iterrows()},
                              "table1_shared_bandwidth": {r.method: {"fly1": r.shared_fly1, "fly2": r.shared_fly2}
                                                          for _, r in summary.iterrows()},
                              "bandwidth_mm": shared["bandwidth_mm"], "defensive_bandwidth_mm": shared["defensive_bandwidth_mm"],
                              "defensive_eps": shared["defensive_eps"], "ordering_stable": stable,
                              "cws_minus_rws_sd_narrowing": {f"fly{k}": v for k, v in narrower.items()},
                              "bounds": shared.get("bounds", {}), "majority_class": {"class": top_class, "share": top_share},
                              "claims": found, "runs": list(map(str, run_dirs)), "plateau": list(map(str, plateau))})
    row = frame.iloc[0]
    render("flies.html.j2", out.html, title="Fly-vs-Fly: continuations scored by KDE (paper Table 1, Fig. 5b, 6)",
           table=table, rules=rules, stable=stable, models=[NAMES[m] for m in MODELS], model_keys=MODELS,
           bandwidth=shared["bandwidth_mm"], grid=shared["valid_total_by_bandwidth"], rule=verdicts.RULE,
           defensive_bandwidth=shared["defensive_bandwidth_mm"], eps=shared["defensive_eps"],
           epsilons=next(iter(shared["valid_defensive_totals"].values())).keys(), spread=spread, narrower=narrower, per_seed=per_seed,
           fig_seeds=seeds_fig, seed_window=seed_window,
           diagnostics=diagnostics(frame, fps), claims=found, accuracy=accuracy, fig_tracks=tracks,
           bounds=bounds, control=control, simulated=simulated, majority=(top_class, f"{100 * top_share:.1f}"),
           steps_budget=cfg["steps"],
           fig_kde=kdes, cfg=cfg, windows=int(row.windows), valid_windows=int(row.valid_windows),
           horizon=int(row.horizon), continuations=int(row.continuations), profile=profile_of(params, ["flies"]), seeds=seeds)
    return found

"""The page of a researcher's own sequences: validation accuracy and confusion, continuations of seed
segments, samples conditioned on a label sequence, and the verdicts on "CWS beats the baseline" and
"CWS beats SSWS" by the rule of verdicts.py.  Reads the run and score files it is given; loads no model."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from pipeline.declarations.sequences import EXPERIMENT, METHODS
from pipeline.io import write_json
from pipeline.report import figures, verdicts
from pipeline.report.pages import embed, render
from pipeline.report.tables import ACCURACY, fmt_col, summarise
from pipeline.run_folder import curves_by, read_arrays, read_runs
from pipeline.sized import profile_of

MODELS = tuple(METHODS)
LABELLED = tuple(m for m, v in METHODS.items() if v.uses_labels)
LABELS = {k: m.label for k, m in METHODS.items()}
ACCURACIES = ("val_top1", "val_topk", "cluster_accuracy")
NOT_PAPER = "not a paper claim: the paper's rule applied to your data"


def _pct(row, col="val_top1"):
    return fmt_col(row, col, 100) + "%"


def claims(frame, curves, table):
    """CWS against the baseline and against SSWS on validation top-1, runs paired by seed, with the
    rule's convergence condition; marked as claims of our own (the index does not count them)."""
    by = table.set_index("method")
    top = lambda m: verdicts.by_seed(frame, "method", m, "val_top1")  # noqa: E731
    out = []
    for rival, text in (("baseline", "CWS beats IWAE + a classifier of x alone trained on the labelled data only"),
                        ("ssws", "CWS beats SSWS as written (eq. 14)")):
        if not {"cws", rival} <= set(frame.method):
            continue
        shown = curves_by(frame[frame.method.isin(["cws", rival])], curves, "method")
        comparison = verdicts.paired_trained("CWS", LABELS[rival], top("cws"), top(rival), shown.get("cws", []),
                                             shown.get(rival, []), "val_top1")
        entry = verdicts.claim(f"{text}: per-step top-1 on the validation sequences", NOT_PAPER,
                               f"CWS {_pct(by.loc['cws'])}, {LABELS[rival]} {_pct(by.loc[rival])}", [comparison],
                               note=verdicts.still_rising(shown, "val_top1", LABELS))
        entry["paper_claim"] = False
        out.append(entry)
    return out


def destandardise(x, data):
    return x * data["std"] + data["mean"]


def fig_curves(frame, curves):
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    labelled = frame[frame.method.isin(LABELLED)]
    figures.curves_with_bands(curves_by(labelled, curves, "method"), METHODS, y="val_top1",
                              ylabel="validation top-1", title="accuracy of q(y | x) per epoch", ax=axes[0])
    figures.curves_with_bands(curves_by(frame, curves, "method"), METHODS, y="val_bound_per_step",
                              ylabel="validation IWAE bound per step (nats)", title="fit of p(x) per epoch",
                              ax=axes[1], bounds=None)
    return fig


def confusions(frame):
    """{method: confusion counts [true, predicted] summed over seeds}."""
    return {m: sum(read_arrays(EXPERIMENT, f)["confusion"] for f in frame[frame.method == m].folder)
            for m in MODELS if m in set(frame.method)}


def fig_confusion(counts, classes):
    fig, axes = plt.subplots(1, len(counts), figsize=(3.4 * len(counts), 3.4), squeeze=False)
    ticks = np.arange(len(classes))
    for ax, (method, c) in zip(axes[0], counts.items()):
        rates = c / np.maximum(c.sum(1, keepdims=True), 1)
        ax.imshow(rates, vmin=0, vmax=1, cmap="Blues")
        ax.set_title(LABELS[method] + ("\n(unnamed clusters)" if method not in LABELLED else ""), fontsize=8)
        ax.set_xlabel("predicted", fontsize=8)
        ax.set_ylabel("true", fontsize=8)
        if len(classes) <= 12:
            ax.set_xticks(ticks, classes, rotation=90, fontsize=6)
            ax.set_yticks(ticks, classes, fontsize=6)
        else:
            ax.set_xticks([])
            ax.set_yticks([])
    return fig


def fig_continuations(first, data, n_windows=3, samples=10):
    """Rows: validation windows; columns: methods (first seed).  Feature 0 over time: the seed segment
    (black), the true continuation (red) and a few sampled continuations (the method's colour)."""
    arrays = {m: read_arrays(EXPERIMENT, f) for m, f in first.items()}
    any_run = next(iter(arrays.values()))
    n = min(n_windows, len(any_run["truth"]))
    fig, axes = plt.subplots(n, len(arrays), figsize=(3.2 * len(arrays), 2.2 * n), squeeze=False, sharey="row")
    feature = str(data["features"][0])
    for j, (method, d) in enumerate(arrays.items()):
        T0, H = d["seed_x"].shape[1], d["truth"].shape[1]
        for i in range(n):
            ax = axes[i, j]
            seed = destandardise(d["seed_x"][i], data)[:, 0]
            truth = destandardise(d["truth"][i], data)[:, 0]
            for k in range(min(samples, d["samples"].shape[1])):
                ax.plot(np.arange(T0, T0 + H), destandardise(d["samples"][i, k], data)[:, 0],
                        color=METHODS[method].colour, linewidth=0.6, alpha=0.5)
            ax.plot(np.arange(T0), seed, color="black", linewidth=1.0)
            ax.plot(np.arange(T0, T0 + H), truth, color="red", linewidth=1.2)
            ax.axvline(T0 - 0.5, color="0.6", linewidth=0.5)
            if i == 0:
                ax.set_title(LABELS[method], fontsize=8)
            if j == 0:
                ax.set_ylabel(f"window {i}: {feature}", fontsize=7)
            ax.tick_params(labelsize=6)
    return fig


def fig_conditioned(first, data, classes):
    """Per labelled method (first seed): the samples conditioned on a validation window's label
    sequence (feature 0), beside the window itself; the label sequence as a band of colours above."""
    shown = {m: read_arrays(EXPERIMENT, f) for m, f in first.items() if m in LABELLED}
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 1.9 * len(shown) + 0.4), squeeze=False, sharex=True)
    feature = str(data["features"][0])
    for ax, (method, d) in zip(axes[:, 0], shown.items()):
        labels, T = d["generation_labels"], len(d["generation_labels"])
        for g in d["generated"]:
            ax.plot(destandardise(g, data)[:, 0], color=METHODS[method].colour, linewidth=0.7, alpha=0.7)
        ax.plot(destandardise(d["generation_truth"], data)[:, 0], color="black", linewidth=1.0)
        low, high = ax.get_ylim()
        band = np.where(d["generation_given"] >= 0, labels, np.nan)[None]
        ax.imshow(band, aspect="auto", cmap="tab20", vmin=0, vmax=max(len(classes) - 1, 1), alpha=0.35,
                  extent=(-0.5, T - 0.5, high, high + 0.12 * (high - low)), interpolation="nearest")
        ax.set_ylim(low, high + 0.12 * (high - low))
        ax.set_ylabel(feature, fontsize=7)
        ax.set_title(f"{LABELS[method]}: {len(d['generated'])} samples given the labels (colour), "
                     f"the validation window they come from (black)", fontsize=8, loc="left")
        ax.tick_params(labelsize=6)
    axes[-1, 0].set_xlabel("step")
    return fig


def build(params, run_dirs, data_path, out):
    """The page, its figures and its summary JSON (out: pages.Outputs) from the run folders; params: the
    stage's Settings."""
    cfg = params["sequences"]
    frame, curves = read_runs(EXPERIMENT, run_dirs)
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as f:
        data = dict(f)
    classes = [str(c) for c in data["classes"]]
    table = summarise(frame, "method", list(ACCURACIES), bounds=ACCURACY)
    fits = summarise(frame, "method", ["val_bound_per_step", "continuation_rmse", "continuation_coverage",
                                       "ess_after_seed"])
    k = int(frame.topk.iloc[0])
    accuracy = [{"model": LABELS[r.method], "n": r.n, "top1": fmt_col(r, "val_top1", 100) if r.method in LABELLED else "",
                 "topk": fmt_col(r, "val_topk", 100) if r.method in LABELLED else "",
                 "cluster": fmt_col(r, "cluster_accuracy", 100)} for _, r in table.iterrows()]
    fit_rows = [{"model": LABELS[r.method], "bound": fmt_col(r, "val_bound_per_step", 1, 2),
                 "rmse": fmt_col(r, "continuation_rmse", 1, 3), "coverage": fmt_col(r, "continuation_coverage", 100),
                 "ess": fmt_col(r, "ess_after_seed")} for _, r in fits.iterrows()]
    per_seed = [{"model": LABELS[r.method], "seed": int(r.seed), "top1": f"{100 * r.val_top1:.1f}",
                 "cluster": f"{100 * r.cluster_accuracy:.1f}", "rmse": f"{r.continuation_rmse:.3f}",
                 "windows": int(r.train_windows), "labelled": int(r.labelled_steps)}
                for _, r in frame.sort_values(["method", "seed"], key=lambda c: c.map(MODELS.index)
                                              if c.name == "method" else c).iterrows()]
    found = claims(frame, curves, table)
    names = [Path(out.figures) / name for name in EXPERIMENT.figures]
    first = {r.method: r.folder for _, r in frame[frame.seed == seeds[0]].iterrows()}
    fig_curve = embed(fig_curves(frame, curves), names[0])
    fig_conf = embed(fig_confusion(confusions(frame), classes), names[1])
    fig_cont = embed(fig_continuations(first, data), names[2])
    fig_cond = embed(fig_conditioned(first, data, classes), names[3])
    row = frame.iloc[0]
    setup = {"source": str(data["source"]), "format": str(data["format"]), "features": [str(f) for f in data["features"]],
             "classes": classes, "train_sequences": len(data["train_ids"]), "valid_sequences": len(data["valid_ids"]),
             "train_windows": len(data["x_train"]), "valid_windows": len(data["x_valid"]),
             "window": int(data["x_train"].shape[1]), "train_steps": int(data["train_steps"]),
             "valid_steps": int(data["valid_steps"]), "labelled_given": int(data["labelled_given"]),
             "labelled_kept": int(data["labelled_kept"]), "labelled_valid": int(row.labelled_valid_steps),
             "full_sequences": int(data["full_sequences"]), "baseline_windows": int(data["window_full_train"].sum())
             if data["window_full_train"].any() else int((data["labels_train"] >= 0).any(1).sum()),
             "supervision": cfg["supervision"], "label_column": str(data["label_column"]),
             "class_counts_train": [int(c) for c in data["class_counts_train"]],
             "class_counts_valid": [int(c) for c in data["class_counts_valid"]]}
    write_json(out.summary, {
        "accuracy": {r.method: {c: r[c] for c in ACCURACIES} for _, r in table.iterrows()},
        "continuations": {r.method: {c: r[c] for c in ("continuation_rmse", "continuation_coverage")}
                          for _, r in fits.iterrows()},
        "persistence_rmse": float(frame.persistence_rmse.mean()), "topk": k,
        "data": {key: v for key, v in setup.items() if not key.startswith("class_counts")},
        "claims": found, "runs": list(map(str, run_dirs))})
    render("sequences.html.j2", out.html, title=f"Your sequences: {Path(setup['source']).name}", claims=found,
           rule=verdicts.RULE, not_paper=NOT_PAPER, setup=setup, accuracy=accuracy, fits=fit_rows, per_seed=per_seed,
           k=k, persistence=f"{frame.persistence_rmse.mean():.3f}", fig_curves=fig_curve, fig_confusion=fig_conf,
           fig_continuations=fig_cont, fig_conditioned=fig_cond, cfg=cfg, windows=int(row.windows),
           horizon=int(row.horizon), seed_steps=int(row.seed_steps), continuations=int(row.continuations),
           generation_window=int(row.generation_window), profile=profile_of(params, ["sequences"]), seeds=seeds)
    return found

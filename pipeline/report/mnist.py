"""The MNIST report page: Fig. 2a curves, Fig. 2b/c reconstructions, accuracy table, verdict.
Reads the run and score files of the runs it is given; loads no model."""
import functools
from pathlib import Path

import numpy as np

from pipeline import methods
from pipeline.declarations.mnist import EXPERIMENT, METHODS, POOL_SEEDS
from pipeline.io import write_json
from pipeline.report import figures, verdicts
from pipeline.report.pages import embed, render
from pipeline.report.tables import ACCURACY, fmt_col, summarise
from pipeline.run_folder import curves_by, read_arrays, read_runs, read_trained
from pipeline.sized import profile_of

COLUMNS = ["val_accuracy", "val_accuracy_best", "val_accuracy_mean_over_epochs", "val_cluster_accuracy",
           "posterior_accuracy"]
LABELS = {k: m.label for k, m in METHODS.items()}


INTERVAL = ("Intervals of final accuracies also carry the validation digits' sampling noise: every seed is scored on the "
            "same validation digits, so the per-seed differences share the digits' draw, which the t-interval over "
            "seeds does not see.  Per seed and digit, d = winner - rival correctness (1/0); the interval is "
            "mean +- t(S - 1) * sqrt(sd(d per seed)^2 / S + V_digit / N), V_digit the digits' variance component "
            "(two-way ANOVA over seeds x digits; pipeline/stats.py seed_and_digit_interval).  Mean accuracies over "
            "epochs keep the t-interval over seeds (no per-digit scores for them).")


def final(frame, arrays, curves, winner, rival, labels=None, half=None):
    """paired_items on final accuracy (per-digit correctness from the score stage, `arrays`: {folder:
    correct}) with the rule's convergence condition: the Comparison of `winner` beats `rival` (methods).
    half: the plateau check's runs (a frame of metrics at half the steps): with both methods there, the
    plateau check (verdicts.unless_moved on the first seed's final accuracies); else the slope condition."""
    labels = labels or LABELS
    correct = lambda m: {int(r.seed): arrays[r.folder] for _, r in frame[frame.method == m].iterrows()}  # noqa: E731
    c = verdicts.paired_items(labels[winner], labels[rival], correct(winner), correct(rival))
    if half is not None and {winner, rival} <= set(half.method):
        at_half = {m: half[half.method == m].iloc[0] for m in (winner, rival)}
        seed = int(at_half[winner].seed)
        full = {m: verdicts.by_seed(frame, "method", m, "val_accuracy").get(seed, np.nan) for m in (winner, rival)}
        return verdicts.unless_moved(c, full[winner] - full[rival],
                                     float(at_half[winner].val_accuracy - at_half[rival].val_accuracy))
    by_method = curves_by(frame, curves, "method")
    return verdicts.unless_closing(c, verdicts.gain_per_epoch(by_method[winner], "val_accuracy"),
                                   verdicts.gain_per_epoch(by_method[rival], "val_accuracy"))


def claims(frame, curves, arrays, half=None):
    """The paper's MNIST claims and the sensitivity rows, each decided by the rule of verdicts.py
    (final accuracies by paired_items: digits' noise included), with a note where the compared runs had
    not finished learning.  arrays: {folder: per-digit correctness}; half: the plateau check's runs."""
    acc = lambda m, col="val_accuracy": verdicts.by_seed(frame, "method", m, col)  # noqa: E731
    final_ = functools.partial(final, half=half)
    present = set(frame.method)
    rivals = [m for m in ("m1m2", "rws", "m1") if m in present]
    out = []
    by_method = curves_by(frame, curves, "method")
    for col, what in (("val_accuracy", "highest final validation accuracy"),
                      ("val_accuracy_mean_over_epochs", "highest mean validation accuracy over epochs (faster)")):
        if col == "val_accuracy":           # a final accuracy needs converged runs; the mean over epochs is the speed
            comparisons = [final_(frame, arrays, curves, "cws", m) for m in rivals]
        else:
            comparisons = [verdicts.paired("CWS", LABELS[m], acc("cws", col), acc(m, col)) for m in rivals]
        ours = "; ".join(f"{LABELS[m]} {100 * np.mean(list(acc(m, col).values())):.1f}%" for m in ["cws", *rivals])
        shown = {m: by_method[m] for m in ("cws", "m1m2") if m in by_method}
        out.append(verdicts.claim(f"CWS trains to the {what} (Fig. 2a)", "curves only, no number given", ours,
                                  comparisons, why="against M1+M2 at the paper's alpha = 60 and both unsupervised "
                                                   "objectives", note=verdicts.still_rising(shown, "val_accuracy", LABELS)))
    if "m1m2_alpha1" in present:
        c = final_(frame, arrays, curves, "cws", "m1m2_alpha1")
        gap = final_(frame, arrays, curves, "m1m2", "m1m2_alpha1", {**LABELS, "m1m2": "M1+M2 alpha = 60",
                                                                   "m1m2_alpha1": "alpha = 1"})
        entry = verdicts.claim(
            "Sensitivity (not a paper claim): CWS against M1+M2 with the same supervised weight, alpha = 1",
            "CWS's supervised weight is exactly 1 at T = 1", f"final accuracy {LABELS['m1m2_alpha1']} "
            f"{100 * np.mean(list(acc('m1m2_alpha1').values())):.1f}%", [c],
            why=f"M1+M2 alpha 60 minus alpha 1: {gap.text(100, ' points')}, so the weight "
                f"{'matters' if gap.verdict != 'inconclusive' else 'makes no clear difference'}")
        entry["paper_claim"] = False
        out.append(entry)
    if {"cws_enumerated", "m1m2"} <= present:
        out.append(source_of_gap(acc, lambda w, r: final_(frame, arrays, curves, w, r), "cws_k50" in present))
    if {"cws_phi_enumerated", "cws_theta_enumerated"} <= present:
        out.append(halves(acc, lambda w, r: final_(frame, arrays, curves, w, r)))
    out.append({"claim": "CWS conditionally generates as well as prior art: z fixed, y varied (Fig. 2b, 2c)",
                "paper": "images", "ours": "see Fig. 2b, 2c", "verdict": "not comparable", "difference": "",
                "why": "a visual judgement"})
    return out


def source_of_gap(acc, compare, many):
    """Sensitivity (not a paper claim): does CWS trail M1+M2 because it samples y, or because of its
    objective?  CWS with y enumerated keeps CWS's objective and removes the sampling (M1+M2 also
    enumerates); CWS with K = 50 (when `many`, mnist.cws_k50) samples more.  Each difference is
    decided by the rule; compare(winner, rival): their Comparison."""
    sampling = compare("cws_enumerated", "cws")
    particles = [compare("cws_k50", "cws")] if many else []
    objective = compare("m1m2", "cws_enumerated")
    total = compare("m1m2", "cws")
    effect = {"reproduced": "sampling y costs CWS accuracy (with y enumerated it does better)",
              "contradicted": "sampling y helps CWS (with y enumerated, the exact target, it does worse: the sampled "
                              "update's self-training on q's own guesses is worth more than the exact posterior of p)",
              "inconclusive": "enumerating y makes no clear difference"}[sampling.verdict]
    cause = {"reproduced": "M1+M2 beats CWS's objective even with y enumerated: the gap comes from the objective",
             "contradicted": "CWS's objective with y enumerated beats M1+M2",
             "inconclusive": "M1+M2 and CWS with y enumerated are not clearly apart"}[objective.verdict]
    reading = f"{effect}; {cause}"
    entry = verdicts.claim(
        f"Sensitivity (not a paper claim): CWS does better with y enumerated{', or with K = 50,' if many else ''} than "
        f"with y sampled from K = 10 particles (is the gap to M1+M2 the sampling?)",
        "the paper does not separate them",
        "; ".join(f"{LABELS[m]} {100 * np.mean(list(acc(m).values())):.1f}%"
                  for m in ("cws", "cws_enumerated", *(["cws_k50"] if many else []), "m1m2")),
        [sampling, *particles], why=f"M1+M2 - CWS {total.text(100, ' points')}; M1+M2 - CWS enumerated "
                                   f"{objective.text(100, ' points')}: {reading}")
    entry["paper_claim"] = False
    return entry


def halves(acc, compare):
    """Sensitivity (not a paper claim): the y-enumerated row changes two things; which one moves CWS?
    phi enumerated: wake-phi's target exact, theta's IWAE bound with y sampled as in CWS; theta
    enumerated: theta's bound exact in y, wake-phi with y sampled as in CWS.  Each against CWS by the rule."""
    phi, theta = compare("cws_phi_enumerated", "cws"), compare("cws_theta_enumerated", "cws")
    read = {"reproduced": "helps CWS", "contradicted": "hurts CWS", "inconclusive": "makes no clear difference"}
    entry = verdicts.claim(
        "Sensitivity (not a paper claim): each half of enumerating y, alone, changes CWS's accuracy",
        "the paper does not separate them",
        "; ".join(f"{LABELS[m]} {100 * np.mean(list(acc(m).values())):.1f}%"
                  for m in ("cws", "cws_phi_enumerated", "cws_theta_enumerated", "cws_enumerated") if acc(m)),
        [phi, theta], why=f"an exact target for phi alone {read[phi.verdict]} ({phi.text(100, ' points')}); an exact "
                          f"bound for theta alone {read[theta.verdict]} ({theta.text(100, ' points')})")
    entry["paper_claim"] = False
    return entry


def pool_row(frame, arrays, curves, main):
    """Sensitivity (not a paper claim): CWS - M1+M2 at each unlabelled pool (the pool runs, same labels
    and steps, first seeds) and at the full training set (`main`, the same seeds).  A pool run's curve
    has an epoch per pool // batch_size steps; its every k-th epoch (k = its epochs / the full runs')
    puts the convergence slope on the full runs' scale."""
    seeds = sorted(frame.seed.unique().tolist())
    full = main[main.seed.isin(seeds)]
    epochs = int(full.epochs.iloc[0])
    sizes = {**{int(p): frame[frame["pool"] == p] for p in sorted(frame["pool"].unique())},
             int(full.train_digits.iloc[0]): full}
    comparisons, shown = [], []
    for size, runs in sizes.items():
        k = max(1, int(runs.epochs.iloc[0]) // epochs)
        thinned = {f: c[c.epoch % k == 0] for f, c in curves.items() if f in set(runs.folder)}
        c = final(runs, arrays, thinned, "cws", "m1m2")
        c.rival += f" ({size} digits)"
        comparisons.append(c)
        shown.append(f"{size}: {c.text(100, ' points')}")
    entry = verdicts.claim(
        "Sensitivity (not a paper claim): CWS beats M1+M2 whatever the unlabelled pool (same 100 labels, same "
        "number of steps)", "the paper trains on 50,000 digits",
        "CWS - M1+M2 by training digits: " + "; ".join(shown), comparisons,
        why=f"seeds {', '.join(map(str, seeds))} only (the pool runs'); which way the gap moves with the pool "
            f"says which way it would go toward the paper's 50,000")
    entry["paper_claim"] = False
    return entry


def weights_figure(by_method, K):
    """Per epoch, the effective sample size of each sampling CWS run's weights on unlabelled
    validation digits, as a fraction of its K, and the fraction of digits whose K samples of y are
    one class (wake-phi is then self-training)."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    sampling = {m: by_method[m] for m in ("cws", "cws_k50") if m in by_method}
    scaled = {m: [f.assign(ess_fraction=f.val_ess / (METHODS[m].particles or K)) for f in frames]
              for m, frames in sampling.items()}
    figures.curves_with_bands(scaled, METHODS, y="ess_fraction", ylabel="ESS / K", ax=axes[0],
                              title="effective sample size, unlabelled digits", bounds=(0, 1))
    figures.curves_with_bands(sampling, METHODS, y="val_one_class", ylabel="fraction of digits", ax=axes[1],
                              title="all K samples of y are one class", bounds=(0, 1))
    fig.tight_layout()
    return fig


def build(params, run_dirs, data_path, out, plateau=()):
    """The page, its figures and its summary JSON (out: pages.Outputs) from the run folders; params: the
    stage's Settings."""
    cfg = params["mnist"]
    every, curves = read_runs(EXPERIMENT, run_dirs)
    arrays = {f: read_arrays(EXPERIMENT, f)["correct"] for f in every.folder}
    pooled = every["pool"].notna() if "pool" in every else np.zeros(len(every), bool)
    frame, pool_frame = every[~pooled], every[pooled]
    summary = summarise(frame, "method", COLUMNS, bounds=ACCURACY)
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        n_train, n_valid = len(data["y_train"]), len(data["y_valid"])
    grids = []
    for letter, name, method in zip("bc", EXPERIMENT.figures[1:3], ("cws", "m1m2")):
        first = frame[(frame.method == method) & (frame.seed == seeds[0])]
        if len(first):
            rows = read_arrays(EXPERIMENT, first.folder.iloc[0])["grid"]
            titles = ["input", "(y,z) inferred", "true y"] + [f"y={c}" for c in range(rows.shape[1] - 3)]
            fig = figures.image_grid(rows, titles, title=LABELS[method])
            grids.append({"letter": letter, "label": LABELS[method], "seed": seeds[0],
                          "src": embed(fig, Path(out.figures) / name)})
    fig_curves = embed(figures.curves_with_bands(curves_by(frame, curves, "method"), METHODS,
                                                 title="MNIST, validation accuracy of q(y|x)"),
                       Path(out.figures) / EXPERIMENT.figures[0])
    by_method = curves_by(frame, curves, "method")
    fig_weights = (embed(weights_figure(by_method, cfg["particles"]), Path(out.figures) / EXPERIMENT.figures[3])
                   if by_method.get("cws") and all("val_ess" in f for f in by_method["cws"]) else None)
    ess = {m: np.mean([f.val_ess.iloc[-1] for f in by_method[m]]) for m in ("cws", "cws_k50") if fig_weights and m in by_method}
    table = [{"label": LABELS.get(r.method, r.method), "n": r.n,
              **{name: fmt_col(r, c, 100) for name, c in
                 zip(("final", "best", "speed", "cluster", "posterior"), COLUMNS)}} for _, r in summary.iterrows()]
    found = claims(frame, curves, arrays, read_trained(plateau))
    if len(pool_frame):
        found.insert(-1, pool_row(pool_frame, arrays, curves, frame))
    for entry in found:             # MNIST's runs follow mnist.seeds where the profile sets them
        if cfg["seeds"]:
            entry["why"] = entry["why"].replace("set `seeds` in params.yaml", "set `mnist.seeds` in params.yaml")
    write_json(out.summary, {"claims": found, "runs": list(map(str, run_dirs)), "plateau": list(map(str, plateau)), **{
        r.method: {c: {"mean": r[c], "low": r[c + "_low"], "high": r[c + "_high"]} for c in COLUMNS}
        for _, r in summary.iterrows()}})
    render("mnist.html.j2", out.html, title="MNIST: semi-supervised M2 (paper Fig. 2)", claims=found,
           rule=verdicts.RULE + " " + INTERVAL,
           table=table, fig_curves=fig_curves, grids=grids, labels=cfg["labels"], fig_weights=fig_weights,
           ess=ess, particles=cfg["particles"], many=methods.MANY_PARTICLES,
           alpha=cfg["alpha"], source=cfg["source"], n_train=n_train, n_valid=n_valid, pool_sizes=cfg["pool_sizes"],
           pool_seeds=POOL_SEEDS, lr=cfg["lr"], lr_decay=cfg["lr_decay"],
           profile=profile_of(params, ["mnist"]), seeds=seeds)
    return found

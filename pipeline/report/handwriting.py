"""The handwriting report page: Fig. 3 (left, right), the variable-supervision table, Fig. 4.
Reads the run and score files of the runs it is given; loads no model."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline.data.handwriting.hershey import render_text
from pipeline.data.handwriting.strokes import standardise, to_polylines
from pipeline.data.handwriting.text import FIG4_TEXT
from pipeline.declarations.handwriting import EXPERIMENT, METHODS
from pipeline.io import write_json
from pipeline.report import figures, verdicts
from pipeline.report.pages import embed, render
from pipeline.report.tables import ACCURACY, fmt_col, summarise
from pipeline.run_folder import curves_by, read_arrays, read_runs
from pipeline.sized import profile_of

TOPK = ("val_top1", "val_top5", "val_top10")
FORCED = tuple(k.replace("val", "teacher_forced") for k in TOPK)
LABELS = {k: m.label for k, m in METHODS.items()}


def rate_table(main, sweep, ceiling):
    """Final top-k of CWS and the baseline at every rate (uniform pattern only); the ceiling is the
    baseline at 100%."""
    frame = pd.concat([main[(main.method.isin(["cws", "baseline"])) & (main.pattern == "uniform")], sweep, ceiling])
    frame["key"] = frame.method + "@" + frame.rate.astype(str)
    out = summarise(frame, "key", list(TOPK), bounds=ACCURACY)
    out[["method", "rate"]] = out.key.str.split("@", expand=True)
    out["rate"] = out.rate.astype(float)
    return out.sort_values(["method", "rate"]).reset_index(drop=True)


def fig3_right(table):
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), sharey=True)
    for ax, k in zip(axes, TOPK):
        for method, group in table.groupby("method"):
            err = np.stack([group[k] - group[k + "_low"], group[k + "_high"] - group[k]])
            ax.errorbar(group.rate, group[k], yerr=err, marker="o", capsize=3,
                        color=METHODS[method].colour, label=LABELS[method])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("supervision rate")
        ax.set_title(k.replace("val_", ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy")
    axes[0].legend(fontsize=7)
    return fig


def typeset(x, y, mean, std, words_per_line=7, gap=0.6, leading=2.2):
    """The polylines of one generation with its words set on lines, as a person reads text: each word's
    ink exactly as written, moved so that it starts where the previous word ended (plus `gap`), its
    median height on the line, a new line every `words_per_line` words.  Only the drift between words goes;
    within a word nothing is moved."""
    y = np.asarray(y)
    inked = np.flatnonzero(y != 0)
    if not len(inked):
        return []
    starts = inked[np.r_[True, np.diff(inked) > 1]]
    ends = inked[np.r_[np.diff(inked) > 1, True]] + 1
    out, cursor = [], 0.0
    for i, (a, b) in enumerate(zip(starts, ends)):
        if i % words_per_line == 0:
            cursor = 0.0
        lines = to_polylines(x[a:b], mean, std)
        left = min(line[:, 0].min() for line in lines)
        middle = np.median(np.concatenate(lines)[:, 1])
        shift = np.array([cursor - left, -(i // words_per_line) * leading - middle])
        out += [line + shift for line in lines]
        cursor += max(line[:, 0].max() for line in lines) - left + gap
    return out


def ink(rows, mean, std, title, set_words=False):
    """rows: list of (row label, x [T, 4] standardised, y [T]) -> ink, one row each, as written or,
    with set_words, with its words set on lines (typeset)."""
    height = 2.4 if set_words else 1.1
    fig, axes = plt.subplots(len(rows), 1, figsize=(12, height * len(rows) + 0.4), squeeze=False)
    for ax, (label, x, y) in zip(axes[:, 0], rows):
        for line in (typeset(x, y, mean, std) if set_words else to_polylines(x, mean, std)):
            ax.plot(line[:, 0], line[:, 1], color="black", linewidth=0.8)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(label, fontsize=8, loc="left")
    fig.suptitle(title, fontsize=9)
    return fig


def _kind(r):
    return f"{r.group}@{r.method}@{r.rate:g}"


def _kind_label(group, method, rate):
    return f"{'ceiling: ' if group == 'ceiling' else ''}{LABELS[method]}, {100 * float(rate):g}% supervision"


def _shown(frame):
    """The runs Fig. 4 shows: main, then the rates, then the ceiling."""
    return pd.concat([frame[frame.group == "main"], frame[frame.group == "rates"].sort_values("rate", kind="stable"),
                      frame[frame.group == "ceiling"]])


def _samples(folder):
    """The generated samples of a run [(x [T, 4], y [T]), ...], each cut to its length."""
    arrays = read_arrays(EXPERIMENT, folder)
    return [(x[:n], y[:n]) for x, y, n in zip(arrays["samples"], arrays["labels"], arrays["lengths"])]


def generations(frame, mean, std, legible):
    """(Fig. 4 rows, samples rows): the reference rendering, then the first sample of each first-seed run
    with its kind's legibility; and every sample of those runs."""
    reference, reference_y = render_text(FIG4_TEXT)
    rows = [(f"reference: the text rendered from the Hershey font (legibility {legible['reference']}%)",
             standardise(reference, mean, std), reference_y)]
    every = []
    first = _shown(frame[frame.seed == frame.seed.min()])
    for _, r in first.iterrows():
        label = _kind_label(r.group, r.method, r.rate)
        samples = _samples(r.folder)
        rows.append((f"{label}: legibility {legible[_kind(r)]}%", *samples[0]))
        every += [(f"{label}, seed {r.seed}, sample {i + 1}", x, y) for i, (x, y) in enumerate(samples)]
    return rows, every


def legibility_rows(frame):
    """Legibility of the Fig. 4 generations for every method and rate, against the characters written
    and against the same characters shuffled (chance), and of the rendered sentence, each as read by the
    ceiling classifier of the run's seed.  Returns (rows, {kind: 'mean [low, high]'})."""
    shown = _shown(frame).copy()
    shown["key"] = shown.apply(_kind, axis=1)
    table = summarise(shown, "key", ["legibility", "chance_legibility"], bounds=ACCURACY)
    table = table.set_index("key").loc[list(dict.fromkeys(shown.key))].reset_index()
    rows, legible = [], {}
    for _, r in table.iterrows():
        legible[r.key] = fmt_col(r, "legibility", 100)
        rows.append({"label": _kind_label(*r.key.split("@")), "n": r.n, "legibility": legible[r.key],
                     "chance": fmt_col(r, "chance_legibility", 100)})
    reference = summarise(frame[frame.group == "ceiling"].assign(key="reference"), "key", ["reference_legibility"],
                          bounds=ACCURACY)
    legible["reference"] = fmt_col(reference.iloc[0], "reference_legibility", 100) if len(reference) else "n/a"
    rows.append({"label": "the reference rendering of the sentence (the ceiling of legibility)",
                 "n": int(reference.n.iloc[0]) if len(reference) else 0, "legibility": legible["reference"], "chance": ""})
    return rows, legible


def gain_rows(frame, curves):
    """Each method's validation gain per epoch over the last third of training (the slope the rule's
    convergence condition reads), in points, mean over seeds, for every comparison group."""
    rows = []
    for group in ("main", "rates", "variable", "ceiling"):
        runs = frame[frame.group == group]
        for (method, rate), part in runs.groupby(["method", "rate"], sort=False):
            shown = curves_by(part, curves, "method")[method]
            label = _kind_label(group, method, rate)
            rows.append({"label": label if group == "ceiling" else f"{group}: {label}", "n": len(part),
                         **{k: f"{100 * verdicts.gain_per_epoch(shown, k):+.2f}" for k in ("val_top1", "val_top10")}})
    return rows


def _pct(row, col="val_top10"):
    """'53.5 [52.8, 54.1]%': mean and interval over seeds of one summary row."""
    return fmt_col(row, col, 100) + "%"


def claims(frame, curves, summaries, main_pattern, supervision):
    """The paper's handwriting claims, each decided by the rule of verdicts.py (runs paired by seed),
    with a note where the compared runs had not finished learning."""
    main, variable = (frame[frame.group == g] for g in ("main", "variable"))
    by = summaries["main"].set_index("method")
    top = lambda runs, m, col="val_top10": verdicts.by_seed(runs, "method", m, col)  # noqa: E731

    def rising(runs, methods, col="val_top10"):
        shown = curves_by(runs[runs.method.isin(methods)], curves, "method")
        return verdicts.still_rising(shown, col, LABELS)

    def paired(winner, rival, runs, ours, theirs, col="val_top10"):
        """`ours beats theirs` on these runs, by the rule, with its convergence condition."""
        shown = curves_by(runs[runs.method.isin([ours, theirs])], curves, "method")
        return verdicts.paired_trained(winner, rival, top(runs, ours, col), top(runs, theirs, col),
                                       shown.get(ours, []), shown.get(theirs, []), col)
    rate = f"{100 * supervision:g}%"
    out = [verdicts.claim(
        "REINFORCE (M1+M2) trains poor inference networks: CWS's top-10 accuracy is higher (Fig. 3 left)",
        "curves only, no number given", f"top-10 at {rate}: CWS {_pct(by.loc['cws'])}, REINFORCE {_pct(by.loc['reinforce'])}",
        [paired("CWS", "REINFORCE", main, "cws", "reinforce")],
        note=rising(main, ["cws", "reinforce"]))]
    out.append(verdicts.claim(
        f"At {rate} supervision CWS's top-10 accuracy exceeds that of IWAE + a classifier trained on the "
        f"fully labelled {rate} of sequences (Fig. 3 left)", "curves only, no number given",
        f"CWS {_pct(by.loc['cws'])}, baseline {_pct(by.loc['baseline'])}",
        [paired("CWS", "baseline", main, "cws", "baseline")],
        note=rising(main, ["cws", "baseline"])))
    uniform = pd.concat([main[main.pattern == "uniform"], frame[frame.group == "rates"]])
    comparisons, parts = [], []
    for r in sorted(uniform.rate.unique()):
        at = uniform[uniform.rate == r]
        if {"cws", "baseline"} <= set(at.method):
            comparisons.append(paired(f"CWS at {100 * r:g}%", "baseline", at, "cws", "baseline", "val_top1"))
            parts.append(f"{100 * r:g}%: {comparisons[-1].text(100)}")
    if comparisons:
        out.append(verdicts.claim(
            "CWS using the unlabelled data beats IWAE + a classifier trained on the same number of labels, "
            "at every supervision rate (Fig. 3 right)", "bars only, no number given",
            "top-1, CWS minus baseline: " + "; ".join(parts), comparisons,
            note=rising(uniform, ["cws", "baseline"], "val_top1")))
    if main_pattern == "uniform" and len(variable):
        v = summaries["variable"].set_index("method")
        ours = (f"top-10 uniform -> variable: CWS {_pct(by.loc['cws'])} -> {_pct(v.loc['cws'])}, "
                f"SSWS {_pct(by.loc['ssws'])} -> {_pct(v.loc['ssws'])}")
        out.append(verdicts.claim(
            "Under variable supervision (rates differ between sequences) CWS beats SSWS as written, eq. 14 (sec. 3.3.2)",
            "no number given", ours,
            [paired("CWS", "SSWS (eq. 14)", variable, "cws", "ssws")],
            why="the verdict rests on SSWS as the paper writes it (eq. 14): supervised and unsupervised terms "
                "summed over each sequence's steps", note=rising(variable, ["cws", "ssws"])))
        if "ssws_normalised" in set(variable.method):
            entry = verdicts.claim(
                "Sensitivity (not a paper claim): CWS against SSWS with each sequence's terms normalised by |U| and |S|",
                "the correction sec. 3.3.2 discusses", f"variable, top-10: normalised SSWS {_pct(v.loc['ssws_normalised'])}",
                [paired("CWS", "SSWS normalised", variable, "cws", "ssws_normalised")],
                note=rising(variable, ["cws", "ssws_normalised"]))
            entry["paper_claim"] = False
            out.append(entry)
    out.append(fig4_claim(main, rate))
    return out


def fig4_claim(main, rate):
    """'Even at 12.5% supervision, sampled generations resemble the target sentence using SSWS or CWS'
    as a paired comparison: each method's legibility against the chance legibility of the same
    generations (read against their characters shuffled), paired by seed."""
    comparisons = [verdicts.paired(f"{LABELS[m]} generations read against the sentence",
                                   "the same read against its characters shuffled (chance)",
                                   verdicts.by_seed(main, "method", m, "legibility"),
                                   verdicts.by_seed(main, "method", m, "chance_legibility"))
                   for m in ("cws", "ssws") if m in set(main.method)]
    legible = {m: summarise(main[main.method == m].assign(key=m), "key", ["legibility", "chance_legibility"],
                            bounds=ACCURACY).iloc[0] for m in ("cws", "ssws") if m in set(main.method)}
    ours = "; ".join(f"{LABELS[m]}: legibility {_pct(r, 'legibility')}, chance {_pct(r, 'chance_legibility')}"
                     for m, r in legible.items())
    return verdicts.claim(
        f"Even at {rate} supervision, sampled generations resemble the target sentence using SSWS or CWS (Fig. 4)",
        "images only", ours, comparisons,
        why="legibility: the ceiling classifier's per-step top-1 against the characters each generation wrote; "
            "chance: the same strokes read against those characters shuffled among the written segments")


def build(params, run_dirs, data_path, out):
    """The page, its figures and its summary JSON (out: pages.Outputs) from the run folders; params: the
    stage's Settings."""
    cfg = params["handwriting"]
    frame, curves = read_runs(EXPERIMENT, run_dirs)
    main, sweep, variable, ceiling = (frame[frame.group == g] for g in ("main", "rates", "variable", "ceiling"))
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        mean, std, source = data["mean"], data["std"], str(data["source"])
        n_train, n_valid, seq_len = len(data["x_train"]), len(data["x_valid"]), data["x_train"].shape[1]
    main_summary = summarise(main, "method", list(TOPK + FORCED), bounds=ACCURACY)
    variable_summary = summarise(variable, "method", list(TOPK + FORCED), bounds=ACCURACY)
    ceiling_summary = summarise(ceiling, "method", list(TOPK), bounds=ACCURACY)
    rates_summary = rate_table(main, sweep, ceiling)
    fig_names = [Path(out.figures) / name for name in EXPERIMENT.figures]
    left = embed(figures.curves_with_bands(curves_by(main, curves, "method"), METHODS, y="val_top10",
                                           ylabel="top-10 validation accuracy",
                                           title=f"{100 * params['supervision']:g}% supervision"), fig_names[0])
    right = embed(fig3_right(rates_summary), fig_names[1])
    legibility, legible = legibility_rows(frame)
    rows, every = generations(frame, mean, std, legible)
    title = f'Generation conditioned on "{FIG4_TEXT}"'
    fig_ink = embed(ink(rows, mean, std, title + " (words set on lines)", set_words=True), fig_names[2])
    fig_samples = embed(ink(every, mean, std, title + ": every sample of the first seed, as written"), fig_names[3])
    found = claims(frame, curves, {"main": main_summary, "variable": variable_summary}, params["supervision_pattern"],
                   params["supervision"])

    def rows(summary, label):
        return [{"label": label(r), "n": r.n, **{k: fmt_col(r, k, 100) for k in TOPK + FORCED if k in r}}
                for _, r in summary.iterrows()]
    by_method = lambda r: LABELS[r.method]  # noqa: E731
    write_json(out.summary, {
        "main": {r.method: {k: r[k] for k in TOPK + FORCED} for _, r in main_summary.iterrows()},
        "variable": {r.method: {k: r[k] for k in TOPK + FORCED} for _, r in variable_summary.iterrows()},
        "ceiling": {r.method: {k: r[k] for k in TOPK} for _, r in ceiling_summary.iterrows()},
        **{column: {f"{g}/{m}/{r:g}": float(v) for (g, m, r), v in
                    frame.groupby(["group", "method", "rate"])[column].mean().items()}
           for column in ("legibility", "chance_legibility")},
        "claims": found, "runs": list(map(str, run_dirs))})
    render("handwriting.html.j2", out.html, title="Handwriting: DVRNN on pen strokes (paper Fig. 3, 4)",
           claims=found, rule=verdicts.RULE, main_rows=rows(main_summary, by_method),
           variable_rows=rows(variable_summary, by_method), ceiling_rows=rows(ceiling_summary, by_method),
           rate_rows=rows(rates_summary, lambda r: f"{LABELS[r.method]}, {100 * r.rate:g}%"), fig_left=left,
           legibility=legibility, gains=gain_rows(frame, curves), fig_samples=fig_samples,
           fig_right=right, fig_ink=fig_ink, cfg=cfg, params=params, source=source, n_train=n_train, n_valid=n_valid,
           seq_len=seq_len, profile=profile_of(params, ["handwriting"]), seeds=seeds)
    return found

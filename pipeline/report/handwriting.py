"""The handwriting report page: Fig. 3 (left, right), the variable-supervision table, Fig. 4.
Reads the run and score files of the runs it is given; loads no model."""
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from pipeline import layout, methods
from pipeline.data.handwriting import FIG4_TEXT, render_text, to_polylines
from pipeline.io import write_json
from pipeline.report import figures
from pipeline.report.pages import embed, render
from pipeline.report.runs import curves_by, read_arrays, read_runs
from pipeline.report.tables import ACCURACY, fmt_col, summarise

TOPK = ("val_top1", "val_top5", "val_top10")
FORCED = tuple(k.replace("val", "teacher_forced") for k in TOPK)
LABELS = {k: m.label for k, m in methods.HANDWRITING.items()}


def rate_table(main, sweep):
    """Final top-k of CWS and the baseline at every rate (uniform pattern only)."""
    frame = pd.concat([main[(main.method.isin(["cws", "baseline"])) & (main.pattern == "uniform")], sweep])
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
                        color=methods.HANDWRITING[method].colour, label=LABELS[method])
        ax.set_xscale("log", base=2)
        ax.set_xlabel("supervision rate")
        ax.set_title(k.replace("val_", ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("validation accuracy")
    axes[0].legend(fontsize=7)
    return fig


def fig4(samples, mean, std):
    """samples: list of (row label, x [T, 4] standardised) -> ink, one row each."""
    fig, axes = plt.subplots(len(samples), 1, figsize=(12, 1.1 * len(samples) + 0.4), squeeze=False)
    for ax, (label, x) in zip(axes[:, 0], samples):
        for line in to_polylines(x, mean, std):
            ax.plot(line[:, 0], line[:, 1], color="black", linewidth=0.8)
        ax.set_aspect("equal")
        ax.axis("off")
        ax.set_title(label, fontsize=8, loc="left")
    fig.suptitle(f'Generation conditioned on "{FIG4_TEXT}"', fontsize=9)
    return fig


def generations(frame, mean, std):
    """(row label, strokes) for Fig. 4: the reference rendering, then each first-seed run's sample
    (main runs, then the rates), read from the runs' generation.npz."""
    reference, _ = render_text(FIG4_TEXT)
    ref_std = (reference[:, :2] - mean) / std
    samples = [("reference: the text rendered from the Hershey font", np.column_stack([ref_std, reference[:, 2:]]))]
    first = frame[frame.seed == frame.seed.min()]
    shown = pd.concat([first[first.group == "main"], first[first.group == "rates"].sort_values("rate", kind="stable")])
    for _, r in shown.iterrows():
        samples.append((f"{LABELS[r.method]}, {100 * r.rate:g}% supervision", read_arrays("handwriting", r.folder)["x"]))
    return samples


def _pct(row, col="val_top10"):
    """'53.5 [52.8, 54.1]%': mean and interval over seeds of one summary row."""
    return fmt_col(row, col, 100) + "%"


def claims(main_summary, rate_summary, variable_summary, main_pattern, supervision):
    """The paper's handwriting claims, each with our numbers and a verdict."""
    by = main_summary.set_index("method")
    out = []

    def entry(claim, ours, verdict, why="", paper="curves only, no number given"):
        out.append({"claim": claim, "paper": paper, "ours": ours, "verdict": verdict, "why": why})

    cws, rf = by.loc["cws"], by.loc["reinforce"]
    entry("REINFORCE (M1+M2) trains poor inference networks: low top-10 accuracy (Fig. 3 left)",
          f"top-10: REINFORCE {_pct(rf)}, CWS {_pct(cws)}",
          _compare(cws, rf, "val_top10"))
    rows = []
    wins = 0
    for rate, group in rate_summary.groupby("rate"):
        g = group.set_index("method")
        if {"cws", "baseline"} <= set(g.index):
            rows.append(f"{100 * rate:g}%: {_pct(g.loc['cws'])} vs {_pct(g.loc['baseline'])}")
            wins += g.loc["cws", "val_top10"] > g.loc["baseline", "val_top10"]
    entry("CWS with unlabelled data beats IWAE + classifier trained on the same labels (Fig. 3 right)",
          "top-10, CWS vs baseline: " + "; ".join(rows),
          "reproduced" if rows and wins == len(rows) else ("partly reproduced" if wins else "not reproduced"),
          f"CWS ahead at {wins} of {len(rows)} rates")
    base = by.loc["baseline"]
    entry(f"At {100 * supervision:g}% supervision CWS's top-10 accuracy exceeds the baseline's",
          f"{_pct(cws)} vs {_pct(base)}", _compare(cws, base, "val_top10"))
    if main_pattern == "uniform":
        v = variable_summary.set_index("method")
        drop = {m: by.loc[m, "val_top10"] - v.loc[m, "val_top10"] for m in ("cws", "ssws")}
        ours = (f"top-10 uniform -> variable: CWS {_pct(by.loc['cws'])} -> {_pct(v.loc['cws'])}, "
                f"SSWS {_pct(by.loc['ssws'])} -> {_pct(v.loc['ssws'])}")
        verdict = _compare(v.loc["cws"], v.loc["ssws"], "val_top10")
        entry("Under variable supervision SSWS degrades and CWS stays stable (sec. 3.3.2)", ours, verdict,
              f"drop CWS {100 * drop['cws']:.1f} points, SSWS {100 * drop['ssws']:.1f} points")
    else:
        entry("Under variable supervision SSWS degrades and CWS stays stable (sec. 3.3.2)", "n/a", "not comparable",
              "supervision_pattern is 'variable', so no uniform runs to compare with")
    entry("Even at 12.5% supervision, generations resemble the target sentence (Fig. 4)", "see Fig. 4",
          "not comparable", "a visual judgement, not a number", paper="images")
    return out


def _compare(a, b, col):
    """reproduced: a's mean above b's with separate intervals; unclear: above but overlapping."""
    if a[col] > b[col] and a[col + "_low"] > b[col + "_high"]:
        return "reproduced"
    if a[col] > b[col]:
        return "not clearly reproduced (intervals overlap)"
    return "not reproduced"


def build(params, cfg, run_dirs, data_path, out_html, fig_dir, summary_json):
    frame, curves = read_runs("handwriting", run_dirs)
    main, sweep, variable = (frame[frame.group == g] for g in ("main", "rates", "variable"))
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        mean, std, source = data["mean"], data["std"], str(data["source"])
        n_train, n_valid, seq_len = len(data["x_train"]), len(data["x_valid"]), data["x_train"].shape[1]
    main_summary = summarise(main, "method", list(TOPK + FORCED), bounds=ACCURACY)
    variable_summary = summarise(variable, "method", list(TOPK + FORCED), bounds=ACCURACY)
    rates_summary = rate_table(main, sweep)
    fig_names = [Path(fig_dir) / name for name in layout.FIGURE_NAMES["handwriting"]]
    left = embed(figures.curves_with_bands(curves_by(main, curves, "method"), methods.HANDWRITING, y="val_top10",
                                           ylabel="top-10 validation accuracy",
                                           title=f"{100 * params['supervision']:g}% supervision"), fig_names[0])
    right = embed(fig3_right(rates_summary), fig_names[1])
    ink = embed(fig4(generations(frame, mean, std), mean, std), fig_names[2])
    found = claims(main_summary, rates_summary, variable_summary, params["supervision_pattern"], params["supervision"])

    def rows(summary, label):
        return [{"label": label(r), "n": r.n, **{k: fmt_col(r, k, 100) for k in TOPK + FORCED if k in r}}
                for _, r in summary.iterrows()]
    by_method = lambda r: LABELS[r.method]  # noqa: E731
    write_json(summary_json, {
        "main": {r.method: {k: r[k] for k in TOPK + FORCED} for _, r in main_summary.iterrows()},
        "variable": {r.method: {k: r[k] for k in TOPK + FORCED} for _, r in variable_summary.iterrows()},
        "claims": found, "runs": list(map(str, run_dirs))})
    render("handwriting.html.j2", out_html, title="Handwriting: DVRNN on pen strokes (paper Fig. 3, 4)",
           claims=found, main_rows=rows(main_summary, by_method), variable_rows=rows(variable_summary, by_method),
           rate_rows=rows(rates_summary, lambda r: f"{LABELS[r.method]}, {100 * r.rate:g}%"), fig_left=left,
           fig_right=right, fig_ink=ink, cfg=cfg, params=params, source=source, n_train=n_train, n_valid=n_valid,
           seq_len=seq_len, profile=params["profile"], seeds=seeds)
    return found

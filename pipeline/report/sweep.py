"""reports/sweep.html: handwriting accuracy against the supervision rate, collected from finished
DVC experiments (e.g. `dvc exp run --queue -S 'supervision=0.0625,0.125,0.25'`)."""
import matplotlib.pyplot as plt
import pandas as pd

from pipeline import PipelineError
from pipeline.declarations.handwriting import METHODS
from pipeline.report.pages import embed, render
from pipeline.report.tables import ACCURACY, fmt_col, summarise

SUMMARY = "reports/handwriting_summary.json"     # names the experiment's run folders


def collect(rows, read):
    """One row per (experiment, method, seed) of the main comparison, from dvc.api.exp_show() rows and
    read(path, rev) -> the JSON at `path` in that experiment (None: the workspace).  The per-run
    numbers are not DVC metrics (`dvc exp show` keeps to the headline), so they are read from each
    experiment's own files; an experiment without them (not finished) is left out."""
    out = []
    for row in rows:
        rate = row.get("supervision", row.get("params.yaml:supervision"))
        if rate is None or row.get("State") in ("Queued", "Running", "Failed"):
            continue
        rev = None if row.get("rev") == "workspace" else row.get("rev")
        try:
            folders = [f for f in read(SUMMARY, rev)["runs"] if "/main/" in f]
            runs = [read(f"{folder}/metrics.json", rev) for folder in folders]
        except (FileNotFoundError, KeyError):
            continue
        name = row.get("Experiment") or row.get("rev")
        out += [{"experiment": name, "supervision": float(rate), "pattern": row.get("supervision_pattern"),
                 "method": r["method"], "seed": r["seed"], "val_top1": r["val_top1"], "val_top10": r["val_top10"]}
                for r in runs]
    if not out:
        raise PipelineError("no finished experiment with handwriting results; run `dvc exp run --queue -S "
                            "'supervision=0.0625,0.125,0.25'` and `dvc queue start`, then try again")
    return pd.DataFrame(out).drop_duplicates(["supervision", "pattern", "method", "seed"])


def build(rows, read, out_html="reports/sweep.html", png="reports/figures/sweep.png"):
    """The sweep page from exp_show rows and read(path, rev) (collect)."""
    frame = collect(rows, read)
    frame["key"] = frame.method + "@" + frame.supervision.astype(str)
    table = summarise(frame, "key", ["val_top1", "val_top10"], bounds=ACCURACY)
    table[["method", "supervision"]] = table.key.str.split("@", expand=True)
    table["supervision"] = table.supervision.astype(float)
    table = table.sort_values(["method", "supervision"])
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, g in table.groupby("method"):
        ax.errorbar(g.supervision, g.val_top10, yerr=[g.val_top10 - g.val_top10_low, g.val_top10_high - g.val_top10],
                    marker="o", capsize=3, color=METHODS[method].colour, label=METHODS[method].label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("supervision (fraction of labelled steps)")
    ax.set_ylabel("top-10 validation accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    rows_out = [{"method": METHODS[r.method].label, "supervision": f"{100 * r.supervision:g}%", "n": r.n,
                 "top1": fmt_col(r, "val_top1", 100), "top10": fmt_col(r, "val_top10", 100)} for _, r in table.iterrows()]
    render("sweep.html.j2", out_html, title="Supervision sweep: handwriting accuracy against the supervision rate",
           rows=rows_out, figure=embed(fig, png), experiments=sorted(frame.experiment.astype(str).unique()),
           profile="(per experiment)", seeds=sorted(frame.seed.unique().tolist()))
    return table

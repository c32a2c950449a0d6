"""The MNIST report page: Fig. 2a curves, Fig. 2b/c reconstructions, accuracy table, verdict.
Reads the run and score files of the runs it is given; loads no model."""
from pathlib import Path

import numpy as np

from pipeline import layout, methods
from pipeline.io import write_json
from pipeline.report import figures
from pipeline.report.pages import embed, render
from pipeline.report.runs import curves_by, read_arrays, read_runs
from pipeline.report.tables import ACCURACY, fmt_col, summarise

CLAIM = "CWS trains to the highest validation accuracy, and faster"
COLUMNS = ["val_accuracy", "val_accuracy_best", "val_accuracy_mean_over_epochs", "val_cluster_accuracy",
           "posterior_accuracy"]
LABELS = {k: m.label for k, m in methods.MNIST.items()}


def verdict(summary, target="cws", final="val_accuracy", speed="val_accuracy_mean_over_epochs"):
    """Reproduced when the target has the highest mean final accuracy and the highest mean
    accuracy over epochs, with its final-accuracy interval clear of the runner-up's."""
    if target not in set(summary["method"]) or len(summary) < 2:
        return {"label": "not comparable", "css": "unclear", "text": "CWS or its comparison runs are missing."}
    by = summary.set_index("method")
    others = by.drop(index=target)
    rival = others[final].idxmax()
    fast_rival = others[speed].idxmax()
    me, them = by.loc[target], by.loc[rival]
    text = (f"CWS ends at {fmt_col(me, final, 100)}% against "
            f"{LABELS.get(rival, rival)}'s {fmt_col(them, final, 100)}% "
            f"(the best of the others); mean accuracy over epochs (speed) "
            f"{100 * me[speed]:.1f}% against {100 * others[speed].max():.1f}% ({LABELS.get(fast_rival, fast_rival)}).")
    highest, fastest = me[final] > them[final], me[speed] > others[speed].max()
    if highest and fastest and me[final + "_low"] > them[final + "_high"]:
        return {"label": "reproduced", "css": "reproduced", "text": text}
    if highest and fastest:
        return {"label": "not clearly reproduced (CWS highest, but the intervals overlap)", "css": "unclear", "text": text}
    return {"label": "not reproduced", "css": "not-reproduced", "text": text}


def build(params, cfg, run_dirs, data_path, out_html, fig_dir, summary_json):
    frame, curves = read_runs("mnist", run_dirs)
    summary = summarise(frame, "method", COLUMNS, bounds=ACCURACY)
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        n_train, n_valid = len(data["y_train"]), len(data["y_valid"])
    grids = []
    for letter, name, method in zip("bc", layout.FIGURE_NAMES["mnist"][1:], ("cws", "m1m2")):
        first = frame[(frame.method == method) & (frame.seed == seeds[0])]
        if len(first):
            rows = read_arrays("mnist", first.folder.iloc[0])["grid"]
            titles = ["input", "(y,z) inferred", "true y"] + [f"y={c}" for c in range(rows.shape[1] - 3)]
            fig = figures.image_grid(rows, titles, title=LABELS[method])
            grids.append({"letter": letter, "label": LABELS[method], "seed": seeds[0],
                          "src": embed(fig, Path(fig_dir) / name)})
    fig_curves = embed(figures.curves_with_bands(curves_by(frame, curves, "method"), methods.MNIST,
                                                 title="MNIST, validation accuracy of q(y|x)"),
                       Path(fig_dir) / layout.FIGURE_NAMES["mnist"][0])
    table = [{"label": LABELS.get(r.method, r.method), "n": r.n,
              **{name: fmt_col(r, c, 100) for name, c in
                 zip(("final", "best", "speed", "cluster", "posterior"), COLUMNS)}} for _, r in summary.iterrows()]
    result = verdict(summary)
    claims = [{"claim": f"{CLAIM} (Fig. 2a)", "paper": "curves only, no number given", "ours": result["text"],
               "verdict": result["label"], "why": ""},
              {"claim": "CWS conditionally generates as well as prior art: z fixed, y varied (Fig. 2b, 2c)",
               "paper": "images", "ours": "see Fig. 2b, 2c", "verdict": "not comparable", "why": "a visual judgement"}]
    write_json(summary_json, {"verdict": result["label"], "claims": claims, "runs": list(map(str, run_dirs)), **{
        r.method: {c: {"mean": r[c], "low": r[c + "_low"], "high": r[c + "_high"]} for c in COLUMNS}
        for _, r in summary.iterrows()}})
    render("mnist.html.j2", out_html, title="MNIST: semi-supervised M2 (paper Fig. 2)", claim=CLAIM,
           verdict=result, table=table, fig_curves=fig_curves, grids=grids, labels=cfg["labels"],
           alpha=cfg["alpha"], source=cfg["source"], n_train=n_train, n_valid=n_valid,
           profile=params["profile"], seeds=seeds)
    return result

"""reports/index.html: every claim of the paper with our number and a verdict, links to the
experiment pages, and the run's provenance (profile, sources, seeds, commit, device, wall time)."""
import platform
import subprocess
from pathlib import Path

import torch

from pipeline.io import read_json, write_json
from pipeline.report.pages import render

EXPERIMENTS = (("mnist", "MNIST (sec. 4.1, Fig. 2)", "mnist.html"),
               ("handwriting", "Handwriting (sec. 4.2, Fig. 3, 4)", "handwriting.html"),
               ("flies", "Fly-vs-Fly (sec. 4.3, Table 1, Fig. 5, 6)", "flies.html"))


def git_commit(root="."):
    """The commit the reports were built from, with '+ changes' when the tree differs from it
    (dvc.lock aside: the run itself rewrites it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!dvc.lock"],
                               cwd=root, capture_output=True, text=True, check=True).stdout.strip()
        return commit + (" + uncommitted changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def stage_rows(runs_dir="runs"):
    """One row per timed stage (training and scoring runs write a timing file), in path order."""
    rows = []
    for path in sorted(Path(runs_dir).rglob("*timing.json")):
        t = read_json(path)
        run = path.parent.relative_to(runs_dir).as_posix()
        rows.append({"experiment": run.split("/")[0], "run": run,
                     "kind": "scoring" if path.name.startswith("score") else "training",
                     "seconds": round(t["seconds"], 1), "device": t["device"]})
    return rows


def stage_times(rows):
    """{experiment: (stages, total seconds, devices)} summed over stage_rows."""
    out = {}
    for r in rows:
        n, total, devices = out.get(r["experiment"], (0, 0.0, set()))
        out[r["experiment"]] = (n + 1, total + r["seconds"], devices | {r["device"]})
    return out


def headline(summaries):
    """The few numbers worth a column in `dvc exp show` (means over seeds)."""
    mnist, hand, flies = summaries["mnist"], summaries["handwriting"], summaries["flies"]
    return {"mnist_val_accuracy": {k: v["val_accuracy"]["mean"] for k, v in mnist.items() if isinstance(v, dict)
                                   and "val_accuracy" in v},
            "handwriting_top10": {k: v["val_top10"] for k, v in hand["main"].items()},
            "handwriting_variable_top10": {k: v["val_top10"] for k, v in hand["variable"].items()},
            "flies_kde": {f"{k}_{fly}": v[fly] for k, v in flies["table1"].items() for fly in ("fly1", "fly2")}}


def build(params, summaries, out_html="reports/index.html", out_json="reports/summary.json", runs_dir="runs"):
    sections = []
    for key, title, page in EXPERIMENTS:
        claims = summaries[key]["claims"]
        sections.append({"title": title, "page": page, "claims": claims})
    verdicts = [c["verdict"] for s in sections for c in s["claims"]]
    counts = {v: verdicts.count(v) for v in dict.fromkeys(verdicts)}
    rows = stage_rows(runs_dir)
    times = stage_times(rows)
    provenance = {
        "profile": params["profile"], "seeds": params["seeds"], "commit": git_commit(),
        "sources": {k: params[k]["source"] for k in ("mnist", "handwriting", "flies")},
        "supervision": params["supervision"], "supervision_pattern": params["supervision_pattern"],
        "torch": torch.__version__, "python": platform.python_version(),
        "times": [{"experiment": k, "stages": n, "minutes": round(s / 60, 1), "devices": ", ".join(sorted(d))}
                  for k, (n, s, d) in times.items()],
        "stages": rows}
    write_json(out_json, {"verdicts": counts, **headline(summaries)})
    render("index.html.j2", out_html, title="Semi-supervised Sequential Generative Models: reproduction",
           sections=sections, counts=counts, prov=provenance, profile=params["profile"], seeds=params["seeds"])
    return counts

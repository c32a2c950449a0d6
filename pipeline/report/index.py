"""reports/index.html: every claim of the paper with our number and a verdict, and links to the
experiment pages; reports/provenance.html: what produced them (commit, software, device, wall time).

The index is a DVC output and depends only on the experiments' summaries, so it is the same on
every run that gives the same numbers.  Provenance changes on every run; it is written beside the
index but is not a DVC output."""
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from pipeline import PipelineError, layout, registry
from pipeline.io import read_json, write_json
from pipeline.report import verdicts
from pipeline.report.pages import render
from pipeline.sized import profile_of


def experiment_of(summary_path):
    """The experiment whose summary JSON this is (layout.summary names it)."""
    name = Path(summary_path).name.removesuffix("_summary.json")
    if name not in registry.EXPERIMENTS:
        raise PipelineError(f"{summary_path}: not an experiment's summary (expected <experiment>_summary.json)")
    return name


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


def stage_rows(experiment, run_dirs):
    """One row per training and scoring stage of the given runs that left a timing file (a run
    restored from the DVC cache has none)."""
    rows = []
    for folder in map(Path, run_dirs):
        for name, kind in ((layout.TRAIN_TIME, "training"), (layout.SCORE_TIME, "scoring")):
            if (folder / name).exists():
                t = read_json(folder / name)
                rows.append({"experiment": experiment, "run": folder.as_posix(), "kind": kind,
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
    """The few numbers worth a column in `dvc exp show`: each experiment's declared headline."""
    return {k: v for name, summary in summaries.items() for k, v in registry.EXPERIMENTS[name].headline(summary).items()}


def provenance(params, summaries):
    rows = [r for name, s in summaries.items() for r in stage_rows(name, s.get("runs", []))]
    return {"commit": git_commit(), "torch": metadata.version("torch"), "python": platform.python_version(),
            "dvc": metadata.version("dvc"),
            "times": [{"experiment": k, "stages": n, "minutes": round(s / 60, 1), "devices": ", ".join(sorted(d))}
                      for k, (n, s, d) in stage_times(rows).items()],
            "stages": rows}


def build(params, summaries, out_html, out_json, out_provenance):
    """The index and provenance pages and the headline JSON; params: the stage's Settings
    (registry.index_params)."""
    shown = [e for e in registry.EXPERIMENTS.values() if e.name in summaries]
    sections = [{"title": e.title, "page": Path(layout.page(e.name)).name, "claims": summaries[e.name]["claims"]}
                for e in shown]
    found = [c["verdict"] for s in sections for c in s["claims"] if c.get("paper_claim", True)]
    counts = {v: found.count(v) for v in ("reproduced", "contradicted", "inconclusive", "not comparable",
                                    verdicts.NOT_TESTABLE) if v in found}
    profile = profile_of(params, [e.name for e in shown])
    setup = {"profile": profile, "seeds": params["seeds"],
             "sources": {e.name: _get(params, e.data_key) for e in shown if e.data_key},
             **{k: params[k] for e in shown for k in e.top}}
    write_json(out_json, {"verdicts": counts, **headline(summaries)})
    render("index.html.j2", out_html, title="Semi-supervised Sequential Generative Models: reproduction",
           sections=sections, counts=counts, setup=setup, rule=verdicts.RULE, provenance_page=Path(out_provenance).name,
           profile=profile, seeds=params["seeds"])
    render("provenance.html.j2", out_provenance, title="Provenance of the last run", setup=setup,
           prov=provenance(params, summaries), profile=profile, seeds=params["seeds"])
    return counts


def _get(params, dotted):
    node = params
    for part in dotted.split("."):
        node = node[part]
    return node

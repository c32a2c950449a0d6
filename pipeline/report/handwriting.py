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
from pipeline.run_folder import curves_by, read_arrays, read_runs, read_trained
from pipeline.sized import profile_of

TOPK = ("val_top1", "val_top5", "val_top10")
FORCED = tuple(k.replace("val", "teacher_forced") for k in TOPK)
LABELS = {k: m.label for k, m in METHODS.items()}


def rate_table(main, sweep, ceiling):
    """Final top-k of CWS and the baseline at every rate (under the main pattern); the ceiling is the
    baseline at 100%."""
    frame = pd.concat([main[main.method.isin(["cws", "baseline"])], sweep, ceiling])
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


LEGIBILITY = ("legibility", "ink_control_legibility", "chance_legibility")


def legibility_rows(frame):
    """Legibility of the Fig. 4 generations for every method and rate, against the characters written,
    against the same generations with their ink destroyed, and against their characters shuffled (chance),
    and of the rendered sentence, each as read by the ceiling classifier (the first seed's).
    Returns (rows, {kind: 'mean [low, high]'})."""
    shown = _shown(frame).copy()
    shown["key"] = shown.apply(_kind, axis=1)
    table = summarise(shown, "key", list(LEGIBILITY), bounds=ACCURACY)
    table = table.set_index("key").loc[list(dict.fromkeys(shown.key))].reset_index()
    distinct = shown.groupby("key").distinct_generations.min()
    kl = shown.groupby("key").kl_per_step.mean()
    rows, legible = [], {}
    for _, r in table.iterrows():
        legible[r.key] = fmt_col(r, "legibility", 100)
        rows.append({"label": _kind_label(*r.key.split("@")), "n": r.n, "legibility": legible[r.key],
                     "ink": fmt_col(r, "ink_control_legibility", 100), "chance": fmt_col(r, "chance_legibility", 100),
                     "distinct": int(distinct[r.key]), "kl": f"{kl[r.key]:.3f}"})
    reference = summarise(frame[frame.group == "ceiling"].assign(key="reference"), "key",
                          ["reference_legibility", "reference_ink_control_legibility"], bounds=ACCURACY)
    have = len(reference) > 0
    legible["reference"] = fmt_col(reference.iloc[0], "reference_legibility", 100) if have else "n/a"
    rows.append({"label": "the reference rendering of the sentence (the ceiling of legibility)",
                 "n": int(reference.n.iloc[0]) if have else 0, "legibility": legible["reference"],
                 "ink": fmt_col(reference.iloc[0], "reference_ink_control_legibility", 100) if have else "", "chance": "",
                 "distinct": 1, "kl": ""})
    return rows, legible


def _pct(row, col="val_top10"):
    """'53.5 [52.8, 54.1]%': mean and interval over seeds of one summary row."""
    return fmt_col(row, col, 100) + "%"


def _mean(frame, method, col):
    return 100 * float(frame[frame.method == method][col].mean())


class Judge:
    """Paired comparisons on one group's runs, each with the plateau check where the group has runs at
    half the steps (verdicts.paired_plateau)."""

    def __init__(self, runs, half):
        self.runs, self.half = runs, half

    def __call__(self, winner, rival, ours, theirs, col="val_top10", rivals=None):
        """`ours beats theirs` in column `col`; `rivals`: the runs theirs comes from, when not these."""
        other = self.runs if rivals is None else rivals
        at = lambda runs, m: verdicts.by_seed(runs, "method", m, col)  # noqa: E731
        return verdicts.paired_plateau(winner, rival, at(self.runs, ours), at(other, theirs),
                                       at(self.half, ours), at(self.half, theirs) if rivals is None else {})


def claims(frame, half, summaries, main_pattern, supervision):
    """The paper's handwriting claims, each decided by the rule of verdicts.py (runs paired by seed, with
    the plateau check from the runs at half the steps `half`), then the sensitivity rows and controls."""
    main, variable, scattered = (frame[frame.group == g] for g in ("main", "variable", "scattered"))
    judge = Judge(main, half[half.group == "main"] if len(half) else half)
    by = summaries["main"].set_index("method")
    rate = f"{100 * supervision:g}%"
    layout = {"sequences": f"the baseline's {rate} of sequences fully labelled, the rest unlabelled",
              "scattered": f"{rate} of the steps of every sequence labelled",
              "variable": "rates varying between sequences"}[main_pattern]
    out = [verdicts.claim(
        "REINFORCE (M1+M2) trains poor inference networks: CWS's top-10 accuracy is higher (Fig. 3 left)",
        "curves only, no number given", f"top-10 at {rate}: CWS {_pct(by.loc['cws'])}, REINFORCE {_pct(by.loc['reinforce'])}",
        [judge("CWS", "REINFORCE", "cws", "reinforce")], why=f"labels: {layout}")]
    out.append(verdicts.claim(
        f"At {rate} supervision CWS's top-10 accuracy exceeds that of IWAE + a classifier trained on the "
        f"fully labelled {rate} of sequences (Fig. 3 left)", "curves only, no number given",
        f"CWS {_pct(by.loc['cws'])}, baseline {_pct(by.loc['baseline'])}",
        [judge("CWS", "baseline", "cws", "baseline")], why=f"labels: {layout}"))
    uniform = pd.concat([main, frame[frame.group == "rates"]])
    comparisons, parts = [], []
    for r in sorted(uniform.rate.unique()):
        at = uniform[uniform.rate == r]
        if {"cws", "baseline"} <= set(at.method):
            c = (judge if r == supervision else Judge(at, half.iloc[:0]))(
                f"CWS at {100 * r:g}%", "baseline", "cws", "baseline", "val_top1")
            comparisons.append(c)
            parts.append(f"{100 * r:g}%: {c.text(100)}")
    if comparisons:
        out.append(verdicts.claim(
            "CWS using the unlabelled data beats IWAE + a classifier trained on the same number of labels, "
            "at every supervision rate (Fig. 3 right)", "bars only, no number given",
            "top-1, CWS minus baseline: " + "; ".join(parts), comparisons, why=f"labels: {layout}"))
    ssws_on = {"sequences": main, "variable": main}.get(main_pattern, variable)
    if len(ssws_on) and {"cws", "ssws"} <= set(ssws_on.method):
        at = Judge(ssws_on, judge.half if ssws_on is main else half.iloc[:0])
        out.append(verdicts.claim(
            "When supervision varies between sequences (" + ("here each fully labelled or not at all, the extreme case "
            "sec. 3.3.2 names" if main_pattern == "sequences" else "rates drawn per sequence") +
            "), CWS beats SSWS as written, eq. 14", "no number given",
            f"top-10: CWS {_pct(by.loc['cws'])}, SSWS {_pct(by.loc['ssws'])}" if ssws_on is main else
            f"variable pattern, top-10: CWS {_mean(ssws_on, 'cws', 'val_top10'):.1f}%, "
            f"SSWS {_mean(ssws_on, 'ssws', 'val_top10'):.1f}%",
            [at("CWS", "SSWS (eq. 14)", "cws", "ssws")],
            why="CWS and SSWS differ only where q(y_S) differs between particles, i.e. where q reads the particle's "
                "history (tests/test_objectives.py: with a q of x alone their phi-gradients are equal); here q(y_t) reads "
                "h_{t-1}, built from the particle's own earlier y and z"))
    out += sensitivity(frame, main, variable, scattered, rate)
    out.append(fig4_claim(frame, rate))
    return out


def sensitivity(frame, main, variable, scattered, rate):
    """Rows that are not the paper's claims, judged by the same rule: the scattered layout, the variable
    pattern's SSWS rows, and REINFORCE against its own supervised term."""
    out = []

    def row(text, ours, comparisons, why=""):
        entry = verdicts.claim(text, "not a paper claim", ours, comparisons, why=why)
        entry["paper_claim"] = False
        out.append(entry)
    plain = Judge(main, main.iloc[:0])
    if len(scattered):
        steps = scattered.labelled_steps.mean(), main[main.method == "baseline"].labelled_steps.mean()
        chars = (scattered.labelled_characters.mean() / scattered.characters.mean(),
                 main[main.method == "baseline"].labelled_characters.mean() / scattered.characters.mean())
        row(f"Sensitivity: CWS with {rate} of the steps of every sequence labelled (scattered) against the baseline",
            f"top-10: CWS scattered {_mean(scattered, 'cws', 'val_top10'):.1f}%, baseline {_mean(main, 'baseline', 'val_top10'):.1f}%",
            [Judge(scattered, main.iloc[:0])("CWS scattered", "baseline", "cws", "baseline", rivals=main)],
            why=f"the same number of labelled steps ({steps[0]:.0f} against {steps[1]:.0f}) touches "
                f"{100 * chars[0]:.0f}% of the training characters scattered, {100 * chars[1]:.0f}% as whole sequences")
    if {"reinforce", "supervised_q"} <= set(main.method):
        row("Control: REINFORCE beats its own supervised term (the same q trained by cross-entropy on the labelled "
            "steps alone)", f"top-10: REINFORCE {_mean(main, 'reinforce', 'val_top10'):.1f}%, "
            f"supervised term alone {_mean(main, 'supervised_q', 'val_top10'):.1f}%",
            [plain("REINFORCE", "supervised term alone", "reinforce", "supervised_q")],
            why="reproduced: the score-function gradient adds to what the labels teach; contradicted: it takes away")
    if len(variable):
        for rival, label in (("ssws", "SSWS (eq. 14)"), ("ssws_normalised", "SSWS normalised")):
            if rival in set(variable.method):
                row(f"Sensitivity: variable pattern (rates drawn per sequence), CWS against {label}",
                    f"top-10: CWS {_mean(variable, 'cws', 'val_top10'):.1f}%, {label} "
                    f"{_mean(variable, rival, 'val_top10'):.1f}%",
                    [Judge(variable, variable.iloc[:0])("CWS", label, "cws", rival)])
    return out


def fig4_claim(frame, rate):
    """'Even at 12.5% supervision, sampled generations resemble the target sentence using SSWS or CWS'
    as a paired comparison: each method's legibility against that of the same generations with their
    ink destroyed (writing.destroyed_ink: segmentation, pen states and durations kept), paired by seed.
    The shuffled-character control is a second comparison; the text also gives CWS against the
    baseline and as a fraction of the ceiling's own legibility."""
    main, ceiling = frame[frame.group == "main"], frame[frame.group == "ceiling"]
    methods = [m for m in ("cws", "ssws") if m in set(main.method)]
    at = lambda m, col: verdicts.by_seed(main, "method", m, col)  # noqa: E731
    comparisons = [verdicts.paired(f"{LABELS[m]} generations", "the same with their ink destroyed",
                                   at(m, "legibility"), at(m, "ink_control_legibility")) for m in methods]
    shuffled = [verdicts.paired(f"{LABELS[m]} generations", "read against their characters shuffled",
                                at(m, "legibility"), at(m, "chance_legibility")) for m in methods]
    ours = "; ".join(f"{LABELS[m]}: legibility {_mean(main, m, 'legibility'):.1f}%, ink destroyed "
                     f"{_mean(main, m, 'ink_control_legibility'):.1f}%" for m in methods)
    if "baseline" in set(main.method) and len(ceiling):
        ours += (f"; baseline {_mean(main, 'baseline', 'legibility'):.1f}%; ceiling model "
                 f"{_mean(ceiling, 'baseline', 'legibility'):.1f}% (CWS reaches "
                 f"{_mean(main, 'cws', 'legibility') / max(_mean(ceiling, 'baseline', 'legibility'), 1e-9):.0%} of it)")
    distinct = int(main[main.method.isin(methods)].distinct_generations.min()) if methods else 0
    entry = verdicts.claim(
        f"Even at {rate} supervision, sampled generations resemble the target sentence using SSWS or CWS (Fig. 4)",
        "images only", ours, comparisons,
        why="legibility: the ceiling classifier's per-step top-1 against the characters each generation wrote; the "
            "control keeps each generation's segmentation, pen states, end-of-character flags and durations and gives "
            "every character the ink of another, so what it reads comes from everything but the letters' shapes",
        note=(f"second control, characters shuffled among the segments: " + "; ".join(c.text(100, " points") for c in shuffled)
              + (f"; the generations of a run are near-duplicates (as few as {distinct} distinct of a run's samples): "
                 "n is the seeds" if distinct <= 1 else "")))
    entry["shuffled"] = [vars(c) for c in shuffled]
    return entry


def build(params, run_dirs, data_path, out, plateau=()):
    """The page, its figures and its summary JSON (out: pages.Outputs) from the run folders and the plateau
    check's run folders (trained for half the steps: their metrics.json); params: the stage's Settings."""
    cfg = params["handwriting"]
    frame, curves = read_runs(EXPERIMENT, run_dirs)
    half = read_trained(plateau)
    main, sweep, variable, scattered, ceiling = (frame[frame.group == g]
                                                 for g in ("main", "rates", "variable", "scattered", "ceiling"))
    seeds = sorted(frame.seed.unique().tolist())
    with np.load(data_path) as data:
        mean, std, source = data["mean"], data["std"], str(data["source"])
        n_train, n_valid, seq_len = len(data["x_train"]), len(data["x_valid"]), data["x_train"].shape[1]
    summary_of = lambda runs, cols=TOPK + FORCED: summarise(runs, "method", list(cols), bounds=ACCURACY)  # noqa: E731
    main_summary, variable_summary, scattered_summary = summary_of(main), summary_of(variable), summary_of(scattered)
    ceiling_summary = summary_of(ceiling, TOPK)
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
    found = claims(frame, half, {"main": main_summary}, params["supervision_pattern"], params["supervision"])

    def rows(summary, label):
        return [{"label": label(r), "n": r.n, **{k: fmt_col(r, k, 100) for k in TOPK + FORCED if k in r}}
                for _, r in summary.iterrows()]
    by_method = lambda r: LABELS[r.method]  # noqa: E731
    numbers = lambda summary, cols=TOPK + FORCED: {r.method: {k: r[k] for k in cols}  # noqa: E731
                                                   for _, r in summary.iterrows()}
    write_json(out.summary, {
        "main": numbers(main_summary), "scattered": numbers(scattered_summary), "variable": numbers(variable_summary),
        "ceiling": numbers(ceiling_summary, TOPK),
        **{column: {f"{g}/{m}/{r:g}": float(v) for (g, m, r), v in
                    frame.groupby(["group", "method", "rate"])[column].mean().items()}
           for column in (*LEGIBILITY, "kl_per_step")},
        "label_budget": budget_rows(frame),
        "claims": found, "runs": list(map(str, run_dirs)), "plateau": list(map(str, plateau))})
    render("handwriting.html.j2", out.html, title="Handwriting: DVRNN on pen strokes (paper Fig. 3, 4)",
           claims=found, rule=verdicts.RULE, main_rows=rows(main_summary, by_method),
           scattered_rows=rows(scattered_summary, by_method), variable_rows=rows(variable_summary, by_method),
           ceiling_rows=rows(ceiling_summary, by_method), budget=budget_rows(frame),
           rate_rows=rows(rates_summary, lambda r: f"{LABELS[r.method]}, {100 * r.rate:g}%"), fig_left=left,
           legibility=legibility, plateau=plateau_rows(main, half), fig_samples=fig_samples,
           fig_right=right, fig_ink=fig_ink, cfg=cfg, params=params, source=source, n_train=n_train, n_valid=n_valid,
           seq_len=seq_len, profile=profile_of(params, ["handwriting"]), seeds=seeds)
    return found


def budget_rows(frame):
    """Each layout's label budget: labelled steps and the share of the training characters touched by a label."""
    rows = []
    for (group, pattern, method), part in frame.groupby(["group", "pattern", "method"], sort=False):
        if group in ("main", "scattered") and method in ("cws", "baseline"):
            rows.append({"label": f"{LABELS[method]}, {pattern}", "steps": int(part.labelled_steps.mean()),
                         "characters": int(part.labelled_characters.mean()),
                         "share": f"{100 * part.labelled_characters.mean() / part.characters.mean():.1f}"})
    return rows


def plateau_rows(main, half):
    """Per method of the plateau check: top-1 and top-10 of the first seed at half the steps and at all of them."""
    rows = []
    for _, h in half.iterrows():
        full = main[(main.method == h.method) & (main.seed == h.seed)]
        if len(full):
            rows.append({"label": LABELS[h.method], "seed": int(h.seed),
                         **{f"{k}_{when}": f"{100 * v:.1f}" for k in ("val_top1", "val_top10")
                            for when, v in (("half", h[k]), ("full", full[k].iloc[0]))}})
    return rows

"""One rule decides every verdict.

Runs are paired by seed: runs with the same seed share the data, the labelled subset and the
initial randomness, so the per-seed difference d_s = ours_s - theirs_s removes what the seeds
share.  The 95% t-interval of the mean of d_s over seeds then decides:

  reproduced     the interval excludes 0 in the paper's direction
  contradicted   the interval excludes 0 the other way
  inconclusive   the interval contains 0 (or there is one seed, and no interval)

A reproduced or contradicted comparison between trained runs stands only if it had settled: the
plateau check (`unless_moved`).  The first seed of both methods also trains for half the steps on
the same schedule (a cosine decay ends every run flat, so a slope at the end cannot tell whether
more training would move the gap).  Its difference at half the steps, moved by how far the first
seed's full-length difference lies from the mean, must keep the verdict's sign and lie inside the
interval: over the last doubling of training the gap moved less than the seeds' own uncertainty.
Otherwise the comparison is inconclusive (not converged).  Where no half-length runs exist (the
user's own sequences), the older slope condition (`unless_closing`) applies.

A claim that one method beats several (or holds at several rates) is reproduced when every
comparison is, contradicted when any is, and inconclusive otherwise.

  not testable   the claim's positive control (a comparison the data must show if the claim can be
                 asked of them at all) was not reproduced (`unless_testable`)
"""
import math
from dataclasses import asdict, dataclass, replace

import numpy as np

from pipeline import stats

RULE = ("Runs are paired by seed (same seed: same data, labelled subset and initial randomness). For each "
        "comparison we take the per-seed difference between the paper's winner and its rival and its 95% "
        "t-interval over seeds: reproduced when the interval excludes 0 in the paper's direction, contradicted "
        "when it excludes 0 the other way, inconclusive when it contains 0. A reproduced or contradicted comparison "
        "stands only if it had settled (the plateau check): the first seed of both methods also trains for half the "
        "steps on the same schedule, and its difference there, moved by how far that seed lies from the mean, must "
        "keep the verdict's sign and lie inside the interval; otherwise the comparison is inconclusive (not "
        "converged). A claim over several rivals or rates is reproduced when every comparison is, contradicted when "
        "any is, and inconclusive otherwise.")
CLOSING = 0.01          # a gap closing by more than this per epoch (one point of accuracy) blocks a verdict
ORDER = ("contradicted", "inconclusive", "reproduced")      # a combined verdict is the first that occurs
NOT_TESTABLE = "not testable"       # the data cannot decide the claim: its positive control was not reproduced


@dataclass
class Comparison:
    winner: str          # what the paper says comes out ahead
    rival: str
    diff: float          # mean over seeds of winner - rival (in the direction of the claim)
    low: float
    high: float
    n: int
    verdict: str
    seeds_needed: int = None   # inconclusive only: seeds an interval excluding 0 would take at this mean and spread
    closing: float = None      # not converged only: how fast the gap was closing at the last epochs, per epoch
    moved: float = None        # plateau check: the first seed's difference at full minus at half the steps
    settled: bool = None       # plateau check: True passed, False fired (verdict made inconclusive), None not run

    def text(self, scale=1.0, unit=""):
        if not np.isfinite(self.diff):
            return "n/a"
        if self.n < 2:
            return f"{self.diff * scale:+.1f}{unit} (one seed, no interval)"
        return f"{self.diff * scale:+.1f}{unit} [{self.low * scale:+.1f}, {self.high * scale:+.1f}]"


def paired(winner, rival, ours, theirs, higher_is_better=True, level=0.95):
    """The verdict on `winner beats rival` from {seed: value} of each: the t-interval of the paired
    differences over shared seeds (stats.paired_differences), read by the rule above."""
    d = stats.paired_differences(ours, theirs, higher_is_better)
    if len(d) == 0:
        return Comparison(winner, rival, math.nan, math.nan, math.nan, 0, "inconclusive")
    mean = float(d.mean())
    if len(d) < 2 or d.std(ddof=1) == 0:
        low = high = mean
        verdict = ("inconclusive" if len(d) < 2 else
                   "reproduced" if mean > 0 else "contradicted" if mean < 0 else "inconclusive")
        return Comparison(winner, rival, mean, low, high, len(d), verdict)
    _, low, high = stats.t_interval(d, level)
    verdict = "reproduced" if low > 0 else "contradicted" if high < 0 else "inconclusive"
    out = Comparison(winner, rival, mean, low, high, len(d), verdict)
    if verdict == "inconclusive":
        out.seeds_needed = stats.seeds_needed(d, level)
    return out


def paired_items(winner, rival, ours, theirs, level=0.95):
    """paired() when each run is scored item by item on items every seed shares (MNIST: each validation
    digit's correctness): {seed: per-item array} of each side.  The interval also carries the items'
    sampling noise (stats.seed_and_digit_interval); the verdict reads it by the same rule."""
    seeds = sorted(set(ours) & set(theirs))
    if not seeds:
        return Comparison(winner, rival, math.nan, math.nan, math.nan, 0, "inconclusive")
    d = np.stack([np.asarray(ours[s], float) - np.asarray(theirs[s], float) for s in seeds])
    mean, low, high = stats.seed_and_digit_interval(d, level)
    if len(seeds) < 2 or low == high:
        verdict = ("inconclusive" if len(seeds) < 2 else
                   "reproduced" if mean > 0 else "contradicted" if mean < 0 else "inconclusive")
    else:
        verdict = "reproduced" if low > 0 else "contradicted" if high < 0 else "inconclusive"
    out = Comparison(winner, rival, mean, low, high, len(seeds), verdict)
    if verdict == "inconclusive" and len(seeds) > 1:
        out.seeds_needed = stats.seeds_needed(d.mean(1), level)
    return out


def unless_closing(comparison, winner_gain, rival_gain, threshold=CLOSING):
    """The rule's convergence condition.  winner_gain, rival_gain: each side's validation gain per
    epoch at the end of training (gain_per_epoch).  A reproduced or contradicted comparison whose
    trailing side still gained more than `threshold` per epoch more than the leading side becomes
    inconclusive, with `closing` set: the verdict would rest on where training happened to stop."""
    c = comparison
    if c.verdict == "inconclusive" or not (np.isfinite(winner_gain) and np.isfinite(rival_gain)):
        return c
    closing = (rival_gain - winner_gain) if c.diff > 0 else (winner_gain - rival_gain)
    if closing <= threshold:
        return c
    return replace(c, verdict="inconclusive", closing=float(closing))


def unless_moved(comparison, full, half):
    """The rule's plateau check.  full, half: the first seed's difference (winner - rival, in the claim's
    direction) at the full and at half the steps.  The half-steps difference is moved by how far the
    first seed lies from the mean (mean - full + half); a reproduced or contradicted comparison stands
    when that keeps its sign and lies in [low, high], else it becomes inconclusive.  `moved` (full - half)
    and `settled` record the check, whatever the verdict; nan inputs leave the comparison unchecked."""
    c = comparison
    if not (np.isfinite(full) and np.isfinite(half) and np.isfinite(c.diff)):
        return c
    moved = float(full - half)
    at_half = c.diff - moved
    settled = bool(c.low <= at_half <= c.high and np.sign(at_half) == np.sign(c.diff))
    if c.verdict == "inconclusive" or settled:
        return replace(c, moved=moved, settled=settled)
    return replace(c, verdict="inconclusive", moved=moved, settled=False)


def paired_plateau(winner, rival, ours, theirs, half_ours, half_theirs, higher_is_better=True):
    """paired() with the plateau check: ours, theirs {seed: value} at the full steps; half_ours,
    half_theirs {seed: value} of the runs at half the steps (the first seed; empty: no check)."""
    c = paired(winner, rival, ours, theirs, higher_is_better)
    seeds = sorted(set(half_ours) & set(half_theirs) & set(ours) & set(theirs))
    if not seeds:
        return c
    sign = 1 if higher_is_better else -1
    s = seeds[0]
    return unless_moved(c, sign * (ours[s] - theirs[s]), sign * (half_ours[s] - half_theirs[s]))


def paired_trained(winner, rival, ours, theirs, ours_curves, theirs_curves, column):
    """paired() between trained runs, with the convergence condition: each side's per-epoch
    frames (one per seed) give its gain per epoch in `column` at the end of training."""
    return unless_closing(paired(winner, rival, ours, theirs), gain_per_epoch(ours_curves, column),
                          gain_per_epoch(theirs_curves, column))


def combine(comparisons):
    """The verdict of a claim made of several comparisons."""
    verdicts = {c.verdict for c in comparisons}
    return next((v for v in ORDER if v in verdicts), "inconclusive")


def closest(comparisons):
    """The comparison whose interval comes nearest the other side (the weakest link)."""
    return min(comparisons, key=lambda c: c.low if np.isfinite(c.low) else -math.inf)


def by_seed(frame, method_col, method, value):
    """{seed: value} of one method's runs in a frame of runs."""
    rows = frame[frame[method_col] == method]
    return dict(zip(rows.seed.astype(int), rows[value].astype(float)))


POINTS, RAW = (100.0, " points"), (1.0, "")      # a claim's units: (scale, unit) of its differences


def claim(text, paper, ours, comparisons, units=POINTS, why="", note=""):
    """A claim entry for the pages and the index: the verdict by the rule, the weakest comparison's
    difference and interval (in `units`: POINTS for fractions, RAW as they are), and what more seeds
    could do when it is inconclusive."""
    scale, unit = units
    verdict = combine(comparisons)
    weakest = closest(comparisons)
    advice = ""
    closing = [c for c in comparisons if c.closing is not None]
    unsettled = [c for c in comparisons if c.settled is False]
    if verdict == "inconclusive" and unsettled:
        worst = max(unsettled, key=lambda c: abs(c.moved))
        advice = (f"not converged: from half the steps to all of them the gap {worst.winner} - {worst.rival} moved by "
                  f"{worst.moved * scale:+.1f}{unit} (first seed), so the verdict at half the steps would lie outside "
                  f"the interval {worst.text(scale, unit)}: it waits for longer training (raise the profile's "
                  f"`epochs` or `steps`)")
    elif verdict == "inconclusive" and closing:
        fastest = max(closing, key=lambda c: c.closing)
        advice = (f"not converged: the gap {fastest.winner} - {fastest.rival} ({fastest.text(scale, unit)}) was closing by "
                  f"{fastest.closing * scale:.1f}{unit} per epoch when training stopped, so this verdict waits for longer "
                  f"training (raise the profile's `epochs` in params.yaml)")
    elif verdict == "inconclusive":
        needs = [c.seeds_needed for c in comparisons if c.verdict == "inconclusive"]
        if any(n is None for n in needs):
            advice = ("the mean difference is zero or tiny against its seed-to-seed spread: more seeds would not "
                      "settle it at a reasonable cost")
        elif needs:
            advice = (f"seed noise: at this mean and spread, about {max(needs)} seeds would give an interval "
                      f"clear of 0 (set `seeds` in params.yaml, run `python -m pipeline.graph`, then `make repro`)")
    return {"claim": text, "paper": paper, "ours": ours, "verdict": verdict,
            "difference": f"{weakest.winner} - {weakest.rival}: {weakest.text(scale, unit)}",
            "plateau": plateau_text(comparisons, scale, unit),
            "comparisons": [asdict(c) for c in comparisons], "why": "; ".join(x for x in (why, advice, note) if x)}


def plateau_text(comparisons, scale=100.0, unit=" points"):
    """What the plateau check found for a claim's comparisons, one phrase each ('' when none was checked)."""
    parts = [f"{c.winner} - {c.rival} moved {c.moved * scale:+.1f}{unit} from half the steps to all "
             f"({'settled' if c.settled else 'not settled'})" for c in comparisons if c.moved is not None]
    return "; ".join(parts)


def gain_per_epoch(frames, column):
    """Validation `column`'s gain per epoch at the end of training: stats.end_slope (the least-squares
    slope over the last third of the epochs, at least three), mean over runs; nan without enough
    epochs.  frames: per-epoch DataFrames (one per run)."""
    slopes = [s for s in (stats.end_slope(f[column].to_numpy(dtype=float)) for f in frames) if np.isfinite(s)]
    return float(np.mean(slopes)) if slopes else math.nan


def still_rising(curves, column, labels, threshold=CLOSING, scale=100.0):
    """A note for a claim whose compared runs had not finished learning: when some method's
    validation `column` still gained more than `threshold` per epoch at the end (gain_per_epoch),
    each method's gain per epoch; '' when every curve has flattened.
    curves: {method: [per-epoch DataFrame of each seed]}; labels: {method: name}."""
    gains = {m: gain_per_epoch(frames, column) for m, frames in curves.items()}
    gains = {m: g for m, g in gains.items() if np.isfinite(g)}
    if not gains or max(gains.values()) <= threshold:
        return ""
    listed = ", ".join(f"{labels[m]} {scale * g:+.1f}" for m, g in gains.items())
    return (f"still learning: gain per epoch at the end of training ({column}, points; slope over the last third "
            f"of the epochs): {listed}")


def unless_testable(claims, control):
    """Claim entries as they are when `control` (a claim entry: the positive control that shows the data
    can decide them) is reproduced; otherwise each becomes NOT_TESTABLE, saying why and what the rule
    alone would have said."""
    if control["verdict"] == "reproduced":
        return claims
    why = (f"not testable on these data: the positive control ({control['claim']}; {control['difference']}) is "
           f"{control['verdict']}, so the data do not reward labels even when every one is given")
    return [{**c, "verdict": NOT_TESTABLE, "why": "; ".join(x for x in (why, f"the rule alone: {c['verdict']}", c["why"]) if x)}
            for c in claims]

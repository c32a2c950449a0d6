"""The statistics over seeds, in one place: numpy, and scipy.stats for the t quantile (no torch, no
pandas), so report code may use it.

The t-interval of a sample x_1..x_n at `level`:
    mean +- t_{(1 + level) / 2, n - 1} * sd / sqrt(n),   sd the sample standard deviation (ddof=1).
Runs are paired by seed: d_s = ours_s - theirs_s over the seeds both have.

Where Table 1's spread comes from (`decompose`): a random-effects decomposition of per-step scores
over training seeds, test windows and steps, for one fly.  A Table 1 entry for one seed is the mean
over W windows of the sum over H steps of a per-step log density.  Over seeds s and windows w (the
same windows for every seed) its window totals follow
    T[s, w] = mu + a_s + b_w + e_sw,   Var a = seed, Var b = window, Var e = seed_x_window,
and the seed-to-seed variance of an entry, which sets the width of the paired interval, is
    seed + seed_x_window / W:
the first part no number of windows removes, the second falls with more windows.  The window part
b_w is shared by every seed and cancels.  The components are the method-of-moments (ANOVA)
estimates for a balanced crossed design with one value per cell, truncated at zero.
"""
import math

import numpy as np
from scipy import stats


def half_width(sd, n, level=0.95):
    """The t-interval's half-width for n values of sample sd: t_{(1 + level) / 2, n - 1} * sd / sqrt(n)."""
    return stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)


def t_interval(values, level=0.95, bounds=None):
    """(mean, low, high): mean +- half_width over the finite values (None skipped); one value gives a
    zero-width interval, none gives nans.  bounds=(lo, hi) clips the interval to the quantity's range
    (accuracies: (0, 1))."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    m = v.mean()
    if len(v) < 2:
        return (m, m, m)
    half = half_width(v.std(ddof=1), len(v), level)
    low, high = m - half, m + half
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return (m, low, high)


def paired_differences(ours, theirs, higher_is_better=True):
    """d_s = ours_s - theirs_s (negated when lower is better) over the seeds both {seed: value} have,
    in seed order, finite ones only."""
    seeds = sorted(set(ours) & set(theirs))
    d = np.array([ours[s] - theirs[s] for s in seeds], dtype=float) * (1 if higher_is_better else -1)
    return d[np.isfinite(d)]


def seed_and_digit_interval(d, level=0.95):
    """(mean, low, high) of a paired difference scored per seed and per evaluation item: d[s, i] =
    ours - theirs on item i (e.g. a validation digit's 1/0 correctness) of the runs of seed s, with the
    same items for every seed.  The items are a sample too, and one every seed shares, so the seed-level
    t-interval of the per-seed means d_s misses their noise.  Over d[s, i] = mu + a_s + b_i + e_si:
        Var(mean d) = Var a / S + Var b / N + Var e / (S N),
    estimated as sd(d_s)^2 / S (the seed-level t-interval's: Var a / S + Var e / (S N)) plus the items'
    component Var b / N (components(d)["window"]: (MS_item - MS_residual) / S, floored at 0), and
        mean +- t_{(1 + level) / 2, S - 1} * sqrt(that).
    With no item effect it is the seed-level t-interval of d_s; one seed gives a zero-width interval."""
    d = np.asarray(d, np.float64)
    S, N = d.shape
    mean = float(d.mean())
    if S < 2:
        return (mean, mean, mean)
    variance = float(np.var(d.mean(1), ddof=1)) / S + (components(d)["window"] / N if N > 1 else 0.0)
    half = stats.t.ppf(0.5 + level / 2, S - 1) * math.sqrt(variance)
    return (mean, mean - half, mean + half)


def seeds_needed(d, level=0.95, cap=1000):
    """The smallest n with half_width(sd(d), n) < |mean(d)|, at this sample's spread
    (None when the mean is 0 or n would exceed `cap`)."""
    mean, sd = abs(float(np.mean(d))), float(np.std(d, ddof=1))
    if mean == 0:
        return None
    for n in range(len(d) + 1, cap + 1):
        if half_width(sd, n, level) < mean:
            return n
    return None


def end_slope(values):
    """The least-squares slope per step over the last third of `values` (at least three); nan with
    fewer than three values or a non-finite one in that tail."""
    values = np.asarray(values, dtype=float)
    tail = values[-max(3, len(values) // 3):]
    if len(values) < 3 or not np.isfinite(tail).all():
        return math.nan
    return np.polyfit(np.arange(len(tail)), tail, 1)[0]


def components(totals):
    """Variance components of a [S seeds, W windows] table, {"seed", "window", "seed_x_window"}:
    (MS_seed - MS_res) / W, (MS_window - MS_res) / S (both floored at 0) and MS_res."""
    t = np.asarray(totals, np.float64)
    S, W = t.shape
    grand, by_seed, by_window = t.mean(), t.mean(1), t.mean(0)
    ms_seed = W * ((by_seed - grand) ** 2).sum() / (S - 1)
    ms_window = S * ((by_window - grand) ** 2).sum() / (W - 1)
    residual = t - by_seed[:, None] - by_window[None] + grand
    ms_residual = (residual ** 2).sum() / ((S - 1) * (W - 1))
    return {"seed": max((ms_seed - ms_residual) / W, 0.0), "window": max((ms_window - ms_residual) / S, 0.0),
            "seed_x_window": ms_residual}


def entry_variance(parts, windows):
    """The seed-to-seed variance of a Table 1 entry from its components: seed + seed_x_window / W."""
    return parts["seed"] + parts["seed_x_window"] / windows


def seed_deviations(steps):
    """x[s, w, ...] - mean_s x[s, w, ...], [S, W, ...] -> [S, W, ...]: what differs between seeds,
    with the windows' and steps' difficulty removed."""
    steps = np.asarray(steps, np.float64)
    return steps - steps.mean(0, keepdims=True)


def top_share(values, fraction):
    """The share of sum(values) carried by the largest `fraction` of them (at least one)."""
    v = np.sort(np.asarray(values, np.float64).ravel())[::-1]
    k = max(1, int(round(fraction * v.size)))
    total = v.sum()
    return float(v[:k].sum() / total) if total > 0 else 0.0


def decompose(steps, floor=None):
    """The decomposition of one model's (or one paired difference's) per-step scores [S, W, H].

    Returns the components of the window totals, the entry's seed-to-seed standard deviation
    sqrt(entry_variance), the share seed / entry_variance that more windows would not remove, and how
    concentrated the seeds' differences are: the share of the squared seed deviations of the window
    totals carried by the top eighth of (seed, window) cells, and of the per-step squared deviations
    carried by the top twentieth of steps; plus, given a `floor` (e.g. the log density of a uniform
    guess over the dish, per window [W, 1]), the fraction of steps scored below it (gross misses) and
    the share of the squared step deviations they carry."""
    steps = np.asarray(steps, np.float64)
    S, W, H = steps.shape
    totals = steps.sum(-1)
    parts = components(totals)
    variance = entry_variance(parts, W)
    window_dev = seed_deviations(totals) ** 2
    step_dev = seed_deviations(steps) ** 2
    out = {**parts, "entry_sd": float(np.sqrt(variance)),
           "seed_share": float(parts["seed"] / variance) if variance > 0 else 0.0,
           "top_cells_share": top_share(window_dev, 1 / 8), "top_steps_share": top_share(step_dev, 1 / 20)}
    if floor is not None:
        gross = np.broadcast_to(steps < floor, steps.shape)
        out.update(gross_fraction=float(gross.mean()),
                   gross_share=float(step_dev[gross].sum() / step_dev.sum()) if step_dev.sum() > 0 else 0.0)
    return out

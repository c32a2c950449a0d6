"""Gaussian kernel density scores of sampled fly positions (paper Table 1, Fig. 6): numpy only, so
report code may use them.  Per step and fly, a KDE of the K sampled positions scores the true one.

The paper gives no bandwidth.  Three rules are computed:
  Scott     per model, per step: n^(-1/6) times each coordinate's sample deviation (concentrated
            samples get narrow kernels, so the rule itself can decide a ranking)
  fixed     the same bandwidth (mm) for every model: FIXED_MM
  shared    one bandwidth for every model, chosen from GRID_MM on validation windows only
            (select_bandwidth), then used on the test windows
  defensive (1 - eps) * KDE + eps * uniform over the dish, each kernel renormalised to the dish, so
            that it is a density of the true position over the dish; bandwidth and eps chosen
            together from GRID_MM x EPSILONS on validation windows only (select_rule): the rule the
            verdicts use.  A gross miss then costs at most about log(eps / dish area) a step instead
            of a penalty growing with the square of the miss distance.
"""
import math

import numpy as np
from scipy.special import chndtr

FIXED_MM = (0.5, 1.0, 2.0, 4.0)
GRID_MM = tuple(round(0.25 * 2 ** (i / 2), 3) for i in range(11))     # 0.25 ... 8 mm in steps of sqrt(2)
EPSILONS = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3)                 # the defensive rule's uniform share


def scott_bandwidth(samples, floor):
    """Per-dimension bandwidth n^(-1/(d+4)) * std (Scott's rule), never below `floor`."""
    n, d = samples.shape[-2:]
    return np.maximum(samples.std(axis=-2, ddof=1) * n ** (-1.0 / (d + 4)), floor)


def kde_log_density(samples, points, floor=0.05, bandwidth=None):
    """log of a Gaussian KDE (diagonal) of samples [..., n, d] at points [..., d]: Scott's rule, or
    the given bandwidth in every dimension."""
    if bandwidth is None:
        h = scott_bandwidth(samples, floor)[..., None, :]
    else:
        h = np.full(samples.shape[:-2] + (1, samples.shape[-1]), float(bandwidth))
    z = (points[..., None, :] - samples) / h
    log_k = -0.5 * (z ** 2).sum(-1) - np.log(h).sum(-1) - 0.5 * samples.shape[-1] * math.log(2 * math.pi)
    return np.logaddexp.reduce(log_k, axis=-1) - math.log(samples.shape[-2])


def kde_scores(positions, truth, floor=0.05, bandwidth=None):
    """Per step and fly, log KDE density of the true position: positions [K, H, 2, 2], truth [H, 2, 2] -> [H, 2]."""
    samples = np.moveaxis(np.asarray(positions, np.float64), 0, -2)      # [H, 2, K, 2]
    return kde_log_density(samples, np.asarray(truth, np.float64), floor, bandwidth)


def window_totals(positions, truths, floor=0.05, bandwidth=None):
    """Per window and fly, the log density summed over the horizon: positions [n, K, H, 2, 2],
    truths [n, H, 2, 2] -> [n, 2] (a Table 1 entry is its mean over windows)."""
    return np.stack([kde_scores(p, t, floor, bandwidth).sum(0) for p, t in zip(positions, truths)])


def select_bandwidth(valid_totals):
    """The shared bandwidth: the grid value with the highest total validation log density,
    {bandwidth: total over models, seeds, windows and flies} -> bandwidth.  Test windows never enter."""
    return max(sorted(valid_totals), key=lambda h: valid_totals[h])


def table1_scores(valid_grids, valid_defensive, test, floor=0.05):
    """Table 1 under the two rules chosen on validation windows before any test window is scored.

    valid_grids: {run: {bandwidth: total validation log density}} (the shared rule);
    valid_defensive: {run: {bandwidth: {eps: total}}} (the defensive rule); test: {run: {"positions",
    "truth", "radius", and optionally "filter_positions"}} of the test windows.  Each rule is chosen
    from the validation totals summed over runs; only then are the test continuations scored with
    it.  Returns the numbers and, per run, each rule's per-step scores {"defensive", "shared":
    [n, H, 2]} (for the variance decomposition)."""
    grid = {h: sum(float(g[h]) for g in valid_grids.values()) for h in next(iter(valid_grids.values()))}
    first = next(iter(valid_defensive.values()))
    defensive = {h: {e: sum(float(g[h][e]) for g in valid_defensive.values()) for e in first[h]} for h in first}
    h = float(select_bandwidth(grid))
    h_def, eps = select_rule(defensive)
    runs, steps = {}, {}
    for run, arrays in test.items():
        truth, radius = arrays["truth"], arrays["radius"]
        runs[run], steps[run] = scored_by_rules(arrays["positions"], truth, radius, (h, h_def, eps), floor)
        if "filter_positions" in arrays:
            filtered = defensive_scores(arrays["filter_positions"], truth, radius, h_def, (eps,))[0].sum(1).mean(0)
            runs[run].update(filter_fly1=float(filtered[0]), filter_fly2=float(filtered[1]))
    numbers = {"bandwidth_mm": h, "valid_total_by_bandwidth": grid, "defensive_bandwidth_mm": h_def,
               "defensive_eps": eps, "valid_defensive_totals": defensive, "runs": runs}
    return numbers, steps


def scored_by_rules(positions, truth, radius, rules, floor=0.05):
    """Test continuations [n, K, H, 2, 2] scored by chosen rules (shared bandwidth, defensive bandwidth,
    defensive eps): ({kde_fly1/2: shared, defensive_fly1/2: defensive totals, mean over windows},
    {"shared", "defensive": per-step scores [n, H, 2]}).  Table 1's runs and its bounds alike."""
    h, h_def, eps = rules
    shared = np.stack([kde_scores(p, t, floor, h) for p, t in zip(positions, truth)])
    defensive = defensive_scores(positions, truth, radius, h_def, (eps,))[0]
    totals, robust = shared.sum(1).mean(0), defensive.sum(1).mean(0)
    return ({"kde_fly1": float(totals[0]), "kde_fly2": float(totals[1]),
             "defensive_fly1": float(robust[0]), "defensive_fly2": float(robust[1])},
            {"defensive": defensive, "shared": shared})


def dish_mass(centres, radius, bandwidth):
    """Mass inside the dish |x| <= radius of each isotropic Gaussian N(centre, bandwidth^2 I) in 2-D:
    centres [..., 2], radius broadcastable to [...] -> [...] (a non-central chi-square with 2 degrees
    of freedom, scipy's chndtr)."""
    radius = np.asarray(radius, np.float64)
    return chndtr((radius / bandwidth) ** 2, 2, (np.asarray(centres, np.float64) ** 2).sum(-1) / bandwidth ** 2)


def defensive_log_density(samples, points, radius, bandwidth, epsilons=EPSILONS):
    """log[(1 - eps) * KDE_dish(points) + eps / (pi r^2)] for each eps: samples [..., n, 2], points
    [..., 2], radius broadcastable to [...] -> [len(epsilons), ...].  KDE_dish's kernels are Gaussians
    of the given bandwidth, each divided by its mass inside the dish, so every eps gives a density
    that integrates to 1 over the dish (eps = 0: the dish-truncated KDE)."""
    samples, points = np.asarray(samples, np.float64), np.asarray(points, np.float64)
    radius = np.broadcast_to(np.asarray(radius, np.float64), points.shape[:-1])
    z = (points[..., None, :] - samples) / bandwidth
    log_mass = np.log(np.maximum(dish_mass(samples, radius[..., None], bandwidth), 1e-300))
    log_k = -0.5 * (z ** 2).sum(-1) - 2 * math.log(bandwidth) - math.log(2 * math.pi) - log_mass
    log_kde = np.logaddexp.reduce(log_k, axis=-1) - math.log(samples.shape[-2])
    log_uniform = -np.log(math.pi * radius ** 2)
    return np.stack([log_kde if e == 0 else np.logaddexp(math.log1p(-e) + log_kde, math.log(e) + log_uniform)
                     for e in epsilons])


def defensive_scores(positions, truths, radii, bandwidth, epsilons=EPSILONS):
    """Per eps, window, step and fly, the defensive log density of the true position: positions
    [n, K, H, 2, 2], truths [n, H, 2, 2], radii [n] -> [len(epsilons), n, H, 2]."""
    return np.stack([defensive_log_density(np.moveaxis(np.asarray(p), 0, -2), t, r, bandwidth, epsilons)
                     for p, t, r in zip(positions, truths, radii)], 1)


def validation_grids(positions, truths, radii, floor=0.05):
    """Both rules' candidates on validation windows, each a mean over windows of the log density
    summed over steps and flies: ({bandwidth: total} for the shared rule, {bandwidth: {eps: total}}
    for the defensive rule), keys as strings (JSON)."""
    shared = {str(h): float(window_totals(positions, truths, floor, h).sum(-1).mean()) for h in GRID_MM}
    defensive = {}
    for h in GRID_MM:
        totals = defensive_scores(positions, truths, radii, h).sum((2, 3)).mean(1)        # [E]
        defensive[str(h)] = {str(e): float(t) for e, t in zip(EPSILONS, totals)}
    return shared, defensive


def select_rule(valid_totals):
    """The defensive rule's (bandwidth, eps): the pair with the highest total validation log density,
    {bandwidth: {eps: total over models, seeds, windows and flies}} -> (bandwidth, eps)."""
    pairs = {(float(h), float(e)): float(total) for h, row in valid_totals.items() for e, total in row.items()}
    return max(sorted(pairs), key=pairs.get)

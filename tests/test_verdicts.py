"""The one verdict rule (paired by seed, 95% t-interval of the difference) on constructed differences,
and the bandwidth selection that Table 1's verdicts use."""
import math

import numpy as np
import pytest
from scipy import stats

from pipeline.evaluate.kde import (FIXED_MM, GRID_MM, defensive_log_density, dish_mass, kde_log_density,
                                   select_bandwidth, select_rule, table1_scores,
                                   validation_grids, window_totals)
from pipeline.report import verdicts
from pipeline.stats import seeds_needed


def pair(diffs, base=0.5):
    theirs = {s: base for s in range(len(diffs))}
    return {s: base + d for s, d in enumerate(diffs)}, theirs


@pytest.mark.parametrize("diffs, expected", [
    ([0.02, 0.03, 0.04], "reproduced"),
    ([-0.02, -0.03, -0.04], "contradicted"),
    ([0.05, -0.04, 0.02], "inconclusive"),
    ([0.03], "inconclusive"),                      # one seed: no interval
])
def test_the_rule_on_constructed_differences(diffs, expected):
    c = verdicts.paired("A", "B", *pair(diffs))
    assert c.verdict == expected
    if len(diffs) > 1:
        d = np.array(diffs)
        half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        assert (c.diff, c.low, c.high) == pytest.approx((d.mean(), d.mean() - half, d.mean() + half))


def test_lower_is_better_flips_the_direction_and_only_shared_seeds_count():
    ours, theirs = {0: 1.0, 1: 1.1, 2: 0.9, 7: 99.0}, {0: 2.0, 1: 2.2, 2: 1.9}
    assert verdicts.paired("A", "B", ours, theirs, higher_is_better=False).verdict == "reproduced"
    c = verdicts.paired("A", "B", ours, theirs)
    assert c.verdict == "contradicted" and c.n == 3


def test_pairing_by_seed_removes_what_the_seeds_share():
    """Seed effects much larger than the difference: unpaired intervals overlap, the paired one decides."""
    shared = {0: 0.2, 1: 0.6, 2: 0.9}
    ours, theirs = {s: v + 0.01 for s, v in shared.items()}, dict(shared)
    assert verdicts.paired("A", "B", ours, theirs).verdict == "reproduced"


def test_a_claim_over_several_comparisons():
    yes = verdicts.paired("A", "B", *pair([0.02, 0.03, 0.04]))
    no = verdicts.paired("A", "C", *pair([-0.02, -0.03, -0.04]))
    maybe = verdicts.paired("A", "D", *pair([0.05, -0.04, 0.02]))
    assert verdicts.combine([yes, yes]) == "reproduced"
    assert verdicts.combine([yes, maybe]) == "inconclusive"
    assert verdicts.combine([yes, maybe, no]) == "contradicted"
    entry = verdicts.claim("A beats all", "-", "-", [yes, maybe])
    assert entry["verdict"] == "inconclusive" and entry["difference"].startswith("A - D")
    assert "seeds would give an interval clear of 0" in entry["why"]


def test_seeds_needed_is_where_the_interval_first_clears_zero():
    d = np.array([0.05, -0.02, 0.03])
    n = seeds_needed(d)
    half = lambda k: stats.t.ppf(0.975, k - 1) * d.std(ddof=1) / math.sqrt(k)  # noqa: E731
    assert half(n) < d.mean() <= half(n - 1)


# ---------------------------------------------------------------- the shared bandwidth
def _continuations(rng, n=4, K=100, H=5, sd=2.0):
    truth = rng.normal(size=(n, H, 2, 2)) * 5
    return truth[:, None] + sd * rng.normal(size=(n, K, H, 2, 2)), truth


def _grids(runs):
    return {run: validation_grids(p, t, np.full(len(p), RADIUS)) for run, (p, t) in runs.items()}


RADIUS = 30.0


def test_both_rules_are_chosen_on_validation_and_never_read_the_test_windows():
    rng = np.random.default_rng(0)
    grids = _grids({run: _continuations(rng) for run in ("a", "b")})
    shared, defensive = {r: g[0] for r, g in grids.items()}, {r: g[1] for r, g in grids.items()}
    test = {run: dict(zip(("positions", "truth"), _continuations(rng)), radius=np.full(4, RADIUS)) for run in ("a", "b")}
    result, steps = table1_scores(shared, defensive, test)
    garbage = {run: {**a, "positions": np.full_like(a["positions"], np.nan)} for run, a in test.items()}
    with np.errstate(invalid="ignore"):
        again, _ = table1_scores(shared, defensive, garbage)
    assert (again["bandwidth_mm"], again["defensive_bandwidth_mm"], again["defensive_eps"]) == \
        (result["bandwidth_mm"], result["defensive_bandwidth_mm"], result["defensive_eps"])
    h = result["bandwidth_mm"]
    assert 0.5 <= h <= 2.0                         # near the best kernel for 100 samples of sd 2 mm (about 0.9)
    expected = window_totals(test["a"]["positions"], test["a"]["truth"], bandwidth=h).mean(0)
    assert result["runs"]["a"]["kde_fly1"] == pytest.approx(expected[0])
    assert steps["a"]["defensive"].shape == steps["a"]["shared"].shape == (4, 5, 2)
    assert result["runs"]["a"]["defensive_fly2"] == pytest.approx(steps["a"]["defensive"][..., 1].sum(1).mean())
    assert result["runs"]["a"]["kde_fly2"] == pytest.approx(steps["a"]["shared"][..., 1].sum(1).mean())
    # the samples cover the truth well: no gross misses, so no uniform share is needed
    assert result["defensive_eps"] <= 0.003
    wider = {run: (p * 0 + t[:, None] + 8 * rng.normal(size=p.shape), t) for run, (p, t) in
             {run: _continuations(rng) for run in ("a", "b")}.items()}
    wide = _grids(wider)
    chosen, _ = table1_scores({r: g[0] for r, g in wide.items()}, {r: g[1] for r, g in wide.items()}, test)
    assert chosen["bandwidth_mm"] > h and chosen["defensive_bandwidth_mm"] > h     # they follow the validation data


def test_the_defensive_rule_takes_a_uniform_share_when_validation_has_gross_misses():
    rng = np.random.default_rng(1)
    p, t = _continuations(rng, sd=0.5)
    p[:, :, 2:] += 15.0                            # the continuations lose the fly after two steps
    shared, defensive = validation_grids(p, t, np.full(len(p), RADIUS))
    h, eps = select_rule(defensive)
    assert eps >= 0.01
    # a miss is then capped near log(eps / dish area) a step; the plain KDE's penalty grows with the miss
    capped = defensive_log_density(p[0, :, 4, 0], t[0, 4, 0], RADIUS, h, (eps,))[0]
    assert capped >= math.log(eps / (math.pi * RADIUS ** 2)) - 1e-9
    assert kde_log_density(p[0, :, 4, 0], t[0, 4, 0], bandwidth=h) < capped - 5


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_the_defensive_density_integrates_to_one_over_the_dish(eps):
    rng = np.random.default_rng(2)
    r, h = 10.0, 1.5
    angle = rng.uniform(0, 2 * np.pi, 20)
    samples = np.stack([np.cos(angle), np.sin(angle)], -1) * rng.uniform(7, 9.5, (20, 1))   # near the wall
    rho, theta = np.meshgrid((np.arange(400) + 0.5) / 400 * r, (np.arange(720) + 0.5) / 720 * 2 * np.pi, indexing="ij")
    points = np.stack([rho * np.cos(theta), rho * np.sin(theta)], -1)
    dA = (r / 400) * (2 * np.pi / 720) * rho
    density = np.exp(defensive_log_density(samples, points, r, h, (eps,))[0])
    assert (density * dA).sum() == pytest.approx(1.0, abs=2e-3)
    # the plain KDE loses the kernels' mass beyond the wall: the test can fail
    plain = np.exp(kde_log_density(np.broadcast_to(samples, points.shape[:-1] + samples.shape), points, bandwidth=h))
    assert (plain * dA).sum() < 0.95


def test_dish_mass_is_the_gaussian_mass_inside_the_dish():
    rng = np.random.default_rng(3)
    centre, r, h = np.array([3.0, 4.0]), 6.0, 2.0
    draws = centre + h * rng.normal(size=(200_000, 2))
    assert dish_mass(centre, r, h) == pytest.approx((np.linalg.norm(draws, axis=-1) <= r).mean(), abs=3e-3)
    assert dish_mass(np.zeros(2), r, h) == pytest.approx(1 - math.exp(-r ** 2 / (2 * h ** 2)))


def test_select_bandwidth_takes_the_best_total_and_the_grid_holds_the_fixed_values():
    assert select_bandwidth({"0.5": -10.0, "1.0": -3.0, "2.0": -7.0}) == "1.0"
    assert set(FIXED_MM) <= set(GRID_MM)


def test_a_claim_notes_when_its_runs_were_still_learning():
    import pandas as pd
    flat = [pd.DataFrame({"acc": [0.1, 0.5, 0.60, 0.60, 0.605]})] * 2
    rising = [pd.DataFrame({"acc": [0.1, 0.2, 0.30, 0.40, 0.50]})] * 2
    labels = {"a": "A", "b": "B"}
    assert verdicts.still_rising({"a": flat, "b": flat}, "acc", labels) == ""
    note = verdicts.still_rising({"a": rising, "b": flat}, "acc", labels)
    assert "still learning" in note and "A +10.0" in note and "B +0.3" in note


def test_gain_per_epoch_is_the_slope_of_the_last_third_averaged_over_runs():
    import pandas as pd
    run = lambda values: pd.DataFrame({"acc": values})  # noqa: E731
    # 9 epochs: the last three (0.5, 0.6, 0.9) have slope 0.2; the early epochs do not count
    assert verdicts.gain_per_epoch([run([0, 0, 0, 0, 0, 0.9, 0.5, 0.6, 0.9])], "acc") == pytest.approx(0.2)
    # 12 epochs: the last four; two runs average
    a, b = run(np.r_[np.zeros(8), [0.1, 0.2, 0.3, 0.4]]), run(np.r_[np.ones(8), [0.5, 0.5, 0.5, 0.5]])
    assert verdicts.gain_per_epoch([a, b], "acc") == pytest.approx(0.05)
    assert np.isnan(verdicts.gain_per_epoch([run([0.1, 0.2])], "acc"))


def test_a_decisive_verdict_waits_while_the_gap_is_closing():
    ahead = verdicts.paired("A", "B", {0: 0.8, 1: 0.81, 2: 0.82}, {0: 0.6, 1: 0.62, 2: 0.6})
    behind = verdicts.paired("A", "B", {0: 0.6, 1: 0.62, 2: 0.6}, {0: 0.8, 1: 0.81, 2: 0.82})
    assert ahead.verdict == "reproduced" and behind.verdict == "contradicted"
    # the paper's winner trails and still gains 3 points per epoch against 0.5: not converged
    waiting = verdicts.unless_closing(behind, 0.03, 0.005)
    assert waiting.verdict == "inconclusive" and waiting.closing == pytest.approx(0.025)
    assert waiting.diff == behind.diff and waiting.low == behind.low
    # the leader gaining faster (the gap opens), or both flat: the verdict stands
    assert verdicts.unless_closing(ahead, 0.03, 0.005).verdict == "reproduced"
    assert verdicts.unless_closing(behind, 0.004, 0.0).verdict == "contradicted"
    assert verdicts.unless_closing(behind, 0.03, 0.025).verdict == "contradicted"     # closing by 0.5 points only
    # the rival trails and catches up: that blocks a "reproduced" the same way
    assert verdicts.unless_closing(ahead, 0.0, 0.02).verdict == "inconclusive"
    # no curves (nan): the interval alone decides
    assert verdicts.unless_closing(behind, float("nan"), 0.0).verdict == "contradicted"
    entry = verdicts.claim("A beats B", "", "", [waiting])
    assert entry["verdict"] == "inconclusive"
    assert "not converged" in entry["why"] and "2.5 points per epoch" in entry["why"] and "epochs" in entry["why"]


def test_per_digit_verdicts_widen_the_seed_interval_by_the_digits_noise():
    """paired_items: a gap every seed shows alike on the same digits is reproduced by the seed-level
    interval, but when it rests on a few digits the digits' own noise can leave it inconclusive."""
    rng = np.random.default_rng(0)
    n = 200
    ours, theirs = {}, {}
    for s in range(5):
        theirs[s] = np.zeros(n)
        ours[s] = np.zeros(n)
        ours[s][:6] = 1                                # the same six digits flip on every seed ...
        ours[s][6 + s] = rng.integers(0, 2)           # ... and a little seed noise
    by_seed = verdicts.paired("A", "B", {s: v.mean() for s, v in ours.items()}, {s: v.mean() for s, v in theirs.items()})
    by_digit = verdicts.paired_items("A", "B", ours, theirs)
    assert by_seed.verdict == "reproduced" and by_digit.diff == pytest.approx(by_seed.diff)
    assert by_digit.low < by_seed.low and by_digit.high > by_seed.high
    spread = {s: np.r_[np.ones(100), np.zeros(100)] for s in range(5)}      # a gap of 50 points on every digit
    assert verdicts.paired_items("A", "B", spread, {s: np.zeros(200) for s in range(5)}).verdict == "reproduced"
    assert verdicts.paired_items("A", "B", {0: np.ones(3)}, {0: np.zeros(3)}).verdict == "inconclusive"   # one seed


def test_the_plateau_check_fires_when_the_rival_was_still_closing_the_gap():
    """A constructed still-improving rival: at half the steps it trailed by 12 points, at all of them by
    4; the seeds agree, so the interval is narrow and excludes 0, but over the last doubling the gap
    moved by more than the interval allows: not converged."""
    ours, theirs = {0: 0.80, 1: 0.81, 2: 0.79}, {0: 0.76, 1: 0.77, 2: 0.755}
    half_ours, half_theirs = {0: 0.78}, {0: 0.66}
    c = verdicts.paired_plateau("A", "B", ours, theirs, half_ours, half_theirs)
    assert c.verdict == "inconclusive" and c.settled is False and c.moved == pytest.approx(-0.08)
    entry = verdicts.claim("A beats B", "", "", [c])
    assert "not converged" in entry["why"] and "not settled" in entry["plateau"]
    # the same runs with a rival that had stopped improving: the verdict stands, the check is recorded
    settled = verdicts.paired_plateau("A", "B", ours, theirs, {0: 0.795}, {0: 0.755})
    assert settled.verdict == "reproduced" and settled.settled is True
    # without half-length runs nothing is checked
    assert verdicts.paired_plateau("A", "B", ours, theirs, {}, {}).settled is None


def test_the_plateau_check_also_fires_when_the_gap_changed_sign_over_the_last_doubling():
    ours, theirs = {0: 0.70, 1: 0.71, 2: 0.69}, {0: 0.75, 1: 0.765, 2: 0.74}       # contradicted at full length
    c = verdicts.paired_plateau("A", "B", ours, theirs, {0: 0.72}, {0: 0.68})       # A led at half the steps
    assert c.verdict == "inconclusive" and c.settled is False
    assert verdicts.unless_moved(verdicts.paired("A", "B", ours, theirs), -0.05, float("nan")).settled is None


def test_a_claim_whose_positive_control_fails_is_not_testable():
    ahead = verdicts.claim("A beats B", "", "", [verdicts.paired("A", "B", *pair([0.02, 0.03, 0.04]))])
    control = verdicts.claim("Oracle beats B", "", "", [verdicts.paired("Oracle", "B", *pair([0.05, -0.04, 0.02]))])
    assert verdicts.unless_testable([ahead], {**control, "verdict": "reproduced"}) == [ahead]
    [entry] = verdicts.unless_testable([ahead], control)
    assert entry["verdict"] == verdicts.NOT_TESTABLE != "inconclusive"
    assert "positive control" in entry["why"] and "the rule alone: reproduced" in entry["why"]

"""The variance decomposition of Table 1 on constructed scores whose components are known."""
import numpy as np
import pytest

from pipeline.stats import components, decompose, entry_variance, top_share


def crossed(rng, S, W, seed_sd, window_sd, noise_sd, mu=-500.0):
    return (mu + seed_sd * rng.normal(size=(S, 1)) + window_sd * rng.normal(size=(1, W))
            + noise_sd * rng.normal(size=(S, W)))


def test_components_recover_known_variances():
    rng = np.random.default_rng(0)
    parts = components(crossed(rng, 400, 60, seed_sd=3.0, window_sd=2.0, noise_sd=1.0))
    assert parts["seed"] == pytest.approx(9.0, rel=0.15)
    assert parts["window"] == pytest.approx(4.0, rel=0.4)
    assert parts["seed_x_window"] == pytest.approx(1.0, rel=0.05)


def test_a_shared_window_effect_is_not_seed_variance():
    rng = np.random.default_rng(1)
    parts = components(crossed(rng, 50, 16, seed_sd=0.0, window_sd=30.0, noise_sd=2.0))
    assert parts["seed"] < 0.5 and parts["window"] > 300


def test_the_entry_variance_is_the_spread_of_per_seed_means():
    rng = np.random.default_rng(2)
    W = 16
    tables = [crossed(rng, 3, W, seed_sd=4.0, window_sd=10.0, noise_sd=8.0) for _ in range(3000)]
    empirical = np.mean([t.mean(1).var(ddof=1) for t in tables])
    assert empirical == pytest.approx(16.0 + 64.0 / W, rel=0.05)
    estimated = np.mean([entry_variance(components(t), W) for t in tables])
    assert estimated == pytest.approx(empirical, rel=0.1)


def test_decompose_finds_a_few_gross_misses_that_carry_the_seed_spread():
    rng = np.random.default_rng(3)
    steps = -3.0 + 0.3 * rng.normal(size=(3, 16, 100))
    steps[1, 4, 50:] = -40.0                       # one seed loses the fly in one window for 50 steps
    d = decompose(steps, floor=-6.6)
    assert d["gross_fraction"] == pytest.approx(50 / steps.size)
    # the other seeds deviate too, by half as much (from a mean the miss drags down): 2/3 of the squares
    assert d["gross_share"] == pytest.approx(2 / 3, abs=0.02) and d["top_cells_share"] > 0.9
    assert d["seed_share"] < 0.5                  # it is one cell, not a seed effect: more windows would dilute it
    calm = decompose(-3.0 + 0.3 * rng.normal(size=(3, 16, 100)), floor=-6.6)
    assert calm["gross_fraction"] == 0.0 and calm["top_cells_share"] < 0.5


def test_top_share():
    assert top_share([1, 1, 1, 1, 6, 0, 0, 0], 1 / 8) == pytest.approx(0.6)
    assert top_share(np.zeros(4), 0.5) == 0.0

"""pipeline.stats: the t-interval over seeds, its clipping to an accuracy's range, paired differences."""
import numpy as np
import pytest
from scipy import stats

from pipeline.report.tables import ACCURACY
from pipeline.stats import paired_differences, t_interval


def test_t_interval_is_the_student_t_interval():
    values = [0.70, 0.74, 0.81]
    mean, low, high = t_interval(values)
    half = stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert np.isclose(mean, np.mean(values)) and np.isclose(high - mean, half) and np.isclose(mean - low, half)


def test_accuracy_intervals_stay_inside_zero_to_one():
    mean, low, high = t_interval([0.0, 0.02, 0.3], bounds=ACCURACY)
    assert low == 0.0 and 0.0 < mean < high <= 1.0
    assert t_interval([0.0, 0.02, 0.3])[1] < 0.0          # unclipped, the t-interval leaves the range
    assert t_interval([0.99, 1.0, 0.9], bounds=ACCURACY)[2] == 1.0


def test_paired_differences_keep_shared_seeds_in_order_and_drop_non_finite_ones():
    ours, theirs = {2: 1.0, 0: 3.0, 1: np.nan, 7: 9.0}, {0: 1.0, 1: 0.0, 2: 0.5}
    assert paired_differences(ours, theirs).tolist() == [2.0, 0.5]
    assert paired_differences(ours, theirs, higher_is_better=False).tolist() == [-2.0, -0.5]


def test_seed_and_digit_interval_adds_the_digits_variance_to_the_seed_interval():
    """d[s, i] = a_s + b_i exactly (no interaction): the variance of the mean is var(a) / S + var(b) / N,
    by hand; with b = 0 it is the t-interval over seeds of the per-seed means."""
    from pipeline.stats import seed_and_digit_interval, t_interval
    a, b = np.array([0.1, -0.2, 0.3, 0.05]), np.array([1.0, -1.0, 0.5, 0.0, -0.5, 0.25])
    d = a[:, None] + b[None, :]
    mean, low, high = seed_and_digit_interval(d)
    half = stats.t.ppf(0.975, 3) * np.sqrt(a.var(ddof=1) / 4 + b.var(ddof=1) / 6)
    assert mean == pytest.approx(a.mean() + b.mean())
    assert (low, high) == pytest.approx((mean - half, mean + half))
    flat = np.repeat(a[:, None], 6, 1)
    assert seed_and_digit_interval(flat) == pytest.approx(t_interval(a))
    assert high - low > t_interval(d.mean(1))[2] - t_interval(d.mean(1))[1]      # the digits widen it


def test_seed_and_digit_interval_covers_the_truth_at_its_level():
    """Simulated seeds x digits with a seed effect, a digit effect shared by the seeds and noise: the 95%
    interval covers the true mean in about 95% of draws (a seed-only interval would cover far fewer)."""
    from pipeline.stats import seed_and_digit_interval, t_interval
    rng = np.random.default_rng(0)
    hits = seed_only = 0
    for _ in range(400):
        d = rng.normal(0, 0.3, (5, 1))[:, :] + rng.normal(0, 4.0, (1, 200)) + rng.normal(0, 1.0, (5, 200))
        _, low, high = seed_and_digit_interval(d)
        hits += low <= 0 <= high
        _, lo, hi = t_interval(d.mean(1))
        seed_only += lo <= 0 <= hi
    assert 0.9 <= hits / 400 <= 1.0 and seed_only / 400 < 0.85

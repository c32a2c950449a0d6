"""pipeline.stats: the t-interval over seeds, its clipping to an accuracy's range, paired differences."""
import numpy as np
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

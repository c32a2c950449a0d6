"""The paper profile must not break silently: one optimisation step of every model at the paper
profile's sizes (hidden units, latent sizes, mixtures, particles, bins) on tiny data, on the CPU."""
import numpy as np
import pytest
import torch

from pipeline import config, sized
from pipeline.declarations import flies as flies_declared
from pipeline.declarations import handwriting as handwriting_declared
from pipeline.declarations import mnist as mnist_declared
from pipeline.experiments import flies, handwriting, mnist
from pipeline.train import optimisers, train_step
from tests.conftest import ROOT

PARAMS = sized.with_profile(config.load(ROOT / "params.yaml"), "paper")


def one_step(model, spec, batch):
    groups = model.parameter_groups()
    before = [p.detach().clone() for p in model.parameters()]
    losses = train_step(model, spec, batch, *optimisers(groups, spec.lr), groups)
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert any(not torch.equal(a, p) for a, p in zip(before, model.parameters()))


@pytest.mark.parametrize("method", list(mnist_declared.METHODS))
def test_mnist_paper_sizes(method):
    cfg = {**PARAMS["mnist"], "particles": 3}
    torch.manual_seed(0)
    labels = torch.tensor([[3], [-1], [5], [-1]])
    batch = {"x": torch.rand(4, 784), "labels": labels, "mask": labels >= 0}
    one_step(mnist.model_of(cfg, method, None).build(), mnist.spec_for(method, cfg, 0, "paper"), batch)


@pytest.mark.parametrize("method", list(handwriting_declared.METHODS))
def test_handwriting_paper_sizes(method):
    cfg = PARAMS["handwriting"]
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4)
    x[..., 2:] = (torch.rand(2, 6, 2) < 0.3).float()
    mask = torch.rand(2, 6) < 0.5 if method != "baseline" else torch.ones(2, 6, dtype=torch.bool)
    batch = handwriting.with_inputs(cfg, {"x": x, "labels": torch.where(mask, torch.randint(0, 70, (2, 6)), -1),
                                          "mask": mask})
    assert cfg["hidden"] == 512 and cfg["particles"] == 10
    one_step(handwriting.model_of(cfg, method, None).build(), handwriting.spec_for(method, cfg, 0, "paper"), batch)


@pytest.mark.parametrize("method", list(flies_declared.METHODS))
def test_flies_paper_sizes(method, monkeypatch):
    cfg = PARAMS["flies"]
    torch.manual_seed(0)
    train_x = np.random.default_rng(0).normal(size=(4, 6, flies.X_DIM)).astype(np.float32)
    mask = torch.rand(4, 6) < 0.3
    batch = {"x": torch.as_tensor(train_x), "u": torch.rand(4, 6, flies.U_DIM),
             "labels": torch.where(mask, torch.randint(0, 6, (4, 6)), -1), "mask": mask}
    monkeypatch.setattr(flies, "sequences", lambda data, split: {"x": train_x})     # the RNN's bins: its quantiles
    one_step(flies.model_of(cfg, method, None).build(), flies.spec_for(method, cfg, 0, "paper"), batch)

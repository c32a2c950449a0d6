"""benchmarks/legibility_probe.py: its biased sampler and its label-use bound."""
import math

import torch

from benchmarks.legibility_probe import biased_sample, label_use
from pipeline.models.dvrnn import DVRNN
from pipeline.models.heads import StrokeHead


def test_bias_zero_is_the_heads_own_sample():
    head, features = StrokeHead(5, mixture=3), torch.randn(64, 5)
    torch.manual_seed(3)
    own = head.sample(features)
    torch.manual_seed(3)
    assert torch.equal(biased_sample(head, features, 0.0), own)


def test_bias_shrinks_the_spread_by_exp_minus_b():
    head, features = StrokeHead(5, mixture=1), torch.randn(1, 5).expand(4000, 5)
    torch.manual_seed(0)
    spread = [biased_sample(head, features, b)[:, 0].std().item() for b in (0.0, 2.0)]
    assert 0.8 < spread[1] / spread[0] / math.exp(-2.0) < 1.25


def test_label_use_is_flat_when_the_model_ignores_y_and_not_otherwise():
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, emission="stroke", mixture=2)
    x = torch.randn(3, 9, 4)
    x[..., 2:] = (torch.rand(3, 9, 2) < 0.3).float()
    y = torch.randint(0, 70, (3, 9))
    with torch.no_grad():
        uses = label_use(model, x, y)
        assert uses["true"] != uses["constant"]
        model.embed_y.weight.zero_()             # y now reaches neither p nor q(z)
        flat = label_use(model, x, y)
    assert flat["true"] == flat["shuffled"] == flat["constant"] and math.isfinite(flat["true"])

"""benchmarks/generation_probe.py: its label-use bound and its one-step-ahead strokes."""
import math

import torch

from benchmarks.generation_probe import label_use, one_step_ahead
from pipeline.models.dvrnn import DVRNN


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


def test_one_step_ahead_reads_the_true_history_not_its_own_strokes():
    """The stroke predicted at step t depends on x_{<t} and never on x_t itself."""
    torch.manual_seed(0)
    model = DVRNN(4, 70, 5, 16, u_dim=3, emission="stroke", mixture=2).eval()
    x = torch.randn(2, 9, 4)
    x[..., 2:] = (torch.rand(2, 9, 2) < 0.3).float()
    y = torch.randint(0, 70, (2, 9))
    torch.manual_seed(1)
    before = one_step_ahead(model, x, y, "prior", "mean")
    changed = x.clone()
    changed[:, 5, :2] += 3.0
    torch.manual_seed(1)
    after = one_step_ahead(model, changed, y, "prior", "mean")
    assert torch.equal(before[:, :6], after[:, :6]) and not torch.equal(before[:, 6:], after[:, 6:])

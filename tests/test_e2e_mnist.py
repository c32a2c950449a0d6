"""End to end: the MNIST stages at profile smoke in a throwaway git+DVC copy of the repository."""
import json

import pytest

from tests.conftest import dvc

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def mnist_done(smoke_repo):
    dvc("repro", "report_mnist", cwd=smoke_repo)
    return smoke_repo


def test_report_page_is_written_with_figures_table_and_verdict(mnist_done):
    html = (mnist_done / "reports" / "mnist.html").read_text()
    assert html.count('src="data:image/png;base64,') == 3          # Fig. 2a, 2b, 2c embedded
    assert "Verdict:" in html and "CWS" in html and "M1+M2" in html
    summary = json.loads((mnist_done / "reports" / "mnist_summary.json").read_text())
    assert set(summary) >= {"cws", "m1m2", "rws", "m1", "verdict"}


def test_every_run_wrote_metrics_and_a_curve(mnist_done):
    for objective in ("cws", "m1m2", "rws", "m1"):
        for seed in (0, 1):
            run = mnist_done / "runs" / "mnist" / f"{objective}-s{seed}"
            metrics = json.loads((run / "metrics.json").read_text())
            assert 0.0 <= metrics["val_accuracy"] <= 1.0
            assert metrics["labels"] == 100
            assert len((run / "curve.tsv").read_text().splitlines()) == 1 + 1 + 2   # header, epoch 0, 2 epochs


def test_second_repro_runs_nothing(mnist_done):
    out = dvc("repro", "report_mnist", cwd=mnist_done).stdout
    assert "Running stage" not in out, out
    status = dvc("status", cwd=mnist_done).stdout
    assert "up to date" in status, status

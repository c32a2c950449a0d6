"""Report helpers: summaries over seeds and their formatting, the provenance commit."""
import numpy as np
import pandas as pd

from pipeline.report.tables import ACCURACY, fmt, summarise


def test_summarise_groups_and_formats():
    frame = pd.DataFrame({"method": ["a", "a", "b"], "acc": [0.5, 0.7, 0.9]})
    out = summarise(frame, "method", ["acc"], bounds=ACCURACY).set_index("method")
    assert out.loc["a", "n"] == 2 and np.isclose(out.loc["a", "acc"], 0.6)
    assert out.loc["a", "acc_low"] == 0.0 and out.loc["a", "acc_high"] == 1.0   # n=2: a wide interval, clipped
    assert fmt(*out.loc["b", ["acc", "acc_low", "acc_high"]], 100) == "90.0"     # one seed: no interval


def test_provenance_commit_ignores_the_lock_file_the_run_rewrites(tmp_path):
    from pipeline.report.index import git_commit
    from tests.conftest import run
    for name in ("dvc.lock", "params.yaml"):
        (tmp_path / name).write_text("a\n")
    run(["git", "init", "-q"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x", "--allow-empty"], tmp_path)
    run(["git", "add", "-A"], tmp_path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "files"], tmp_path)
    clean = git_commit(tmp_path)
    assert len(clean) == 12 and "+" not in clean
    (tmp_path / "dvc.lock").write_text("b\n")
    assert git_commit(tmp_path) == clean
    (tmp_path / "params.yaml").write_text("b\n")
    assert git_commit(tmp_path) == clean + " + uncommitted changes"

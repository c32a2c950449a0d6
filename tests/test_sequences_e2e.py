"""End to end: the sequences experiment on a tiny CSV the test writes, as a researcher runs it: set
sequences.path, regenerate the graph, `dvc repro report_sequences` (profile smoke, one seed)."""
import json
import re
import sys

import pytest
import yaml

from pipeline import config, layout, settings
from pipeline.declarations.sequences import EXPERIMENT, METHODS
from pipeline.io import read_json
from pipeline.report import index
from tests.conftest import dvc, env_with_venv, make_repo_copy, run
from tests.sequences_data import write_csv

pytestmark = pytest.mark.slow
TINY = "data/raw/tiny.csv"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = make_repo_copy(tmp_path_factory.mktemp("sequences"), profile="smoke", seeds=[0],
                          **{"sequences.path": TINY, "sequences.time_column": "time"})
    (path / "data" / "raw").mkdir(parents=True)
    write_csv(path / TINY)
    env = {**env_with_venv(), settings.RECORD: str(path.parent / "params_read.jsonl")}
    result = run([sys.executable, "-m", "dvc", "repro", "report_sequences"], path, env=env)
    (path / "repro.log").write_text(result.stdout + result.stderr)
    return path


def test_each_sequences_stage_reads_exactly_the_params_dvc_tracks_for_it(repo):
    """As tests/test_e2e.py checks for the paper's experiments: keys read + keys interpolated == DVC params."""
    read = {}
    for line in (repo.parent / "params_read.jsonl").read_text().splitlines():
        entry = json.loads(line)
        read.setdefault(entry["stage"], set()).update(entry["read"])
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    for name in ("prepare_sequences", "train_sequences", "score_sequences", "report_sequences"):
        interpolated = {k for k in re.findall(r"\$\{([^}]+)\}", spec[name]["cmd"]) if not k.startswith("item.")}
        assert read[name] | interpolated == set(spec[name]["params"]), name


def test_only_the_sequences_stages_run_and_write_every_run_folder(repo):
    ran = set(re.findall(r"Running stage '([^']+)'", (repo / "repro.log").read_text()))
    expected = {"check_params", "prepare_sequences", "report_sequences",
                *(f"{kind}_sequences@{m}-0" for kind in ("train", "score") for m in METHODS)}
    assert ran == expected, sorted(ran ^ expected)
    for method in METHODS:
        folder = repo / layout.run_folder("sequences", method, 0)
        scores = json.loads((folder / "scores.json").read_text())
        assert 0.0 <= scores["val_top1"] <= 1.0 and scores["continuation_rmse"] > 0
        assert (folder / "samples.npz").stat().st_size and (folder / layout.CURVE).read_text().startswith("epoch")


def test_the_page_and_summary_show_both_verdicts(repo):
    html = (repo / layout.page("sequences")).read_text()
    summary = read_json(repo / layout.summary("sequences"))
    claims = {c["claim"].split(":")[0]: c for c in summary["claims"]}
    assert set(claims) == {"CWS beats IWAE + a classifier of x alone trained on the labelled data only",
                           "CWS beats SSWS as written (eq. 14)"}
    for claim in claims.values():
        assert claim["verdict"] in ("reproduced", "contradicted", "inconclusive") and claim["paper_claim"] is False
        assert claim["claim"] in html
    assert "not claims of the paper" in html and html.count('src="data:image/png;base64,') == 4
    assert set(summary["accuracy"]) == set(METHODS)
    for name in EXPERIMENT.figures:
        assert (repo / layout.FIGURES / name).stat().st_size


def test_a_second_repro_runs_nothing(repo):
    assert "Running stage" not in dvc("repro", "report_sequences", cwd=repo).stdout


def test_the_index_links_the_page_and_counts_none_of_its_verdicts(repo, tmp_path):
    """index.build on the real sequences summary beside empty summaries of the paper's experiments."""
    empty = {"mnist": {"claims": []}, "handwriting": {"claims": [], "main": {}, "scattered": {}, "variable": {}},
             "flies": {"claims": [], "table1": {}}}
    params = config.load(repo / "params.yaml")
    summaries = {**empty, "sequences": read_json(repo / layout.summary("sequences"))}
    counts = index.build(params, summaries, tmp_path / "index.html", tmp_path / "summary.json", tmp_path / "p.html")
    html = (tmp_path / "index.html").read_text()
    assert 'href="sequences.html"' in html and counts == {}
    assert set(read_json(tmp_path / "summary.json")["sequences_top1"]) == {"cws", "ssws", "baseline"}   # named classes
    assert index.experiment_of(layout.summary("sequences")) == "sequences"

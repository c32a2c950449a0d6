"""An experiment is declared once (pipeline/declarations/<name>.py): the graph, the validation of
params.yaml, every stage's Settings and the index read the declaration.  A toy experiment added in a
scratch copy, as the README says to add one, shows up in all of them; a stage that reads a key its
declaration does not list is refused."""
import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from pipeline import PipelineError, registry, settings
from pipeline.declarations import mnist
from tests.conftest import dvc, make_repo_copy, run

TOY = '''\
"""A toy experiment: one prepare and one report stage around a single knob."""
from pipeline import rules
from pipeline.declaration import Experiment, prepare_stage, report_stage
from pipeline.methods import Method


def stages(exp, params):
    return [prepare_stage(exp), report_stage(exp, [])]


def headline(summary):
    return {"toy_level": summary["level"]}


EXPERIMENT = Experiment(
    name="toy", title="A toy experiment", section={"level": rules.count},
    reads={"prepare": ("toy.level",), "report": ("toy.level",)},
    methods={"only": Method("Only", "tab:gray", "iwae")}, scores=("scores.json", "arrays.npz"), figures=(),
    stages=stages, headline=headline, paper=False)
'''
PREPARE = '''\
"""Prepare the toy data: the level, as an npz."""
import argparse

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.toy import EXPERIMENT
from pipeline.io import write_npz


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True)
    parser.add_argument("--raw", required=True)
    args = parser.parse_args()
    write_npz(args.out, level=settings.load(EXPERIMENT, "prepare")["toy"]["level"])


if __name__ == "__main__":
    run(main)
'''
REPORT = '''\
"""Write the toy page and its summary."""
import argparse

import numpy as np

from pipeline import settings
from pipeline.cli import run
from pipeline.declarations.toy import EXPERIMENT
from pipeline.io import write_json, write_text


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    for name in ("data", "html", "figures", "summary"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--runs", nargs="*", default=[])
    a = parser.parse_args()
    level = settings.load(EXPERIMENT, "report")["toy"]["level"]
    assert int(np.load(a.data)["level"]) == level
    claim = {"claim": "toy", "paper": "-", "ours": level, "difference": "-", "verdict": "not comparable",
             "paper_claim": False}
    write_json(a.summary, {"level": level, "claims": [claim]})
    write_text(a.html, f"<p>{level}</p>")


if __name__ == "__main__":
    run(main)
'''


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A scratch copy with the toy experiment declared, registered and given its params section."""
    repo = make_repo_copy(tmp_path_factory.mktemp("toy"))
    (repo / "pipeline" / "declarations" / "toy.py").write_text(TOY)
    (repo / "stages" / "prepare_toy.py").write_text(PREPARE)
    (repo / "stages" / "report_toy.py").write_text(REPORT)
    registry_py = repo / "pipeline" / "registry.py"
    text = registry_py.read_text().replace("import flies, handwriting, mnist, sequences",
                                           "import flies, handwriting, mnist, sequences, toy")
    registry_py.write_text(text.replace("sequences.EXPERIMENT)}", "sequences.EXPERIMENT, toy.EXPERIMENT)}"))
    with open(repo / "params.yaml", "a") as f:
        f.write("\ntoy:\n  level: 3\n")
    run([sys.executable, "-m", "pipeline.graph"], repo)
    return repo


def test_a_declared_experiment_appears_in_the_graph(toy):
    stages = yaml.safe_load((toy / "dvc.yaml").read_text())["stages"]
    assert stages["prepare_toy"]["params"] == ["toy.level"] and stages["report_toy"]["params"] == ["toy.level"]
    assert stages["report_toy"]["deps"][0] == "data/code/report_toy.json"
    assert "reports/toy_summary.json" in stages["report_index"]["deps"]
    assert "toy.level" not in stages["report_index"]["params"]          # no source, no sized keys
    ran = dvc("repro", "report_toy", cwd=toy).stdout
    assert {"check_params", "prepare_toy", "report_toy"} <= set(ran.split("'")[1::2])
    assert json.loads((toy / "reports" / "toy_summary.json").read_text())["level"] == 3
    assert "pipeline/declarations/toy.py" in json.loads((toy / "data" / "code" / "report_toy.json").read_text())["files"]


def test_a_declared_experiment_is_validated(toy):
    def check(value):
        text = (toy / "params.yaml").read_text()
        (toy / "params.yaml").write_text(text.replace("  level: 3\n", f"  level: {value}\n"))
        try:
            return subprocess.run([sys.executable, "-m", "stages.check_params", "--out", "mark"], cwd=toy,
                                  capture_output=True, text=True)
        finally:
            (toy / "params.yaml").write_text(text)
    assert "key 'toy.level' is -1; it must be a whole number >= 0" in check(-1).stderr
    assert "unknown key 'toy.extra'" in check("3\n  extra: 1").stderr


def test_a_declared_experiment_is_on_the_index(toy, tmp_path):
    code = textwrap.dedent(f"""
        from pipeline import settings
        from pipeline.report import index
        params = settings.read_params()
        claim = {{"claim": "toy", "paper": "-", "ours": 3, "difference": "-", "verdict": "not comparable", "why": "",
                  "paper_claim": False}}
        summary = {{"level": 3, "claims": [claim]}}
        index.build(settings.unchecked(params), {{"toy": summary}}, r"{tmp_path}/i.html", r"{tmp_path}/h.json",
                    r"{tmp_path}/p.html")
    """)
    run([sys.executable, "-c", code], toy)
    assert "A toy experiment" in (tmp_path / "i.html").read_text()
    assert json.loads((tmp_path / "h.json").read_text())["toy_level"] == 3


def test_a_stage_reading_an_undeclared_key_is_refused():
    """As report_mnist was declared before (labels, alpha, source) while it read the profile's sizes and
    the particles: the declaration's Settings refuses the first such read, naming stage, key and file."""
    params = settings.read_params()
    old = settings.of_keys(params, ["mnist.labels", "mnist.alpha", "mnist.source"], "report_mnist",
                           "reads['report'] in pipeline/declarations/mnist.py", mnist.EXPERIMENT.checks())
    assert old["mnist"]["labels"] == params["mnist"]["labels"] and old.read == {"mnist.labels"}
    with pytest.raises(PipelineError, match=r"stage report_mnist reads params key 'mnist.particles', which its "
                                            r"declaration does not list: add it to reads\['report'\] in "
                                            r"pipeline/declarations/mnist.py"):
        old["mnist"]["particles"]
    now = settings.load(mnist.EXPERIMENT, "report")
    assert now["mnist"]["particles"] == params["mnist"]["particles"]


def test_a_value_read_is_checked_by_its_rule():
    bad = {**settings.read_params(), "mnist": {**settings.read_params()["mnist"], "labels": -3}}
    cfg = settings.of_keys(bad, mnist.EXPERIMENT.params_of("report"), "report_mnist", "-", mnist.EXPERIMENT.checks())
    with pytest.raises(PipelineError, match="key 'mnist.labels' is -3; it must be a whole number >= 0"):
        cfg["mnist"]["labels"]


def test_every_stage_kind_of_every_experiment_is_declared():
    for experiment in registry.EXPERIMENTS.values():
        kinds = {"prepare", "train", "score", "report"}
        assert kinds <= set(experiment.reads), experiment.name
        for method in experiment.methods:
            assert set(experiment.params_of("train", [method])) >= set(experiment.reads["train"])

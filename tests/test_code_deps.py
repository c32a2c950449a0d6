"""Code dependencies as DVC sees them: edit a file in a scratch copy; `dvc status` names check_params
(it depends on the whole code); once it has run (`dvc repro -s check_params`: seconds), `dvc status`
names exactly the stages that run the edited file, through their entry points' fingerprints."""
import json
import re

import pytest

from tests.conftest import dvc, make_repo_copy

SEQUENCE_RUNS = re.compile(r"^(train|score)_(handwriting|flies)\w*@")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    repo = make_repo_copy(tmp_path_factory.mktemp("deps"), keep_lock=True)
    dvc("repro", "-s", "check_params", cwd=repo)          # the fingerprints of the committed code
    assert code_changes(repo) == {}, "dvc.lock's fingerprints are not the committed code's: run `make repro`"
    return repo


def code_changes(repo):
    """{stage: its changed deps among the code and the code's fingerprints}, per `dvc status`."""
    status = json.loads(dvc("status", "--json", cwd=repo).stdout or "{}")
    found = {name: {dep for change in changes if isinstance(change, dict) for dep in change.get("changed deps", {})
                    if dep.startswith(("pipeline", "stages", "data/code/"))} for name, changes in status.items()}
    return {name: deps for name, deps in found.items() if deps}


def stages_naming(repo, path):
    """The stages that `dvc status` names once check_params has fingerprinted an edit of `path` (before
    that, only check_params); the edit is then undone and fingerprinted again."""
    original = (repo / path).read_bytes()
    with open(repo / path, "a") as f:
        f.write("\n# edited\n")
    try:
        assert set(code_changes(repo)) == {"check_params"}
        dvc("repro", "-s", "check_params", cwd=repo)
        return set(code_changes(repo))
    finally:
        (repo / path).write_bytes(original)
        dvc("repro", "-s", "check_params", cwd=repo)


def test_a_model_edit_names_the_sequence_runs_and_nothing_else(copy):
    named = stages_naming(copy, "pipeline/models/dvrnn.py")
    assert named and all(SEQUENCE_RUNS.match(n) for n in named), sorted(n for n in named if not SEQUENCE_RUNS.match(n))
    for group in ("train_handwriting@", "score_handwriting_scattered@", "train_flies@", "score_flies@"):
        assert any(n.startswith(group) for n in named), group
    assert not any("mnist" in n or n.startswith(("prepare_", "report_")) for n in named)


def test_a_reader_edit_reruns_no_training(copy):
    for path, stage in (("pipeline/data/handwriting/iamondb.py", "prepare_handwriting"),
                        ("pipeline/data/flytracker.py", "prepare_flies")):
        named = stages_naming(copy, path)
        assert stage in named and not any(n.startswith(("train_", "score_")) for n in named), (path, named)
        assert named <= {stage, "bounds_flies"}, path    # the bounds rebuild the simulated test flies with the data module

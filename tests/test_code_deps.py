"""Code dependencies as DVC sees them: edit a file in a scratch copy and `dvc status` names exactly
the stages that run it, before anything has run (no fingerprint stage in between)."""
import json
import re

import pytest

from tests.conftest import dvc, make_repo_copy

SEQUENCE_RUNS = re.compile(r"^(train|score)_(handwriting|flies)\w*@")


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    return make_repo_copy(tmp_path_factory.mktemp("deps"), keep_lock=True)


def stages_naming(repo, path):
    """The stages whose changed deps, per `dvc status`, include `path`."""
    status = json.loads(dvc("status", "--json", cwd=repo).stdout or "{}")
    return {name for name, changes in status.items()
            for change in changes if isinstance(change, dict) and path in change.get("changed deps", {})}


def edit(repo, path):
    with open(repo / path, "a") as f:
        f.write("\n# edited\n")


def test_a_model_edit_names_the_sequence_runs_and_nothing_else(copy):
    edit(copy, "pipeline/models/dvrnn.py")
    named = stages_naming(copy, "pipeline/models/dvrnn.py")
    assert named and all(SEQUENCE_RUNS.match(n) for n in named), sorted(n for n in named if not SEQUENCE_RUNS.match(n))
    for group in ("train_handwriting@", "score_handwriting_scattered@", "train_flies@", "score_flies@"):
        assert any(n.startswith(group) for n in named), group
    assert not any("mnist" in n or n.startswith(("prepare_", "report_")) for n in named)


def test_a_reader_edit_reruns_no_training(copy):
    for path, stage in (("pipeline/data/handwriting/iamondb.py", "prepare_handwriting"),
                        ("pipeline/data/flytracker.py", "prepare_flies")):
        edit(copy, path)
        named = stages_naming(copy, path)
        assert stage in named and not any(n.startswith(("train_", "score_")) for n in named), (path, named)
        assert named <= {stage, "bounds_flies"}, path    # the bounds rebuild the simulated test flies with the data module

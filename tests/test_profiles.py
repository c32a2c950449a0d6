"""Profiles: params.yaml holds only knobs in force; `python -m pipeline.profile NAME` writes a profile's
sized knobs into it and nothing else, and switching back restores the file byte for byte."""
import shutil
import subprocess
import sys

import pytest
import yaml

from pipeline import config, sized
from pipeline.profile import apply
from tests.conftest import ROOT, env_with_venv


def test_the_committed_params_are_the_default_profile():
    params = config.load(ROOT / "params.yaml")
    assert sized.profile_of(params, config.sections()) == "default"
    changed = {**params, "mnist": {**params["mnist"], "epochs": 3}}
    assert sized.profile_of(changed, config.sections()) == "default, 1 value changed"
    assert sized.profile_of(changed, ["flies"]) == "default", "a page names the profile of its own section"


def test_every_profile_sets_the_same_keys():
    """Switching never leaves a key of the previous profile behind."""
    for section in config.sections():
        keys = [list(sized.profile(name)[section]) for name in sized.PROFILES]
        assert all(k == keys[0] for k in keys), section


@pytest.mark.parametrize("name", ["smoke", "paper"])
def test_applying_a_profile_changes_only_its_values_and_round_trips(tmp_path, name):
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    before = path.read_text()
    result = subprocess.run([sys.executable, "-m", "pipeline.profile", name, "--params", str(path)], cwd=ROOT,
                            env=env_with_venv(), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    changed = config.load(path)
    assert sized.profile_of(changed, config.sections()) == name
    old = yaml.safe_load(before)
    for section in config.sections():
        for key, value in changed[section].items():
            assert value == (sized.profile(name)[section][key] if key in sized.sized_keys(section)
                             else old[section][key]), (section, key)
    assert {k: v for k, v in changed.items() if k not in config.sections()} == \
        {k: v for k, v in old.items() if k not in config.sections()}
    apply(path, "default")
    assert path.read_text() == before


def test_setting_a_knob_that_is_not_in_force_is_refused(tmp_path):
    """`-S` of a key params.yaml does not hold fails in DVC itself; forced with `+`, at check_params."""
    from tests.conftest import dvc, make_repo_copy
    repo = make_repo_copy(tmp_path)
    before = (repo / "params.yaml").read_text()
    refused = dvc("exp", "run", "-S", "mnist.default.lr=0.1", cwd=repo, check=False)
    assert refused.returncode != 0 and "is not in struct" in refused.stdout + refused.stderr
    assert (repo / "params.yaml").read_text() == before
    forced = dvc("exp", "run", "-S", "+profile=paper", cwd=repo, check=False)
    assert forced.returncode != 0
    assert "unknown key 'profile' (profiles are not keys: `python -m pipeline.profile NAME`" in forced.stderr
    assert not [p for p in [*repo.glob("runs/**/*"), *repo.glob("data/prepared/*")] if p.is_file()]

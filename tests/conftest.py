"""Shared fixtures: paths to the real sample files, and a throwaway git+DVC copy of the repo."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"


@pytest.fixture(scope="session")
def fixtures():
    if not FIXTURES.is_dir():
        pytest.skip(f"real sample files not found at {FIXTURES} (see PROVENANCE.md in ../shared)")
    return FIXTURES


def env_with_venv():
    """Environment whose `python` is the interpreter running the tests (stage commands use it)."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


COMMAND_TIMEOUT = 1200       # seconds; a command that hangs fails its test, naming itself, instead of stalling CI


def run(cmd, cwd, check=True, env=None, timeout=COMMAND_TIMEOUT):
    try:
        result = subprocess.run(cmd, cwd=cwd, env=env or env_with_venv(), capture_output=True, text=True,
                                timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{' '.join(map(str, cmd))} did not finish in {timeout} s:\n"
                             f"{(e.stdout or b'')[-4000:]!r}\n{(e.stderr or b'')[-4000:]!r}") from None
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, cmd))} failed ({result.returncode}):\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def dvc(*args, cwd, check=True, timeout=COMMAND_TIMEOUT):
    return run([sys.executable, "-m", "dvc", *args], cwd=cwd, check=check, timeout=timeout)


def make_repo_copy(dest, profile=None, keep_lock=False, **params):
    """Copy the working tree's tracked and untracked-but-not-ignored files into `dest` (dvc.lock only
    with keep_lock), write
    `profile`'s values (`python -m pipeline.profile`) and then `params` (dotted keys) into params.yaml,
    regenerate dvc.yaml when they change its runs, and commit it as a fresh git repository."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split("\n")
    for name in filter(None, files):
        src = ROOT / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    if (dest / "dvc.lock").exists() and not keep_lock:
        (dest / "dvc.lock").unlink()
    if profile:
        from pipeline.profile import apply
        apply(dest / "params.yaml", profile)
    set_params(dest, **params)
    if profile or {"seeds", "handwriting.rates", "handwriting.normalised_ssws", "handwriting.variable_supervision", "mnist.cws_k50", "mnist.cws_enumerated", "mnist.m1m2_alpha1", "handwriting.supervised_q", "sequences.path"} & set(params):   # keys that change the graph (a profile sets mnist.seeds, pool_sizes)
        run([sys.executable, "-m", "pipeline.graph"], dest)
    run(["git", "init", "-q"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A"], dest)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"], dest)
    return dest


def set_params(repo, **dotted):
    """Set dotted keys in repo/params.yaml the way `dvc exp run -S` does (DVC's round-trip YAML)."""
    from dvc.utils.serialize import modify_yaml
    with modify_yaml(Path(repo) / "params.yaml") as params:
        for key, value in dotted.items():
            node = params
            *parents, leaf = key.split(".")
            for p in parents:
                node = node[p]
            node[leaf] = value

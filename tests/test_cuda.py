"""The CUDA path, where a GPU is visible (skipped elsewhere): the stages themselves (prepare, train,
score) of every experiment at profile smoke with `device: cuda`, one method of each kind; their
outputs are finite, say they ran on CUDA, load back on the CPU, and repeat byte for byte."""
import json
import math
import os
import subprocess
import sys

import pytest
import torch
import yaml

from pipeline import layout, registry, sized
from tests.conftest import ROOT, env_with_venv
from tests.sequences_data import write_csv

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device visible")

MNIST, HW, FLIES, OWN = (layout.prepared(e) for e in ("mnist", "handwriting", "flies", "sequences"))
READER = "runs/handwriting/ceiling/baseline-s0"
RUNS = {  # run folder: (experiment, the arguments its train and score stages share)
    "runs/mnist/cws-s0": ("mnist", ["--method", "cws", "--seed", "0", "--data", MNIST]),
    READER: ("handwriting", ["--method", "baseline", "--seed", "0", "--group", "ceiling", "--rate", "1.0",
                             "--pattern", "uniform", "--data", HW]),
    "runs/handwriting/main/cws-s0": ("handwriting", ["--method", "cws", "--seed", "0", "--group", "main", "--rate",
                                                     "0.125", "--pattern", "uniform", "--data", HW]),
    "runs/flies/cws-s0": ("flies", ["--method", "cws", "--seed", "0", "--data", FLIES]),
    "runs/flies/rnn-s0": ("flies", ["--method", "rnn", "--seed", "0", "--data", FLIES]),
    "runs/sequences/cws-s0": ("sequences", ["--method", "cws", "--seed", "0", "--data", OWN]),
    "runs/sequences/baseline-s0": ("sequences", ["--method", "baseline", "--seed", "0", "--data", OWN]),
}


def stage(module, *args, cwd):
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])     # the stages, from a bare folder
    out = subprocess.run([sys.executable, "-m", f"stages.{module}", *args], cwd=cwd, capture_output=True, text=True,
                         env={**env_with_venv(), "PYTHONPATH": path})
    assert out.returncode == 0, f"{module} {args}:\n{out.stderr[-3000:]}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """A working folder with params.yaml at profile smoke on CUDA, every stage of RUNS run in it."""
    path = tmp_path_factory.mktemp("cuda")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    smoke = sized.with_profile(params, "smoke")
    own = {**smoke["sequences"], "path": "tiny.csv", "time_column": "time"}       # the sequences experiment's file
    (path / "params.yaml").write_text(yaml.safe_dump({**smoke, "device": "cuda", "seeds": [0], "sequences": own}))
    write_csv(path / "tiny.csv")
    for experiment in ("mnist", "handwriting", "flies"):
        stage(f"prepare_{experiment}", "--out", layout.prepared(experiment), "--raw", layout.RAW, cwd=path)
    stage("prepare_sequences", "--input", "tiny.csv", "--out", OWN, cwd=path)
    for folder, (experiment, args) in RUNS.items():
        stage(f"train_{experiment}", *args, "--out", folder, cwd=path)
    for folder, (experiment, args) in RUNS.items():
        reader = ["--reader", READER] if experiment == "handwriting" else []
        stage(f"score_{experiment}", *args, "--run", folder, *reader, cwd=path)
    return path


def finite(numbers):
    return all(math.isfinite(v) for v in numbers.values() if isinstance(v, float))


@pytest.mark.parametrize("folder", list(RUNS))
def test_stages_train_and_score_on_cuda(repo, folder):
    run = repo / folder
    experiment = RUNS[folder][0]
    assert json.loads((run / layout.TRAIN_TIME).read_text())["device"] == "cuda"
    assert json.loads((run / layout.SCORE_TIME).read_text())["device"] == "cuda"
    assert finite(json.loads((run / layout.METRICS).read_text()))
    assert finite(json.loads((run / registry.EXPERIMENTS[experiment].scores[0]).read_text()))
    weights = torch.load(run / layout.MODEL, weights_only=True)["state_dict"]      # no map_location: saved from the CPU
    assert all(t.device.type == "cpu" and bool(torch.isfinite(t).all()) for t in weights.values())


def test_a_cuda_run_repeats_byte_for_byte(repo):
    """`device: cuda` keeps the promise of byte-deterministic outputs for a given seed."""
    folder, (experiment, args) = "runs/handwriting/main/cws-s0", RUNS["runs/handwriting/main/cws-s0"]
    stage(f"train_{experiment}", *args, "--out", "again", cwd=repo)
    for name in (layout.METRICS, layout.CURVE, layout.MODEL):
        assert (repo / "again" / name).read_bytes() == (repo / folder / name).read_bytes(), name

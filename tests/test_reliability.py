"""Faults and bad input: bad params, NaN losses, a killed training run, interrupted writes,
repeated runs.  docs/reliability.md lists which test covers which case."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pipeline import PipelineError, config
from pipeline.io import atomic_path, write_json
from pipeline.objectives import cws
from pipeline.train import Spec, fit, train_step
from tests.conftest import ROOT, env_with_venv, make_repo_copy
from tests.tiny_model import Tiny, batch

X_OK = 0.7


def _params():
    return yaml.safe_load((ROOT / "params.yaml").read_text())


@pytest.mark.parametrize("key, value, expected", [
    ("supervision", 1.5, "key 'supervision' is 1.5; it must be a number in [0, 1]"),
    ("supervision", -0.1, "key 'supervision' is -0.1; it must be a number in [0, 1]"),
    ("supervision", "abc", "key 'supervision' is 'abc'; it must be a number in [0, 1]"),
    ("seeds", [], "key 'seeds' is []; it must be a non-empty list"),
    ("supervision_pattern", "random", "one of sequences, scattered, variable"),
    ("mnist.source", "ftp", "key 'mnist.source' is 'ftp'; it must be one of embedded, download, local"),
    ("handwriting.source", "web", "one of embedded, deepwriting, iamondb"),
    ("flies.source", "camera", "key 'flies.source'"),
    ("device", "tpu", "one of auto, cpu, cuda"),
    ("flies.rws_classes", 0, "key 'flies.rws_classes' is 0; it must be a whole number >= 2"),
    ("mnist.epochs", 0, "key 'mnist.epochs' is 0; it must be a number > 0"),
    ("handwriting.lr", "fast", "key 'handwriting.lr' is 'fast'; it must be a number > 0"),
    ("flies.hidden", None, "key 'flies.hidden' is None; it must be a number > 0"),
    ("handwriting.lr_decay", "linear",
     "key 'handwriting.lr_decay' is 'linear'; it must be one of constant, cosine"),
    ("handwriting.pen_context", "yes", "key 'handwriting.pen_context' is 'yes'; it must be true or false"),
    ("handwriting.rates", [0.5, 0], "key 'handwriting.rates' is [0.5, 0]; it must be a list of numbers in (0, 1]"),
    ("mnist.cws_k50", "on", "key 'mnist.cws_k50' is 'on'; it must be true or false"),
    ("flies.filter_chunk", 0, "key 'flies.filter_chunk' is 0; it must be a whole number >= 1"),
    ("profile", "paper", "unknown key 'profile' (profiles are not keys: `python -m pipeline.profile NAME`"),
    ("mnist.paper", {"lr": 0.1}, "unknown key 'mnist.paper' (profiles are not keys"),
    ("flies.window_size", 100, "unknown key 'flies.window_size'; remove it"),
])
def test_bad_params_name_the_key_and_the_allowed_values(key, value, expected):
    params = _params()
    node = params
    *parents, leaf = key.split(".")
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(PipelineError) as err:
        config.validate(params)
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("stage", [["stages.check_params", "--out", "data/params.checked"],
                                   ["stages.prepare_handwriting", "--out", "data/prepared/handwriting.npz", "--raw",
                                    "data/raw"]])
def test_a_stage_with_bad_params_stops_before_any_work(tmp_path, stage):
    """check_params validates every key; a stage run by hand checks each key it reads (the handwriting
    report reads `supervision`; its prepare stage does not, and it fails on the bad n_train instead)."""
    repo = make_repo_copy(tmp_path, supervision=1.5, **{"handwriting.n_train": 0})
    result = subprocess.run([sys.executable, "-m", *stage], cwd=repo, env=env_with_venv(),
                            capture_output=True, text=True)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    expected = ("error: params.yaml: key 'supervision' is 1.5; it must be a number in [0, 1]"
                if stage[0] == "stages.check_params" else
                "error: params.yaml: key 'handwriting.n_train' is 0; it must be a number > 0")
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    # the check stage, the one `dvc exp run -S` stops at, also says how to restore the file
    assert ("git checkout params.yaml" in lines[0]) == (stage[0] == "stages.check_params")
    assert not (repo / "data").exists()


def test_the_check_stage_without_torch_says_to_activate_the_environment(tmp_path):
    """Plain `dvc repro` outside the venv runs the system python: one line, before any import fails."""
    import shutil
    system = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    probe = subprocess.run([system, "-c", "import torch"], capture_output=True) if system else None
    if probe is None or probe.returncode == 0:
        pytest.skip("no system python without torch on this machine")
    result = subprocess.run([system, "-m", "stages.check_params", "--out", str(tmp_path / "x.sha256")], cwd=ROOT,
                            capture_output=True, text=True)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and len(lines) == 1 and "source .venv/bin/activate" in lines[0]


def test_repro_puts_its_own_interpreter_first_on_path(monkeypatch):
    from pipeline import repro, scheduler
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setattr(scheduler, "plan", lambda root, targets: ([], {}, [], set()))    # up to date
    repro.main([])
    assert os.environ["PATH"].split(os.pathsep)[0] == os.path.dirname(sys.executable)


def test_the_check_stage_names_a_stale_graph(tmp_path):
    repo = make_repo_copy(tmp_path)
    from tests.conftest import set_params
    set_params(repo, seeds=[0, 1, 2, 3])
    result = subprocess.run([sys.executable, "-m", "stages.check_params", "--out", "data/params.checked"], cwd=repo,
                            env=env_with_venv(), capture_output=True, text=True)
    assert result.returncode == 2 and "run `python -m pipeline.graph`" in result.stderr
    assert not (repo / "data").exists()


def test_params_yaml_is_in_dvc_style_so_a_change_is_one_line(tmp_path):
    """`dvc exp run -S` rewrites params.yaml with DVC's round-trip YAML; only the changed line may move."""
    from tests.conftest import set_params
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    set_params(tmp_path, supervision=0.25)
    before, after = (ROOT / "params.yaml").read_text().splitlines(), (tmp_path / "params.yaml").read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after) and changed == [("supervision: 0.125", "supervision: 0.25")]


def train_tiny_mnist(method, out, epochs=2):
    """Train one MNIST run on 60 random digits in the current folder; its metrics."""
    from pipeline import runs, settings
    from pipeline.experiments import mnist
    from pipeline.io import write_npz
    rng = np.random.default_rng(0)
    write_npz("data.npz", x_train=rng.random((60, 784), dtype=np.float32), y_train=np.arange(60) % 10,
              x_valid=rng.random((20, 784), dtype=np.float32), y_valid=np.arange(20) % 10)
    cfg = dict(epochs=epochs, lr=0.003, particles=3, alpha=60, batch_size=20, labelled_per_batch=5, hidden=16,
               z_dim=3, labels=20)
    this = runs.Run(method, 0, "data.npz", out, "cpu")
    return runs.train(this, mnist.training(settings.unchecked({"mnist": cfg}), this))


def test_a_run_trained_twice_writes_byte_identical_files(tmp_path, monkeypatch):
    """model.pt, metrics.json and curve.tsv depend on the seed, data and code only."""
    from pipeline import layout
    monkeypatch.chdir(tmp_path)
    for out in ("a", "b"):
        train_tiny_mnist("cws", out)
    for name in (layout.MODEL, layout.METRICS, layout.CURVE):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert not list((tmp_path / "runs" / ".checkpoints").glob("*.pt"))


TRAIN_ONCE = """
import sys
import numpy as np
import torch
from pipeline import runs, settings
from pipeline.experiments import mnist
from pipeline.io import write_npz

if sys.argv[1] == "tuned":
    runs.stage_device({"threads": 1, "device": "cpu"})
torch.set_num_threads(1)
print((torch.tensor([1e-39]) * 1.0).item())
rng = np.random.default_rng(0)
write_npz("data.npz", x_train=rng.random((60, 784), dtype=np.float32), y_train=np.arange(60) % 10,
          x_valid=rng.random((20, 784), dtype=np.float32), y_valid=np.arange(20) % 10)
cfg = dict(epochs=2, lr=0.003, particles=3, alpha=60, batch_size=20, labelled_per_batch=5, hidden=16, z_dim=3, labels=20)
this = runs.Run("cws", 0, "data.npz", sys.argv[1], "cpu")
runs.train(this, mnist.training(settings.unchecked({"mnist": cfg}), this))
"""


def test_stage_settings_flush_denormals_and_keep_results(tmp_path):
    """A stage's process (runs.stage_device, then train.tune_cpu) flushes denormal floats, whose
    arithmetic is slow, and trains to the same bytes as a process without the settings."""
    (tmp_path / "train_once.py").write_text(TRAIN_ONCE)
    env = {**env_with_venv(), "PYTHONPATH": str(ROOT)}
    printed = {}
    for mode in ("plain", "tuned"):
        done = subprocess.run([sys.executable, "train_once.py", mode], cwd=tmp_path, env=env, capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        printed[mode] = float(done.stdout.split()[0])
    assert printed == {"plain": pytest.approx(1e-39, rel=1e-3), "tuned": 0.0}
    for name in ("metrics.json", "curve.tsv"):
        assert (tmp_path / "plain" / name).read_bytes() == (tmp_path / "tuned" / name).read_bytes(), name


def test_nan_in_a_loss_names_stage_epoch_step_and_term():
    model = Tiny()
    with torch.no_grad():
        model.a.fill_(float("nan"))                # a diverged decoder
    groups = model.parameter_groups()
    spec = Spec(name="train_mnist@cws-0", objective=cws, epochs=1, particles=4, lr=0.1, seed=0)
    bad = batch(X_OK, 8)
    with pytest.raises(PipelineError, match=r"train_mnist@cws-0: log_px became nan at epoch 3, step 7"):
        train_step(model, spec, bad, torch.optim.SGD(groups["theta"], lr=0.1),
                   torch.optim.SGD(groups["phi_z"] + groups["phi_y"], lr=0.1), groups, at=(3, 7))


def test_an_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "metrics.json"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"half": ')
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"ok": 1})
    assert json.loads(target.read_text()) == {"ok": 1} and len(list(tmp_path.iterdir())) == 1


@pytest.mark.parametrize("lr_decay", ["constant", "cosine"])
def test_resume_restores_exactly_what_an_uninterrupted_fit_would_give(tmp_path, lr_decay):
    def run(checkpoint, killed_after=None):
        torch.manual_seed(0)
        model = Tiny()
        spec = Spec(name="t", objective=cws, epochs=4, particles=4, lr=0.05, seed=0, lr_decay=lr_decay)
        calls = []

        def make(rng):
            calls.append(1)
            if killed_after is not None and len(calls) > killed_after:
                raise KeyboardInterrupt                  # the process dies before this epoch's first step
            return (batch(0.7, 8, labels=[int(v) if v < 3 else None for v in rng.integers(0, 6, 8)]) for _ in range(3))
        history = fit(model, spec, make, lambda m: {"a": float(m.logits.sum())}, checkpoint=checkpoint)
        return history, torch.cat([p.detach().flatten() for p in model.parameters()])

    straight, w1 = run(None)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(KeyboardInterrupt):
        run(ckpt, killed_after=2)                    # killed during epoch 3: epoch 2's checkpoint remains
    resumed, w2 = run(ckpt)
    assert torch.equal(w1, w2)
    assert [r["a"] for r in resumed] == [r["a"] for r in straight]


def test_the_cosine_decay_falls_from_the_rate_to_zero_over_the_run():
    from pipeline.train import set_lr
    opt = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=1.0)
    spec = Spec(name="t", objective=cws, epochs=2, particles=1, lr=0.02, seed=0, lr_decay="cosine")
    seen = []
    for progress in (0.0, 0.5, 1.0):
        set_lr(spec, [opt], progress)
        seen.append(opt.param_groups[0]["lr"])
    assert seen == pytest.approx([0.02, 0.01, 0.0])
    set_lr(replace(spec, lr_decay="constant"), [opt], 0.7)
    assert opt.param_groups[0]["lr"] == 0.02


@pytest.mark.slow
def test_sigkill_mid_training_then_rerun_matches_an_uninterrupted_run(tmp_path):
    """A real stage process killed with SIGKILL after its first checkpoint; the rerun resumes."""
    repo = make_repo_copy(tmp_path, profile="smoke", **{"mnist.epochs": 12})
    env = env_with_venv()
    stage = [sys.executable, "-m", "stages.train_mnist", "--method", "cws", "--seed", "0",
             "--data", "data/prepared/mnist.npz", "--out", "runs/mnist/cws-s0"]
    out = repo / "runs" / "mnist" / "cws-s0"
    subprocess.run([sys.executable, "-m", "stages.prepare_mnist", "--out", "data/prepared/mnist.npz", "--raw", "data/raw"],
                   cwd=repo, env=env, check=True, capture_output=True)
    subprocess.run(stage, cwd=repo, env=env, check=True, capture_output=True)
    straight = (out / "metrics.json").read_text()
    curve = (out / "curve.tsv").read_text()
    for f in out.iterdir():
        f.unlink()

    proc = subprocess.Popen(stage, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = repo / "runs" / ".checkpoints"
    deadline = time.time() + 120
    while time.time() < deadline and not (checkpoints.exists() and any(checkpoints.glob("*.pt"))):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "metrics.json").exists(), "the run finished before it could be killed"
    assert not (out / "model.pt").exists()           # no output that DVC could mistake for a finished run

    rerun = subprocess.run(stage, cwd=repo, env=env, check=True, capture_output=True, text=True)
    assert "resuming after epoch" in rerun.stderr
    assert (out / "metrics.json").read_text() == straight
    assert (out / "curve.tsv").read_text() == curve
    assert not any(checkpoints.glob("*.pt"))          # removed once the run is complete


def test_checkpoints_are_plain_tensors_for_weights_only_loading(tmp_path):
    from pipeline.train import load_checkpoint, save_checkpoint
    model = Tiny()
    groups = model.parameter_groups()
    opt1, opt2 = torch.optim.Adam(groups["theta"]), torch.optim.Adam(groups["phi_z"] + groups["phi_y"])
    save_checkpoint(tmp_path / "c.pt", model, opt1, opt2, 3, [{"epoch": 3, "x": 1.0}])
    state = torch.load(tmp_path / "c.pt", weights_only=True)        # raises if anything but tensors and containers
    assert state["epoch"] == 3
    assert load_checkpoint(tmp_path / "c.pt", Tiny(), opt1, opt2) == (3, [{"epoch": 3, "x": 1.0}])


def test_a_corrupt_checkpoint_is_ignored_not_fatal(tmp_path):
    from pipeline.train import load_checkpoint
    (tmp_path / "c.pt").write_bytes(b"not a checkpoint")
    model = Tiny()
    groups = model.parameter_groups()
    assert load_checkpoint(tmp_path / "c.pt", model, torch.optim.Adam(groups["theta"]),
                           torch.optim.Adam(groups["phi_z"])) == (0, [])


def test_npz_outputs_are_byte_identical_for_identical_content(tmp_path):
    from pipeline.io import write_npz
    arrays = {"x": np.arange(10.0), "names": np.array(["a", "bc"])}
    write_npz(tmp_path / "a.npz", **arrays)
    time.sleep(1.1)
    write_npz(tmp_path / "b.npz", **arrays)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    assert Path(tmp_path / "a.npz").stat().st_size > 0


def test_a_run_folder_loads_from_its_folder_alone(tmp_path, monkeypatch):
    """model.pt carries the model's class and arguments, the method and the settings: a copied run folder
    loads with no params.yaml; a bare state dict or a class outside pipeline.models is refused in one line."""
    import torch

    from pipeline import layout, runs
    monkeypatch.chdir(tmp_path)
    trained = train_tiny_mnist("m1m2", "run", epochs=1)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / layout.MODEL).rename(tmp_path / "elsewhere" / layout.MODEL)
    model = runs.load_run(tmp_path / "elsewhere")
    assert model.z_dim == 3 and not model.training
    described = runs.read_run(tmp_path / "elsewhere")
    assert described["method"] == "m1m2" and described["settings"]["mnist.alpha"] == 60
    assert described["model"] == "pipeline.models.m2:M2" and trained["method"] == "m1m2"
    torch.save(model.state_dict(), tmp_path / "bare.pt")
    (tmp_path / "bare").mkdir()
    (tmp_path / "bare.pt").rename(tmp_path / "bare" / layout.MODEL)
    with pytest.raises(PipelineError, match=r"bare/model.pt: not a run folder's model.pt of this code"):
        runs.load_run(tmp_path / "bare")
    foreign = {**torch.load(tmp_path / "elsewhere" / layout.MODEL, weights_only=True), "model": "os:system"}
    torch.save(foreign, tmp_path / "elsewhere" / layout.MODEL)
    with pytest.raises(PipelineError, match="is not one of pipeline.models"):
        runs.load_run(tmp_path / "elsewhere")

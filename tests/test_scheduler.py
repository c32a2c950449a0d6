"""`make repro`'s scheduler with the real engine: stages as Dask tasks on a LocalCluster of worker
processes, and on a real single-node SLURM cluster; the same bytes as plain `dvc repro`; a killed
worker, Ctrl-C and a failing stage lose nothing."""
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dvc.utils.serialize import load_yaml

from pipeline import repro, scheduler
from tests.conftest import dvc, env_with_venv, make_repo_copy, run

FLIES = ("score_flies@cws-0", "score_flies@rnn-0")   # 6 stages: check, prepare, two chains of training and scoring
WALL_TIME = ("timing.json", "score_timing.json")       # wall times: not DVC outputs


def digests(repo):
    """md5 of every file under runs/ (wall times and checkpoints left out), of each page's summary
    and of dvc.lock."""
    files = [p for p in (repo / "runs").rglob("*") if p.is_file() and p.name not in WALL_TIME
             and ".checkpoints" not in p.parts]
    files += list((repo / "reports").glob("*_summary.json")) + [repo / "dvc.lock"]
    return {str(p.relative_to(repo)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


def _interruptible():
    """In the child: Ctrl-C as a terminal's foreground job gets it.  A shell's background job (`make
    test &`, nohup) starts with SIGINT ignored, and an ignored signal is inherited through exec."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Repro:
    """`python -m pipeline.repro ARGS` in its own session (as a terminal would run it), its output
    gathered line by line."""

    def __init__(self, repo, *args, env=None):
        self.repo, self.lines = repo, []
        self.proc = subprocess.Popen([sys.executable, "-m", "pipeline.repro", *args], cwd=repo,
                                     env=env or env_with_venv(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True, preexec_fn=_interruptible)
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout), daemon=True)
        self.reader.start()

    def wait_for(self, pattern, timeout=120):
        """The first match of `pattern` in the output so far, waiting for it."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = next((m for m in map(re.compile(pattern).search, list(self.lines)) if m), None)
            if found:
                return found
            assert self.proc.poll() is None, f"exited before {pattern!r}:\n{self.text}"
            time.sleep(0.05)
        raise AssertionError(f"no {pattern!r} in {timeout} s:\n{self.text}")

    def finish(self, timeout=300):
        self.proc.wait(timeout)
        self.reader.join(10)
        return self.proc.returncode

    @property
    def text(self):
        return "".join(self.lines)


def wait_until(condition, timeout=60, what="condition"):
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """The flies experiment at smoke run by plain `dvc repro`: the bytes every schedule must give.
    Plain `dvc repro` itself writes dvc.lock's stages in an order that changes with Python's hash
    seed; put in dvc.yaml's order (what the scheduler leaves), every entry keeps its bytes."""
    repo = make_repo_copy(tmp_path_factory.mktemp("plain"), profile="smoke", seeds=[0])
    dvc("repro", *FLIES, cwd=repo)
    entries = load_yaml(repo / "dvc.lock")["stages"]
    scheduler.order_lock(repo, [], scheduler.plan(repo)[2])
    assert load_yaml(repo / "dvc.lock")["stages"] == entries
    return digests(repo)


@pytest.mark.slow
def test_the_local_cluster_gives_the_bytes_of_plain_dvc_repro(plain, tmp_path):
    repo = make_repo_copy(tmp_path, profile="smoke", seeds=[0])
    result = run([sys.executable, "-m", "pipeline.repro", *FLIES, "--workers", "2"], repo)
    assert re.search(r"dask: 2 workers on a local cluster; dashboard: ", result.stdout)
    assert re.search(r"start +train_flies@cws-0 +on tcp://", result.stdout)
    assert re.search(r"ran +score_flies@rnn-0 +[\d.]+ s on tcp://", result.stdout)
    assert "summary: 6 run, 0 restored from cache, 0 up to date, 0 failed, 0 not started" in result.stdout
    assert digests(repo) == plain
    again = run([sys.executable, "-m", "pipeline.repro", *FLIES], repo)
    assert again.stdout.strip() == "Data and pipelines are up to date."
    (repo / "pipeline" / "note.py").write_text('"""A new module: only check_params depends on the whole folder."""\n')
    edited = run([sys.executable, "-m", "pipeline.repro", *FLIES, "--workers", "2"], repo)
    assert re.findall(r"^start +(\S+)", edited.stdout, re.M) == ["check_params"]      # no fingerprint changed
    assert edited.stdout.strip().endswith("Data and pipelines are up to date.")
    assert {k: v for k, v in digests(repo).items() if k != "dvc.lock"} == {k: v for k, v in plain.items() if k != "dvc.lock"}


@pytest.mark.slow
def test_ctrl_c_and_a_killed_worker_lose_nothing(tmp_path):
    """Ctrl-C mid-training stops everything with no output written; the rerun resumes, its worker is
    killed mid-training, the stage resumes again on another worker, and the run's bytes equal an
    uninterrupted run's."""
    repo = make_repo_copy(tmp_path, profile="smoke", seeds=[0], **{"mnist.epochs": 30})
    stage, out, log = "train_mnist@cws-0", repo / "runs" / "mnist" / "cws-s0", repo / scheduler.LOG_DIR / "train_mnist@cws-0.log"
    checkpoints = repo / "runs" / ".checkpoints"
    first = Repro(repo, stage, "--workers", "2")
    first.wait_for(r"start +train_mnist@cws-0 ")
    wait_until(lambda: any(checkpoints.glob("*.pt")), what="a checkpoint")
    os.killpg(first.proc.pid, signal.SIGINT)                   # Ctrl-C: the terminal signals the whole group
    assert first.finish(60) == 130, first.text
    assert "interrupted:" in first.text and "Traceback" not in first.text
    wait_until(lambda: not [p for p in _processes() if "stages.train_mnist" in p and str(repo) in p],
               timeout=15, what="the stage process to end")
    assert not (out / "model.pt").exists() and not (out / "metrics.json").exists()
    assert any(checkpoints.glob("*.pt"))

    second = Repro(repo, stage, "--workers", "2")
    pid = int(second.wait_for(r"start +train_mnist@cws-0 +on \S+ \(pid (\d+)\)").group(1))
    wait_until(lambda: log.read_text().count("resuming after epoch") == 1, what="the resumed training")
    saved = next(checkpoints.glob("*.pt")).stat().st_mtime_ns
    wait_until(lambda: next(checkpoints.glob("*.pt")).stat().st_mtime_ns != saved, what="a further checkpoint")
    os.kill(pid, signal.SIGKILL)                              # the worker process, mid-stage
    assert second.finish() == 0, second.text
    assert log.read_text().count("resuming after epoch") == 2, log.read_text()
    assert re.search(r"ran +train_mnist@cws-0 ", second.text)
    resumed = digests(repo)
    dvc("repro", "-f", "-s", stage, cwd=repo)                 # the same stage, uninterrupted
    assert digests(repo) == resumed


def _processes():
    out = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    return out.splitlines()


@pytest.mark.slow
def test_a_failing_stage_stops_its_dependents_only(tmp_path):
    """prepare_flies fails (flyvsfly files missing): one error line naming it; its four dependents
    never start; the MNIST stages finish; a rerun runs only what is missing."""
    empty = tmp_path / "no-flies"
    empty.mkdir()
    repo = make_repo_copy(tmp_path / "repo", profile="smoke", seeds=[0],
                          **{"flies.source": "flyvsfly", "flies.local_dir": str(empty)})
    targets = [*FLIES, "train_mnist@cws-0"]
    result = run([sys.executable, "-m", "pipeline.repro", *targets, "--workers", "2"], repo, check=False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1 and errors[0].startswith("error: stage 'prepare_flies' failed (exit"), result.stderr
    assert str(empty) in errors[0] or "flyvsfly" in errors[0]
    assert "summary: 3 run, 0 restored from cache, 0 up to date, 1 failed, 4 not started" in result.stdout
    assert (repo / "runs" / "mnist" / "cws-s0" / "model.pt").exists()
    assert not (repo / "runs" / "flies").exists()
    names = scheduler.plan(repo, targets)[0]
    assert names[0] == "prepare_flies" and len(names) == 5 and not any("mnist" in n for n in names)
    rerun = run([sys.executable, "-m", "pipeline.repro", *targets, "--workers", "2"], repo, check=False)
    assert rerun.returncode == 1 and "summary: 0 run, 0 restored from cache, 0 up to date, 1 failed, 4 not started" \
        in rerun.stdout


def test_an_unreachable_scheduler_or_no_sbatch_is_one_line_before_any_stage(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(scheduler, "plan", lambda root, targets: (["check_params"], {"check_params": []}, [], set()))
    monkeypatch.setattr(scheduler, "submit", lambda *a: pytest.fail("a stage was submitted"))
    with socket.socket() as s:                                # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert repro.main(["--scheduler", f"tcp://127.0.0.1:{port}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: no Dask scheduler answers at tcp://127.0.0.1:{port}"), err
    monkeypatch.setenv("PATH", str(tmp_path))                 # no sbatch
    assert repro.main(["--slurm"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --slurm needs SLURM's `sbatch` on PATH: run this on a login node of the cluster, "
                   "or leave out --slurm to run on this machine"]


def test_training_and_scoring_ask_for_a_gpu_only_where_workers_have_one():
    class Client:
        def __init__(self):
            self.asked, self.priority = {}, {}

        def submit(self, fn, name, *args, **kwargs):
            self.asked[name] = kwargs.get("resources")
            self.priority[name] = kwargs["priority"]
            return name

        def subscribe_topic(self, *args):
            pass

    names = ["check_params", "prepare_mnist", "train_mnist@cws-0", "score_mnist@cws-0", "report_mnist"]
    upstream = {n: names[i - 1:i] for i, n in enumerate(names)}
    for gpu, expected in ((True, {"GPU": 1}), (False, None)):
        client = Client()
        scheduler.submit(client, "/repo", (names, upstream, names, set()), gpu)
        assert client.asked == {n: expected if n.startswith(("train_", "score_")) else None for n in names}
    assert client.priority == {"check_params": 5, "prepare_mnist": 4, "train_mnist@cws-0": 3,
                               "score_mnist@cws-0": 2, "report_mnist": 1}      # the longest chain first


def test_dvc_lock_is_put_in_plain_dvc_repro_order(tmp_path):
    """DVC appends each stage to dvc.lock as it ends; side by side they end in another order."""
    repo = make_repo_copy(tmp_path, profile="smoke", seeds=[0])
    lock = repo / "dvc.lock"
    entry = lambda n: f"  {n}:\n    cmd: python -m stages.{n}\n"               # noqa: E731
    lock.write_text("schema: '2.0'\nstages:\n" + entry("b") + entry("z") + entry("a") + entry("c"))
    scheduler.order_lock(repo, ["b"], ["a", "b", "c", "z"])
    assert lock.read_text() == "schema: '2.0'\nstages:\n" + entry("b") + entry("a") + entry("c") + entry("z")


# -- a real single-node SLURM cluster ------------------------------------------------------------

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _install_slurm():
    if all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch")):
        return
    if os.geteuid() != 0:
        pytest.skip("SLURM is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    install = ["apt-get", "install", "-y", "-q", "slurmctld", "slurmd", "munge"]
    if subprocess.run(install, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], capture_output=True)
        subprocess.run(install, capture_output=True, check=True)


@pytest.fixture
def slurm(tmp_path):
    """munged, slurmctld and slurmd in the foreground, configured in tmp_path (no cgroups, no
    systemd); yields the environment whose SLURM_CONF points at them; stops them by process id."""
    _install_slurm()
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to start jobs")
    d = tmp_path / "slurm"
    for sub in ("state", "spool", "munge"):
        (d / sub).mkdir(parents=True)
    key = d / "munge" / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    sock = d / "munge" / "socket"
    memory = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 2048
    conf = d / "slurm.conf"
    conf.write_text(f"""ClusterName=cwstest
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={sock}
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
StateSaveLocation={d / 'state'}
SlurmdSpoolDir={d / 'spool'}
SlurmctldPidFile={d / 'slurmctld.pid'}
SlurmdPidFile={d / 'slurmd.pid'}
SlurmctldLogFile={d / 'slurmctld.log'}
SlurmdLogFile={d / 'slurmd.log'}
NodeName=localhost NodeAddr=127.0.0.1 CPUs={os.cpu_count()} RealMemory={memory} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
    env = {**env_with_venv(), "SLURM_CONF": str(conf)}
    daemons = [subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for cmd in (
        ["munged", "-F", "-f", f"--socket={sock}", f"--key-file={key}", f"--log-file={d / 'munged.log'}",
         f"--pid-file={d / 'munged.pid'}", f"--seed-file={d / 'munged.seed'}"],
        ["slurmctld", "-D", "-f", str(conf)], ["slurmd", "-D", "-f", str(conf), "-N", "localhost"])]
    try:
        wait_until(lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                                          text=True).stdout.strip() == "idle", timeout=60, what="an idle SLURM node")
        yield env
    finally:
        for proc in reversed(daemons):
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.mark.slow
def test_slurm_workers_run_the_stages_and_give_the_same_bytes(slurm, plain, tmp_path):
    repo = make_repo_copy(tmp_path / "repo", profile="smoke", seeds=[0])
    job = Repro(repo, *FLIES, "--slurm", "--partition", "debug", "--workers", "2", "--cpus-per-worker", "1",
                "--memory", "2GB", "--walltime", "00:20:00", env=slurm)
    assert job.finish(240) == 0, job.text
    assert "dask: 2 worker jobs submitted to SLURM" in job.text
    assert "summary: 6 run, 0 restored from cache, 0 up to date, 0 failed, 0 not started" in job.text
    assert len(list((repo / ".dvc" / "tmp" / "slurm-logs").glob("*.err"))) >= 1      # the workers' job logs
    assert digests(repo) == plain
    assert subprocess.run(["squeue", "-h"], env=slurm, capture_output=True, text=True).stdout.strip() == ""

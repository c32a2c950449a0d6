"""End to end, as a user would: the whole pipeline at profile smoke in a throwaway git+DVC copy of
the repository; then the pages in a real browser, experiments, a queued sweep and a DVC remote."""
import base64
import csv
import http.server
import io
import json
import re
import shlex
import shutil
import ssl
import subprocess
import tarfile
import threading
import time
import sys
import uuid

import pytest
import yaml

from pipeline import layout, registry, settings
from pipeline.declarations import handwriting, mnist
from tests.conftest import ROOT, dvc, env_with_venv, make_repo_copy, run, set_params

pytestmark = pytest.mark.slow
PAGES = ("index", "mnist", "handwriting", "flies")
SECRET_USER, SECRET_PASSWORD = f"reader-{uuid.uuid4().hex}", f"pw-{uuid.uuid4().hex}"   # in no file beforehand


READ = "params_read.jsonl"


def ran(output):
    return set(re.findall(r"Running stage '([^']+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The whole pipeline at smoke, committed (dvc.lock included) like a user's finished run."""
    # the optional rows that only add stages of kinds already here (variable supervision, the switched methods)
    # stay off: every stage costs about 6 s of process start-up, and this suite must stay well inside CI's time
    path = make_repo_copy(tmp_path_factory.mktemp("e2e"), profile="smoke", seeds=[0],
                          **{"handwriting.rates": [0.5]})
    env = {**env_with_venv(), settings.RECORD: str(path.parent / READ)}       # each stage appends the keys it read
    result = run([sys.executable, "-m", "pipeline.repro", "--workers", "2"], path, env=env)  # what `make repro` runs
    (path / "repro.log").write_text(result.stdout + result.stderr)
    run(["git", "add", "-A"], path)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "results"], path)
    return path


def test_every_page_is_written_with_figures_and_claims(repo):
    for page in PAGES:
        html = (repo / "reports" / f"{page}.html").read_text()
        assert "<table>" in html and "verdict" in html.lower(), page
        if page != "index":
            assert 'src="data:image/png;base64,' in html, page
    index = (repo / "reports" / "index.html").read_text()
    for page in PAGES[1:]:
        assert f'href="{page}.html"' in index
    summary = json.loads((repo / "reports" / "summary.json").read_text())
    assert sum(summary["verdicts"].values()) >= 8


def test_every_run_wrote_metrics_a_curve_scores_and_its_times(repo):
    every = [f for f in (repo / "runs").glob("**/*-s[0-9]") if f.is_dir()]
    half = [f for f in every if f.parent.name == "half" and "flies" not in f.parts]   # plateau runs: trained, not scored
    folders = [f for f in every if f not in half]
    # one seed: mnist and its pool row, main, scattered, rates, ceiling, flies (with the oracle) and its plateau runs
    assert len(folders) == 6 + 2 + 4 + 1 + 2 * 1 + 1 + 5 + 5
    assert sorted(f.name for f in half if "handwriting" in f.parts) == sorted(
        f"{m}-s0" for m in ("cws", "ssws", "reinforce", "baseline"))
    assert len([f for f in half if "mnist" in f.parts]) == 6
    for folder in half:
        assert json.loads((folder / layout.METRICS).read_text())["seed"] == 0
    for folder in folders:
        experiment = folder.relative_to(repo / "runs").parts[0]
        scores, arrays = registry.EXPERIMENTS[experiment].scores
        assert json.loads((folder / layout.METRICS).read_text()) and json.loads((folder / scores).read_text())
        assert (folder / layout.CURVE).read_text().startswith("epoch") and (folder / arrays).stat().st_size
        for timing in (layout.TRAIN_TIME, layout.SCORE_TIME):
            assert json.loads((folder / timing).read_text())["device"] == "cpu"
    for method in ("cws", "m1m2", "rws", "m1"):
        metrics = json.loads((repo / "runs" / "mnist" / f"{method}-s0" / "metrics.json").read_text())
        assert 0.0 <= metrics["val_accuracy"] <= 1.0 and metrics["labels"] == 100 and metrics["method"] == method


def test_second_repro_runs_nothing_and_status_is_clean(repo):
    assert ran(dvc("repro", cwd=repo).stdout) == set()
    assert "up to date" in dvc("status", cwd=repo).stdout


def test_rerunning_stages_rewrites_identical_bytes_so_dvc_lock_stays(repo):
    """Weights, metrics, scores and pages depend on seed, data, params and code only; wall times and
    the commit live in files DVC does not track."""
    for stage in ("train_mnist@cws-0", "score_handwriting@cws-0", "report_index"):
        dvc("repro", "-f", "-s", stage, cwd=repo)
    assert ran(dvc("repro", cwd=repo).stdout) == set()
    assert run(["git", "status", "--porcelain", "dvc.lock"], repo).stdout == ""
    assert (repo / layout.PROVENANCE).exists()


def test_a_bad_value_stops_the_run_before_any_output_is_removed(repo):
    before = {p: (repo / p).read_bytes() for p in run(["git", "ls-files", "-o", "-i", "--exclude-standard",
                                                       "runs", "reports", "data"], repo).stdout.split()}
    # every run of the repo fixture: mnist, its pool row and its plateau runs; handwriting main, scattered, rates,
    # ceiling and its plateau runs; flies and its plateau runs
    assert len([p for p in before if p.endswith(layout.MODEL)]) == 6 + 2 + 6 + 4 + 1 + 2 + 1 + 4 + 5 + 5
    result = dvc("exp", "run", "-S", "supervision=1.5", cwd=repo, check=False)
    assert result.returncode != 0
    assert "error: params.yaml: key 'supervision' is 1.5; it must be a number in [0, 1]" in result.stderr + result.stdout
    assert ran(result.stdout) == {"check_params"}
    after = {p: (repo / p).read_bytes() for p in before if (repo / p).exists()}
    assert after == before
    run(["git", "checkout", "--", "params.yaml"], repo)
    assert "up to date" in dvc("status", cwd=repo).stdout

def interpolated(cmd):
    """The params.yaml keys a stage's command interpolates (${supervision}; not the matrix's ${item.*})."""
    return {k for k in re.findall(r"\$\{([^}]+)\}", cmd) if not k.startswith("item.")}


def test_each_stage_reads_exactly_the_params_dvc_tracks_for_it(repo):
    """Every key a stage read through its Settings, or that its command interpolates, is one of its DVC
    params, and each of its DVC params is read by one of its runs (or only by another data source:
    Experiment.other_sources).  A matrix stage's params are the union over its runs."""
    read = {}
    for line in (repo.parent / READ).read_text().splitlines():
        entry = json.loads(line)
        read.setdefault(entry["stage"], set()).update(entry["read"])
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    other = {k for e in registry.EXPERIMENTS.values() for k in e.other_sources}
    assert set(read) == set(spec) - {"check_params", "select_bandwidth_flies"}   # those two read none through Settings
    for name, stage in spec.items():
        if name == "check_params":
            continue
        declared, used = set(stage.get("params", [])), read.get(name, set()) | interpolated(stage["cmd"])
        assert used <= declared, f"{name} reads {sorted(used - declared)} untracked"
        assert declared - used <= other, f"{name} tracks {sorted(declared - used - other)} it never reads"


STATUS_CASES = [   # stage kind: a key its stages read (DVC names them) and one they do not (it leaves them)
    ("prepare_mnist", "mnist.split_seed", "mnist.labels"),
    ("train_flies@cws-0", "flies.lr", "flies.horizon"),
    ("score_flies@cws-0", "flies.horizon", "flies.lr"),
    ("select_bandwidth_flies", "flies.kde_floor_mm", "flies.horizon"),
    ("report_mnist", "mnist.epochs", "flies.steps"),    # the page names mnist's profile, not the flies'
    ("report_index", "flies.steps", "mnist.alpha"),
]


@pytest.mark.parametrize("stage, declared, undeclared", STATUS_CASES)
def test_dvc_status_names_a_stage_exactly_when_a_param_it_reads_changes(repo, stage, declared, undeclared):
    def named(key):
        params = yaml.safe_load((repo / "params.yaml").read_text())
        section, leaf = key.split(".")
        value = params[section][leaf]
        set_params(repo, **{key: value + 1 if isinstance(value, int) else value * 2})
        try:
            status = json.loads(dvc("status", "--json", cwd=repo).stdout or "{}")
        finally:
            run(["git", "checkout", "--", "params.yaml"], repo)
        return {name for name, changes in status.items() for c in changes if isinstance(c, dict)
                and key in c.get("changed deps", {}).get("params.yaml", {})}
    assert stage in named(declared)
    assert stage not in named(undeclared)


def test_headline_numbers_are_dvc_metrics(repo):
    shown = json.loads(dvc("metrics", "show", "--json", cwd=repo).stdout)
    files = next(iter(shown.values()))["data"]
    headline = files["reports/summary.json"]["data"]
    params = yaml.safe_load((repo / "params.yaml").read_text())
    assert set(headline["mnist_val_accuracy"]) == set(mnist.EXPERIMENT.members(params))     # the switched-on methods
    assert set(headline["handwriting_top10"]) == set(handwriting.GROUPS["main"].members(params))
    assert set(headline["flies_kde"]) >= {"cws_fly1", "rnn_fly2"}
    assert list(files) == ["reports/summary.json"], "per-run JSON stays out of `dvc metrics show` and `dvc exp show`"


def test_pages_open_in_a_real_browser_with_every_image_loaded(repo):
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("chromium and chromedriver are not installed (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        for page in PAGES:
            browser.get((repo / "reports" / f"{page}.html").as_uri())
            images = browser.execute_script(
                "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.src.slice(0, 22)])")
            assert all(done and width > 0 for done, width, _ in images), (page, images)
            assert all(src.startswith("data:image/png") for _, _, src in images), page    # nothing from the network
            cells = browser.execute_script(
                "return Array.from(document.querySelectorAll('td')).map(td => td.innerText)")
            assert sum(bool(re.search(r"\d", c)) for c in cells) >= 3, (page, cells)
            if page != "index":
                assert len(images) >= 2, page
    finally:
        browser.quit()


@pytest.fixture
def iamondb_server(fixtures, tmp_path):
    """An HTTPS server holding the two IAM-OnDB archives (made from the real fixture) behind basic
    auth with the secret credentials; yields (base URL, CA file, list of Authorization headers seen)."""
    from tests.test_handwriting_data import _iamondb_folder
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make the test server's certificate")
    src = _iamondb_folder(tmp_path / "iam")
    bodies = {}
    for name, folder in (("lineStrokes-all.tar.gz", "lineStrokes"), ("ascii-all.tar.gz", "ascii")):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            tar.add(src / folder, arcname=folder)
        bodies[f"/iam/{name}"] = buffer.getvalue()
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)], tmp_path)
    expected = "Basic " + base64.b64encode(f"{SECRET_USER}:{SECRET_PASSWORD}".encode()).decode()
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            ok = self.headers.get("Authorization") == expected and self.path in bodies
            body = bodies[self.path] if ok else b"unauthorised"
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{httpd.server_port}/iam/", cert, seen
    httpd.shutdown()


def test_credentials_never_reach_params_lock_logs_or_reports(iamondb_server, tmp_path):
    """IAM-OnDB downloaded over HTTPS with credentials from the environment: the server sees them,
    and they appear in no file of the repository (params, dvc.lock, data, cache) and no log."""
    url, cert, seen = iamondb_server
    copy = make_repo_copy(tmp_path, profile="smoke", **{"handwriting.source": "iamondb",
                                                         "handwriting.iamondb_url": url})
    env = {**env_with_venv(), "IAMONDB_USER": SECRET_USER, "IAMONDB_PASSWORD": SECRET_PASSWORD,
           "REQUESTS_CA_BUNDLE": str(cert), "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1"}
    import sys
    result = subprocess.run([sys.executable, "-m", "dvc", "repro", "prepare_handwriting"], cwd=copy, env=env,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(seen) == 2 and all(h and h.startswith("Basic ") for h in seen)    # both archives, with auth
    log = result.stdout + result.stderr
    files = [p for p in copy.rglob("*") if p.is_file() and ".git" not in p.parts]
    assert (copy / "dvc.lock").exists() and (copy / "data" / "prepared" / "handwriting.npz").exists()
    assert any(p.name == "lineStrokes-all.tar.gz" for p in files)              # the download happened here
    for secret in (SECRET_USER, SECRET_PASSWORD):
        assert secret not in log
        assert not [p for p in files if secret.encode() in p.read_bytes()]


def test_a_second_clone_pulls_the_cache_and_runs_nothing(repo, tmp_path):
    store = tmp_path / "remote"
    dvc("remote", "add", "-d", "shared", str(store), cwd=repo)
    dvc("push", cwd=repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "remote"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    dvc("pull", cwd=clone)
    assert (clone / "reports" / "index.html").exists()
    assert ran(dvc("repro", cwd=clone).stdout) == set()
    assert "up to date" in dvc("status", cwd=clone).stdout
    dvc("remote", "remove", "shared", cwd=repo)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "no remote"], repo)


def test_an_experiment_reruns_exactly_the_supervision_stages_on_a_queue_worker_and_is_collected(repo):
    """`dvc exp run -S supervision=0.25`, queued and run by a background worker (one experiment: each
    reruns the handwriting runs): its log names exactly the stages that depend on supervision; applied,
    it changes one line of params.yaml; the sweep page collects it with the workspace's rate."""
    dvc("exp", "run", "--queue", "-S", "supervision=0.25", "--name", "sup25", cwd=repo)
    # the worker outlives `queue start`: give it no pipe of ours to hold open
    subprocess.run([sys.executable, "-m", "dvc", "queue", "start", "--jobs", "1"], cwd=repo, env=env_with_venv(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120, check=True)
    try:
        deadline = time.time() + 900
        while time.time() < deadline:
            status = dvc("queue", "status", cwd=repo, timeout=120).stdout
            if "Queued" not in status and "Running" not in status:
                break
            time.sleep(3)
        assert "Success" in status, status
    finally:
        subprocess.run([sys.executable, "-m", "dvc", "queue", "stop", "--kill"], cwd=repo, env=env_with_venv(),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    stages = ran(dvc("queue", "logs", "sup25", cwd=repo).stdout)
    expected = {s for s in dvc("stage", "list", "--name-only", cwd=repo).stdout.split()
                if s.startswith(("train_handwriting@", "score_handwriting@", "train_handwriting_half@",
                                 "train_handwriting_scattered@", "score_handwriting_scattered@"))}
    expected |= {"check_params", "report_handwriting", "report_index"}
    assert stages == expected, sorted(stages ^ expected)
    shown = json.loads(dvc("exp", "show", "--json", cwd=repo).stdout)
    assert "0.25" in json.dumps(shown)
    documented = next(line for line in (ROOT / "docs" / "running.md").read_text().splitlines()
                      if line.startswith("dvc exp show"))
    table = run([sys.executable, "-m", *shlex.split(documented), "--csv", "--no-pager"], repo).stdout
    columns = next(csv.reader(io.StringIO(table)))
    assert len(columns) <= 40, columns
    assert {"supervision", "handwriting_top10.cws", "mnist_val_accuracy.cws", "flies_kde.cws_fly1"} <= set(columns)
    run([sys.executable, "-m", "stages.report_sweep"], repo)
    html = (repo / "reports" / "sweep.html").read_text()
    for rate in ("12.5%", "25%"):
        assert rate in html
    dvc("exp", "apply", "sup25", cwd=repo)
    diff = run(["git", "diff", "-U0", "params.yaml"], repo).stdout
    assert [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")] == \
        ["-supervision: 0.125", "+supervision: 0.25"]
    run(["git", "checkout", "--", "."], repo)        # back to the committed baseline
    dvc("checkout", cwd=repo)

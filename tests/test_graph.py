"""The stage graph: dvc.yaml is what params.yaml and the code imply; every stage depends on the
fingerprint of the code it runs (its import closure) and, for fan-in stages, on every file it reads;
paths are written once."""
import re

import pytest
import yaml

from pipeline import closure, config, graph, layout
from tests.conftest import ROOT

PARAMS = config.load(ROOT / "params.yaml")
SPEC = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


def test_dvc_yaml_is_generated_from_params_and_code():
    assert graph.current(PARAMS) is None, "run `python -m pipeline.graph` and commit dvc.yaml"
    assert yaml.safe_load(graph.render(PARAMS))["stages"] == SPEC


def test_changing_seeds_makes_the_graph_stale():
    assert graph.current({**PARAMS, "seeds": [0, 1, 2, 3]}) is not None


def test_further_rates_add_a_rates_group_and_none_leaves_it_out():
    def stages(rates):
        p = {**PARAMS, "handwriting": {**PARAMS["handwriting"], "rates": rates}}
        return {s.name: s for s in graph.stages(p)}
    without, with_half = stages([]), stages([0.5])
    assert not any("rates" in name for name in without)
    assert {"train_handwriting_rates", "score_handwriting_rates"} <= set(with_half)
    report = lambda spec: spec["report_handwriting"].deps  # noqa: E731
    assert not any("/rates/" in d for d in report(without))
    assert any("/rates/cws-r0.5-s0/" in d for d in report(with_half))
    with pytest.raises(Exception, match="handwriting.rates"):
        config.validate({**PARAMS, "handwriting": {**PARAMS["handwriting"], "rates": [0]}})


def test_the_variable_rows_are_trained_only_when_switched_on():
    def variable(on, normalised):
        p = {**PARAMS, "handwriting": {**PARAMS["handwriting"], "variable_supervision": on, "normalised_ssws": normalised}}
        stage = {s.name: s for s in graph.stages(p)}.get("train_handwriting_variable")
        return stage.matrix["method"] if stage else None
    assert variable(False, True) is None
    assert variable(True, False) == ["cws", "ssws"] and variable(True, True) == ["cws", "ssws", "ssws_normalised"]
    assert graph.current({**PARAMS, "handwriting": {**PARAMS["handwriting"], "variable_supervision": True}}) is not None


def test_the_plateau_runs_are_the_first_seed_of_the_compared_methods_at_half_the_steps():
    stages = {s.name: s for s in graph.stages(PARAMS)}
    half = stages["train_handwriting_half"]
    assert half.matrix == {"method": ["cws", "ssws", "reinforce", "baseline"]}
    assert half.args["budget"] == 0.5 and half.args["seed"] == PARAMS["seeds"][0]
    assert "score_handwriting_half" not in stages
    report = stages["report_handwriting"]
    assert f"runs/handwriting/main/half/cws-s{PARAMS['seeds'][0]}/metrics.json" in report.deps


@pytest.mark.parametrize("switch", ["cws_k50", "cws_enumerated", "m1m2_alpha1"])
def test_a_switched_mnist_row_is_trained_only_when_switched_on_and_the_halves_always(switch):
    def trained(on):
        p = {**PARAMS, "mnist": {**PARAMS["mnist"], switch: on}}
        return {s.name: s for s in graph.stages(p)}["train_mnist"].matrix["method"]
    assert switch not in trained(False) and switch in trained(True)
    assert {"cws_phi_enumerated", "cws_theta_enumerated"} <= set(trained(False))


def test_the_flies_report_reads_the_per_step_scores_of_the_rule():
    report = {s.name: s for s in graph.stages(PARAMS)}["report_flies"]
    assert layout.TABLE1_STEPS in report.deps and layout.SHARED_BANDWIDTH in report.deps


@pytest.mark.parametrize("name", list(SPEC))
def test_every_stage_depends_on_the_code_it_runs_and_on_the_check(name):
    stage = SPEC[name]
    module = re.search(r"python -m (stages\.\w+)", stage["cmd"]).group(1)
    if name == "check_params":
        assert stage["deps"] == ["pipeline", "stages"] and stage["params"] == [{"params.yaml": None}]
        modules = {re.search(r"python -m (stages\.\w+)", s["cmd"]).group(1) for s in SPEC.values()} - {module}
        assert stage["outs"] == [{path: {"persist": True}} for path in [layout.CHECKED, *sorted(map(layout.code, modules))]]
    else:
        assert not [d for d in stage["deps"] if d.startswith(("pipeline", "stages"))]     # the code through its fingerprint
        assert stage["deps"][0] == layout.code(module) == f"data/code/{module.split('.')[1]}.json"
        assert (layout.CHECKED in stage["deps"]) == name.startswith("prepare_")


def test_every_stage_runs_after_the_check():
    """The prepare stages depend on check_params' mark and every other stage on another stage's
    output, so each one is downstream of the check: a bad value stops `dvc repro` first."""
    def pattern(path):
        return re.compile("^" + re.sub(r"\\\$\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + "$")
    made = {name: [pattern(next(iter(o)) if isinstance(o, dict) else o) for key in ("outs", "metrics", "plots")
                   for o in s.get(key, [])] for name, s in SPEC.items()}
    for name, stage in SPEC.items():
        upstream = {other for dep in stage.get("deps", []) for other, outs in made.items()
                    if other != name and any(p.match(dep) for p in outs)}
        assert name == "check_params" or upstream, name
        if name.startswith("prepare_"):
            assert upstream == {"check_params"}, name


def test_training_runs_only_what_training_needs():
    """No downloader, dataset reader or report code in a training or scoring stage's deps."""
    for module in ("stages.train_mnist", "stages.train_handwriting", "stages.train_flies", "stages.train_sequences",
                   "stages.score_mnist", "stages.score_handwriting", "stages.score_flies", "stages.score_sequences"):
        code = closure.closure(module)
        assert not [f for f in code if f.startswith(("pipeline/data/fetch", "pipeline/report/"))
                    or f.endswith(("iamondb.py", "deepwriting.py", "flytracker.py"))
                    or (module.endswith("sequences") and f.startswith("pipeline/data/"))], module


def test_the_closure_changes_exactly_with_the_imports(tmp_path):
    for folder in ("pipeline", "stages"):
        import shutil
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    before = closure.closure("stages.train_mnist", tmp_path)
    with open(tmp_path / "pipeline" / "experiments" / "mnist.py", "a") as f:
        f.write("\ndef _later():\n    from pipeline.models import dvrnn  # noqa\n")
    added = set(closure.closure("stages.train_mnist", tmp_path)) - set(before)
    assert "pipeline/models/dvrnn.py" in added and added <= set(closure.closure("stages.train_flies"))


def test_a_fingerprint_changes_exactly_with_its_closure(tmp_path):
    """What check_params writes: an edit of m2.py changes the MNIST entry points' fingerprints and no
    fly one; each lists the md5 of exactly its closure's files."""
    import hashlib
    import json
    import shutil
    for folder in ("pipeline", "stages"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    modules = ("stages.train_mnist", "stages.score_mnist", "stages.train_flies", "stages.report_index")
    before = {m: closure.fingerprint(m, tmp_path) for m in modules}
    files = json.loads(before["stages.train_mnist"])["files"]
    assert list(files) == closure.closure("stages.train_mnist", tmp_path)
    assert files["pipeline/models/m2.py"] == hashlib.md5((ROOT / "pipeline/models/m2.py").read_bytes()).hexdigest()
    with open(tmp_path / "pipeline" / "models" / "m2.py", "a") as f:
        f.write("\n# edited\n")
    changed = {m for m in modules if closure.fingerprint(m, tmp_path) != before[m]}
    assert changed == {"stages.train_mnist", "stages.score_mnist"}


def test_the_closure_follows_imports_inside_functions_and_packages():
    found = set(closure.closure("stages.train_mnist"))
    assert {"pipeline/__init__.py", "pipeline/models/__init__.py", "pipeline/models/m2.py",
            "pipeline/objectives.py", "stages/train_mnist.py"} <= found
    assert "pipeline/models/dvrnn.py" not in found
    assert "pipeline/report/templates/mnist.html.j2" in closure.closure("stages.report_mnist")


def _paths_in(text):
    return set(re.findall(r"(?:runs|data|reports)/[\w./${}-]+", text))


def test_every_path_a_stage_command_names_is_a_dep_or_an_out():
    """Paths live in one place: what the command is given is what DVC tracks."""
    for name, stage in SPEC.items():
        declared = set(stage.get("deps", [])) | {next(iter(o)) if isinstance(o, dict) else o
                                                 for key in ("outs", "metrics", "plots") for o in stage.get(key, [])}
        for path in _paths_in(stage["cmd"]):
            if path in (layout.RAW, layout.FIGURES) or path == layout.PROVENANCE:
                continue
            assert path in declared or any(d.startswith(path.rstrip("/") + "/") for d in declared), (name, path)


def test_reports_depend_on_explicit_run_files_never_on_a_folder():
    for name, stage in SPEC.items():
        if name.startswith("report_"):
            for dep in stage["deps"]:
                assert not dep.rstrip("/").endswith(("runs", "runs/mnist", "runs/handwriting", "runs/flies")), (name, dep)
    report = SPEC["report_mnist"]
    expected = {f"runs/mnist/{m}-s{s}/{layout.METRICS}" for m in ("cws", "m1m2", "rws", "m1") for s in PARAMS["seeds"]}
    assert expected <= set(report["deps"])


def test_the_old_phase_runner_deals_each_phase_to_the_workers_and_leaves_the_index_last():
    """benchmarks/phase_runner.py, what `make repro` ran before Dask: benchmarks/scheduler.py's baseline."""
    from benchmarks import phase_runner as repro
    names = ["check_params", "prepare_mnist", "train_mnist@cws-0", "train_mnist@cws-1", "train_flies@rnn-0",
             "score_mnist@cws-0", "score_mnist@cws-1", "select_bandwidth_flies", "report_mnist", "report_flies",
             "report_handwriting", "report_index"]
    first, train, score, select, report = repro.plan(names, jobs=2)
    assert first == [["check_params", "prepare_mnist"]]
    assert train == [["train_mnist@cws-0", "train_flies@rnn-0"], ["train_mnist@cws-1"]]
    assert score == [["score_mnist@cws-0"], ["score_mnist@cws-1"]]
    assert select == [["select_bandwidth_flies"]]
    assert report == [["report_mnist", "report_handwriting"], ["report_flies"]]     # the index is left to the end
    assert repro.plan(names, jobs=1)[1] == [["train_mnist@cws-0", "train_mnist@cws-1", "train_flies@rnn-0"]]
    every = set(SPEC)                        # every stage of dvc.yaml is a phase's or the final dvc repro's
    planned = {n.split("@")[0] for phase in repro.plan(list(every), 2) for w in phase for n in w}
    assert every - planned == {"report_index"}


def test_no_module_of_the_library_imports_itself_back():
    """The import graph of pipeline/ (imports inside functions included) has no cycle."""
    modules = {p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
               for p in (ROOT / "pipeline").rglob("*.py")}
    edges = {m: {n for n in closure.imported_modules(closure.module_file(m)) if n in modules and n != m} for m in modules}
    state = {}

    def visit(m, path):
        if state.get(m) == "open":
            raise AssertionError(" -> ".join(path + [m]))
        if state.get(m) != "done":
            state[m] = "open"
            for n in sorted(edges[m]):
                visit(n, path + [m])
            state[m] = "done"
    for m in sorted(modules):
        visit(m, [])


def test_mnist_runs_over_its_own_seeds_and_the_pool_row_over_its_first_ones():
    """mnist.seeds drive MNIST's matrix; null (the default profile) falls back to `seeds`.  The pool
    row trains CWS and M1+M2 at each of mnist.pool_sizes on the first POOL_SEEDS of them."""
    from pipeline.declarations import mnist
    own = PARAMS["mnist"]["seeds"] or PARAMS["seeds"]
    assert SPEC["train_mnist"]["matrix"]["seed"] == ("${mnist.seeds}" if PARAMS["mnist"]["seeds"] else "${seeds}")
    report = set(SPEC["report_mnist"]["deps"])
    assert {f"runs/mnist/cws-s{s}/{layout.METRICS}" for s in own} <= report
    pool = {f"runs/mnist/pool{n}/{m}-s{s}/grids.npz" for m in ("cws", "m1m2") for n in PARAMS["mnist"]["pool_sizes"]
            for s in own[:mnist.POOL_SEEDS]}
    assert pool <= report and (len(own) <= mnist.POOL_SEEDS or not any(f"-s{own[-1]}/" in d for d in report if "/pool" in d))
    assert "--pool ${item.pool}" in SPEC["train_mnist_pool"]["cmd"] and "--pool" not in SPEC["score_mnist_pool"]["cmd"]
    half = SPEC["train_mnist_half"]                     # the plateau check: the first of mnist.seeds at half the steps
    assert f"--seed {own[0]}" in half["cmd"] and "--budget 0.5" in half["cmd"] and set(half["matrix"]["method"]) == set(
        mnist.EXPERIMENT.members(PARAMS))
    assert f"runs/mnist/half/cws-s{own[0]}/{layout.METRICS}" in report
    fallback = graph.stages({**PARAMS, "mnist": {**PARAMS["mnist"], "seeds": None, "pool_sizes": []}})
    train = next(s for s in fallback if s.name == "train_mnist")
    assert train.matrix["seed"] == "${seeds}" and not any(s.name.endswith("_pool") for s in fallback)


def test_the_ceiling_trains_the_first_seed_only_and_reads_every_runs_generations():
    stages = {s.name: s for s in graph.stages(PARAMS)}
    assert stages["train_handwriting_ceiling"].matrix["seed"] == PARAMS["seeds"][:1]
    reader = f"runs/handwriting/ceiling/baseline-s{PARAMS['seeds'][0]}"
    for name in ("score_handwriting", "score_handwriting_scattered"):
        assert stages[name].args["reader"] == reader
    assert stages["score_handwriting_ceiling"].args["reader"] == "runs/handwriting/ceiling/${item.method}-s${item.seed}"
    assert f"{reader}/model.pt" in stages["score_handwriting"].deps
    report = stages["report_handwriting"].args["runs"]
    assert [r for r in report if "/ceiling/" in r] == [reader]


def test_reinforces_supervised_term_control_is_trained_only_when_switched_on():
    def main(on):
        p = {**PARAMS, "handwriting": {**PARAMS["handwriting"], "supervised_q": on}}
        return {s.name: s for s in graph.stages(p)}["train_handwriting"].matrix["method"]
    assert "supervised_q" not in main(False) and "supervised_q" in main(True)
    assert {"cws", "ssws", "reinforce", "baseline"} <= set(main(False))

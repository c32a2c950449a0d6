"""Reports only read files: no torch, no weights, no models, experiments, training or run loading.

The rule is positive: the import closure (pipeline/closure.py) of every report module and stage may
hold only the ALLOWED files, and none of them may import torch; code-less package `__init__`s are
allowed.  Checked statically, by importing them, and on constructed trees that break it."""
import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import closure
from tests.conftest import ROOT, env_with_venv

ALLOWED = ("pipeline/report/", "stages/report_", "pipeline/__init__.py",  # the reports, their templates, PipelineError
           "pipeline/stats.py", "pipeline/io.py", "pipeline/layout.py",  # numpy statistics, file formats
           "pipeline/run_folder.py", "pipeline/methods.py", "pipeline/config.py", "pipeline/cli.py",
           "pipeline/declaration.py", "pipeline/declarations/", "pipeline/registry.py",   # what an experiment is
           "pipeline/settings.py", "pipeline/rules.py", "pipeline/sized.py",              # the params a stage reads
           "pipeline/evaluate/kde.py",                                   # torch-free helpers the pages use
           "pipeline/data/handwriting/hershey.py", "pipeline/data/handwriting/strokes.py",
           "pipeline/data/handwriting/text.py")
REPORT_MODULES = sorted({f"pipeline.report.{p.stem}" for p in (ROOT / "pipeline" / "report").glob("*.py")} |
                        {f"stages.{p.stem}" for p in (ROOT / "stages").glob("report_*.py")})


def allowed(path, root=ROOT):
    """A file in ALLOWED, or a package `__init__.py` with no code."""
    return path.startswith(ALLOWED) or (path.endswith("__init__.py") and not closure.has_code(root / path))


def imports_torch(path):
    """Whether the source file imports torch or a torch submodule anywhere."""
    for node in ast.walk(ast.parse(path.read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
        if any(n == "torch" or n.startswith("torch.") for n in names):
            return True
    return False


def violations(module, root=ROOT):
    """Files in `module`'s import closure that are not allowed or that import torch."""
    found = []
    for path in (p for p in closure.closure(module, root) if p.endswith(".py")):
        if not allowed(path, root):
            found.append(f"{path} is not allowed")
        if imports_torch(root / path):
            found.append(f"{path} imports torch")
    return found


def loaded_violations(modules, root=ROOT):
    """Importing `modules` in a fresh interpreter at `root`: torch if it got loaded, and each of our
    loaded files that is not allowed."""
    code = ("import json, sys; " + "; ".join(f"import {m}" for m in modules) +
            "; print(json.dumps(['torch' in sys.modules, sorted(getattr(m, '__file__', None) or '' for n, m in "
            "list(sys.modules.items()) if n.split('.')[0] in ('pipeline', 'stages'))]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env_with_venv(), capture_output=True,
                         text=True, check=True).stdout
    torch, files = json.loads(out)
    paths = [Path(f).resolve().relative_to(root.resolve()).as_posix() for f in files if f]
    return ["torch is loaded"] * torch + [f"{p} is not allowed" for p in paths if not allowed(p, root)]


@pytest.mark.parametrize("module", REPORT_MODULES)
def test_report_code_imports_only_allowed_torch_free_files(module):
    assert violations(module) == []


def test_importing_every_report_stage_leaves_torch_unloaded():
    assert loaded_violations(REPORT_MODULES) == []


def test_the_rule_catches_a_stage_that_loads_a_model():
    assert "pipeline/runs.py is not allowed" in violations("stages.score_mnist")
    assert any("imports torch" in v for v in violations("stages.score_mnist"))


def _tree(root, files):
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


@pytest.mark.parametrize("imports, expected", [
    ("from pipeline.models import net", ["pipeline/models/net.py is not allowed", "pipeline/models/net.py imports torch"]),
    ("from pipeline.experiments import mnist", ["pipeline/experiments/mnist.py is not allowed"]),   # no torch, still out
    ("from pipeline import train", ["pipeline/train.py is not allowed"]),
    ("import torch", ["pipeline/report/page.py imports torch"]),
    ("from pipeline import stats", ["pipeline/stats.py imports torch"]),    # an allowed file that came to import torch
    ("from pipeline import io", []),
])
def test_the_rule_fails_on_constructed_report_modules(tmp_path, imports, expected):
    _tree(tmp_path, {"pipeline/__init__.py": "", "pipeline/report/__init__.py": '"""Pages."""\n',
                            "pipeline/report/page.py": f"{imports}\n", "pipeline/models/__init__.py": "",
                            "pipeline/models/net.py": "import torch.nn\n", "pipeline/train.py": "X = 1\n",
                            "pipeline/experiments/__init__.py": "", "pipeline/experiments/mnist.py": "X = 1\n",
                            "pipeline/stats.py": "import torch\n", "pipeline/io.py": "import json\n",
                            "torch/__init__.py": "", "torch/nn.py": ""})     # a stand-in torch, found first
    assert violations("pipeline.report.page", tmp_path) == expected
    assert set(loaded_violations(["pipeline.report.page"], tmp_path)) == \
        {"torch is loaded" if "torch" in v else v for v in expected}

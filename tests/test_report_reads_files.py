"""Reports only read files: no torch, no weights, no models, experiments, training or run loading.
Checked on the import closure of every report module and stage, and by importing them."""
import ast
import subprocess
import sys

import pytest

from pipeline import closure
from tests.conftest import ROOT, env_with_venv

FORBIDDEN_FILES = ("pipeline/models/", "pipeline/experiments/", "pipeline/train.py", "pipeline/runs.py",
                   "pipeline/evaluate/continuations.py")
REPORT_MODULES = sorted({f"pipeline.report.{p.stem}" for p in (ROOT / "pipeline" / "report").glob("*.py")} |
                        {f"stages.{p.stem}" for p in (ROOT / "stages").glob("report_*.py")})


def violations(module):
    """Files in `module`'s import closure that load a model or torch."""
    found = []
    for path in (p for p in closure.closure(module) if p.endswith(".py")):
        if path.startswith(FORBIDDEN_FILES):
            found.append(path)
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            if any(n == "torch" or n.startswith("torch.") for n in names):
                found.append(f"{path} imports torch")
    return found


@pytest.mark.parametrize("module", REPORT_MODULES)
def test_report_code_imports_no_torch_and_no_model_code(module):
    assert violations(module) == []


def test_the_rule_catches_a_stage_that_loads_a_model():
    assert any("pipeline/runs.py" in v for v in violations("stages.score_mnist"))
    assert any("imports torch" in v for v in violations("stages.score_mnist"))


def test_importing_every_report_stage_leaves_torch_unloaded():
    code = ("import sys; " + "; ".join(f"import {m}" for m in REPORT_MODULES) +
            "; print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('pipeline.models', "
            "'pipeline.experiments', 'pipeline.train', 'pipeline.runs'))))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env_with_venv(), capture_output=True,
                         text=True, check=True).stdout.strip()
    assert out == "[]"

"""Every stage in dvc.yaml lists the code it runs, so changing that code re-runs the stage.

The import closure of each stage's entry module (within `pipeline/` and `stages/`, package
`__init__`s with code included) must be covered by the stage's deps, file by file or by a folder.
"""
import ast
import re

import pytest
import yaml

from tests.conftest import ROOT

OURS = ("pipeline", "stages")


def module_file(name):
    path = ROOT.joinpath(*name.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def imported_modules(path):
    """Our modules that `path` imports anywhere (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)   # `from pkg import module`
    return {n for n in names if n.split(".")[0] in OURS and module_file(n)}


def closure(module):
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):                # importing a.b.c runs a and a.b first
            parent = ".".join(parts[:i])
            if parent not in seen and module_file(parent):
                seen.add(parent)
                todo.extend(imported_modules(module_file(parent)))
    files = {module_file(n) for n in seen}
    return {f.relative_to(ROOT).as_posix() for f in files if f.read_text().strip()}   # empty __init__s run nothing


def stages():
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, stage in spec.items():
        found = re.search(r"python -m (stages\.\w+)", stage["cmd"])
        if found:
            yield name, found.group(1), stage["deps"]


def covered(path, deps):
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("name,module,deps", list(stages()), ids=[s[0] for s in stages()])
def test_stage_deps_cover_the_code_it_imports(name, module, deps):
    missing = sorted(p for p in closure(module) if not covered(p, deps))
    assert not missing, f"dvc.yaml stage {name} imports but does not list: {missing}"


def test_the_closure_follows_imports_inside_functions_and_packages():
    found = closure("stages.train_mnist")
    assert {"pipeline/__init__.py", "pipeline/models/__init__.py", "pipeline/models/m2.py",
            "pipeline/objectives.py", "stages/train_mnist.py"} <= found
    assert "pipeline/models/dvrnn.py" not in found

"""The code a stage runs: the source files of its entry point's import closure.

check_params writes each entry point's fingerprint (the md5 of every file of its closure) to
data/code/<entry>.json, and each stage depends on its entry point's fingerprint (graph.py): an edit
changes exactly the fingerprints of the stages that run the edited file, and `dvc repro` re-runs
exactly those.  The closure is static: every import of our packages anywhere in a module (inside
functions too), package `__init__`s that hold code, and the files that code reads at run time (READS)."""
import ast
import hashlib
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = ("pipeline", "stages")
READS = {"pipeline/report/pages.py": "pipeline/report/templates"}   # code -> the folder of files it loads


def module_file(name, root=ROOT):
    path = root.joinpath(*name.split("."))
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    return None


def imported_modules(path, root=ROOT):
    """Our modules that `path` imports anywhere (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)   # `from pkg import module`
    return {n for n in names if n.split(".")[0] in OURS and module_file(n, root)}


def has_code(path):
    """False for an empty module or one that is only a docstring (a package's description)."""
    body = ast.parse(path.read_text()).body
    return bool(body[1:] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                else body)


def closure(module, root=ROOT):
    """Source files (relative to `root`) that running `module` executes, in sorted order."""
    seen, todo = set(), [module]
    while todo:
        parts = todo.pop().split(".")
        for i in range(1, len(parts) + 1):                # importing a.b.c runs a and a.b first
            parent = ".".join(parts[:i])
            if parent not in seen and module_file(parent, root):
                seen.add(parent)
                todo.extend(imported_modules(module_file(parent, root), root))
    found = {f.relative_to(root).as_posix() for f in map(lambda n: module_file(n, root), seen) if has_code(f)}
    for path in [p for p in found if p in READS]:
        found |= {f.relative_to(root).as_posix() for f in (root / READS[path]).iterdir() if f.is_file()}
    return sorted(found)


def fingerprint(module, root=ROOT):
    """The JSON text check_params writes for `module`: the md5 of each file of its closure."""
    files = {path: hashlib.md5((root / path).read_bytes()).hexdigest() for path in closure(module, root)}
    return json.dumps({"module": module, "files": files}, indent=1, sort_keys=True) + "\n"

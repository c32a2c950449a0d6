"""The training step as it was before the speed work, loaded from git (commit REF) for the benchmark:
its sequence models, heads, objectives and training step, with only their imports redirected, so
that today's step and the reference run side by side in one process."""
import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REF = "159f627"          # the last commit before the speed work
FILES = {"objectives": "pipeline/objectives.py", "heads": "pipeline/models/heads.py",
         "dvrnn": "pipeline/models/dvrnn.py", "baselines": "pipeline/models/baselines.py", "train": "pipeline/train.py"}
IMPORTS = {"from pipeline.models.heads import": "from reference_heads import",
           "from pipeline.models.m2 import mlp": "from pipeline.models.layers import mlp",
           "from pipeline.objectives import": "from reference_objectives import"}
ROOT = Path(__file__).resolve().parents[1]


def source(path):
    """The file at commit REF: from git, or, on a machine without the history, from the folder that
    $REFERENCE_SOURCE names (made by `git archive REF pipeline | tar -x -C FOLDER`)."""
    if os.environ.get("REFERENCE_SOURCE"):
        return (Path(os.environ["REFERENCE_SOURCE"]) / path).read_text()
    try:
        return subprocess.run(["git", "show", f"{REF}:{path}"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout
    except subprocess.CalledProcessError as err:
        raise SystemExit(f"benchmarks/reference.py: cannot read {path} at commit {REF} ({err.stderr.strip()}); "
                         f"run from a full (not shallow) clone, or set REFERENCE_SOURCE") from None


def load():
    """{name: module} of the reference code: needs the repository's git history or $REFERENCE_SOURCE."""
    folder = Path(tempfile.mkdtemp(prefix="cws-reference-"))
    modules = {}
    for name in FILES:                  # objectives and heads first: the others import them
        text = source(FILES[name])
        for old, new in IMPORTS.items():
            text = text.replace(old, new)
        path = folder / f"reference_{name}.py"
        path.write_text(text)
        spec = importlib.util.spec_from_file_location(f"reference_{name}", path)
        modules[name] = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = modules[name]
        spec.loader.exec_module(modules[name])
    return modules

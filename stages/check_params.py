"""Check params.yaml and the stage graph before any other stage runs.

A bad value stops `dvc repro` here, with one line naming the key, before DVC removes any other
stage's outputs; so does a dvc.yaml that params.yaml has outdated.  Then it writes the fingerprint of
each stage entry point's code (data/code/<entry>.json, closure.fingerprint), on which that entry
point's stages depend, and its mark, the same bytes every time, on which the prepare stages depend:
a valid change re-runs only the stages the change reaches."""
import argparse
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("torch") is None:        # every later stage needs it: say so once, here
    sys.exit(f"error: {sys.executable} has no torch: activate the project's environment "
             f"(`source .venv/bin/activate`) or run `make repro`")

from pipeline import PipelineError, closure, config, graph  # noqa: E402
from pipeline.cli import run  # noqa: E402
from pipeline.io import write_text  # noqa: E402

RESTORE = ("if `dvc exp run -S` wrote it, params.yaml keeps the rejected value: restore it with "
           "`git checkout params.yaml`")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the mark to write when the checks pass")
    args = parser.parse_args()
    try:
        params = config.load()
    except PipelineError as err:
        raise PipelineError(f"{err}; {RESTORE}") from None
    own = params["sequences"]["path"]
    if own and not Path(own).is_file():
        raise PipelineError(f"params.yaml: key 'sequences.path' is {own!r}, which is not a file (paths are relative to "
                            f"the repository root); write the file there, or clear the key and run "
                            f"`python -m pipeline.graph`")
    problem = graph.current(params)
    if problem:
        raise PipelineError(f"{problem}; run `python -m pipeline.graph` to regenerate dvc.yaml, then `dvc repro`")
    for path, module in graph.fingerprints(graph.stages(params)).items():
        write_text(path, closure.fingerprint(module))
    write_text(args.out, "params.yaml and dvc.yaml checked\n")


if __name__ == "__main__":
    run(main)

"""Check params.yaml and the stage graph, and fingerprint each stage's code, before any other stage runs.

A bad value stops `dvc repro` here, with one line naming the key, before DVC removes any other
stage's outputs.  Each output lists the hash of every source file one stage entry point runs;
stages depend on their entry point's list, so a code change re-runs exactly the stages that run
the changed code, and a valid change of params leaves every list as it was."""
import argparse
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("torch") is None:        # every later stage needs it: say so once, here
    sys.exit(f"error: {sys.executable} has no torch: activate the project's environment "
             f"(`source .venv/bin/activate`) or run `make repro`")

from pipeline import PipelineError, config, graph  # noqa: E402
from pipeline.cli import run  # noqa: E402
from pipeline.io import write_text  # noqa: E402

RESTORE = ("if `dvc exp run -S` wrote it, params.yaml keeps the rejected value: restore it with "
           "`git checkout params.yaml`")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", nargs="+", required=True, help="fingerprint files, data/code/<module>.sha256")
    args = parser.parse_args()
    try:
        params = config.load()
    except PipelineError as err:
        raise PipelineError(f"{err}; {RESTORE}") from None
    problem = graph.current(params)
    if problem:
        raise PipelineError(f"{problem}; run `python -m pipeline.graph` to regenerate dvc.yaml, then `dvc repro`")
    for path in args.out:
        write_text(path, graph.fingerprint(Path(path).name.removesuffix(".sha256")))


if __name__ == "__main__":
    run(main)

"""Check params.yaml and the stage graph before any other stage runs (every stage depends on this).

A bad value stops `dvc repro` here, with one line naming the key, before DVC removes any other
stage's outputs.  The output's content never changes while the params are valid, so a valid change
re-runs only the stages that read the changed keys."""
import argparse

from pipeline import PipelineError, config, graph
from pipeline.cli import run
from pipeline.io import write_text

OK = "params.yaml is valid and dvc.yaml matches it\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, help="the file every stage depends on")
    args = parser.parse_args()
    problem = graph.current(config.load())
    if problem:
        raise PipelineError(f"{problem}; run `python -m pipeline.graph` to regenerate dvc.yaml, then `dvc repro`")
    write_text(args.out, OK)


if __name__ == "__main__":
    run(main)

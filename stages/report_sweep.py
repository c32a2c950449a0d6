"""Collect finished DVC experiments into reports/sweep.html (a script, not a DVC stage: it reads
experiments, which live outside the workspace).  Usage: python -m stages.report_sweep"""
import json

import dvc.api
from dvc.exceptions import PathMissingError

from pipeline.cli import run
from pipeline.report import sweep


def read(path, rev):
    """The JSON file at `path` in experiment `rev` (None: the workspace), from git or the DVC cache."""
    try:
        return json.loads(dvc.api.read(path, repo=".", rev=rev))
    except PathMissingError:
        raise FileNotFoundError(path) from None


def main():
    sweep.build(dvc.api.exp_show(".", force=True), read)


if __name__ == "__main__":
    run(main)

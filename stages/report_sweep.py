"""Collect finished DVC experiments into reports/sweep.html (a script, not a DVC stage: it reads
experiments, which live outside the workspace).  Usage: python -m stages.report_sweep"""
import dvc.api

from pipeline.cli import run
from pipeline.report import sweep


def main():
    sweep.build(dvc.api.exp_show(".", force=True))


if __name__ == "__main__":
    run(main)

"""Shared entry-point plumbing for the stage scripts."""
import argparse
import logging
import sys

from pipeline import PipelineError


def run(main):
    """Run a stage's main(); a PipelineError becomes one line on stderr and exit status 2."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        main()
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def run_parser(doc, methods, scoring=False):
    """Arguments of a per-run stage: --method, --seed, --data (the prepared npz) and the run folder:
    --out for training, which writes it, or --run for scoring, which reads it and writes beside it."""
    parser = argparse.ArgumentParser(description=doc)
    parser.add_argument("--method", required=True, choices=list(methods))
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--data", required=True, help="the prepared npz")
    if scoring:
        parser.add_argument("--run", required=True, help="the trained run's folder; scores are written into it")
    else:
        parser.add_argument("--out", required=True, help="the run folder to write")
    parser.add_argument("--stage", help="this stage's name in dvc.yaml, under which the params it reads are recorded")
    parser.add_argument("--budget", type=float, default=1.0,
                        help="fraction of the training steps, same schedule (0.5: the plateau check's runs)")
    return parser


def handwriting_args(parser):
    """The handwriting runs' extra arguments: which comparison, supervision rate and pattern."""
    parser.add_argument("--group", required=True, help="main, rates or variable")
    parser.add_argument("--rate", type=float, required=True, help="fraction of labelled steps (or sequences, baseline)")
    parser.add_argument("--pattern", required=True, help="supervision_pattern: sequences, scattered or variable")
    return parser


def report_parser(doc, inputs=()):
    """Arguments of an experiment's report stage: the run folders it reads, further input files
    (`inputs`, each --name path) and the files it writes."""
    parser = argparse.ArgumentParser(description=doc)
    for name in inputs:
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--runs", nargs="+", required=True, help="run folders (trained and scored)")
    parser.add_argument("--plateau", nargs="*", default=[],
                        help="run folders of the plateau check (trained for part of the steps; their metrics.json)")
    parser.add_argument("--data", required=True, help="the prepared npz")
    parser.add_argument("--html", required=True, help="the page to write")
    parser.add_argument("--figures", required=True, help="folder for the figures as PNG")
    parser.add_argument("--summary", required=True, help="the page's numbers and claims as JSON")
    return parser

"""Shared entry-point plumbing for the stage scripts."""
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

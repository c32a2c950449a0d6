"""Write the overview page: every claim with our number and a verdict; provenance on its own page."""
import argparse

from pipeline import registry, settings
from pipeline.cli import run
from pipeline.io import read_json
from pipeline.report import index


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--summaries", nargs="+", required=True, help="the experiment pages' summary JSON files")
    parser.add_argument("--html", required=True, help="the overview page to write")
    parser.add_argument("--headline", required=True, help="the flat headline metrics JSON to write")
    parser.add_argument("--provenance", required=True,
                        help="the provenance page to write (commit, software, wall times; not a DVC output)")
    a = parser.parse_args()
    summaries = {index.experiment_of(path): read_json(path) for path in a.summaries}
    params = settings.read_params()
    cfg = settings.of_keys(params, registry.index_params(params), "report_index", "registry.index_params",
                           {k: r for e in registry.EXPERIMENTS.values() for k, r in e.checks().items()})
    index.build(cfg, summaries, a.html, a.headline, a.provenance)


if __name__ == "__main__":
    run(main)

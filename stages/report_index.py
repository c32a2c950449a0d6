"""Stage report_index: every claim with our number and a verdict, plus provenance -> reports/index.html."""
from pipeline import config
from pipeline.cli import run
from pipeline.io import read_json
from pipeline.report import index


def main():
    summaries = {k: read_json(f"reports/{k}_summary.json") for k in ("mnist", "handwriting", "flies")}
    index.build(config.load(), summaries)


if __name__ == "__main__":
    run(main)

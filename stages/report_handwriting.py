"""Stage report_handwriting: figures, tables and claims of the handwriting experiment -> reports/handwriting.html."""
from pipeline import config
from pipeline.cli import run
from pipeline.report import handwriting


def main():
    params = config.load()
    handwriting.build(params, config.settings(params, "handwriting"))


if __name__ == "__main__":
    run(main)

"""Write the handwriting report page: Fig. 3 left and right, the variable-supervision table, Fig. 4."""
from pipeline import config
from pipeline.cli import report_parser, run
from pipeline.report import handwriting


def main():
    a = report_parser(__doc__).parse_args()
    params = config.load()
    handwriting.build(params, config.settings(params, "handwriting"), a.runs, a.data, a.html, a.figures, a.summary)


if __name__ == "__main__":
    run(main)

"""Write the page of your own sequences: accuracy, confusion, continuations, samples and the verdicts."""
from pipeline import config
from pipeline.cli import report_parser, run
from pipeline.report import sequences


def main():
    a = report_parser(__doc__).parse_args()
    sequences.build(config.load(), a.runs, a.data, a.html, a.figures, a.summary)


if __name__ == "__main__":
    run(main)

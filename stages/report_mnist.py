"""Write the MNIST report page: Fig. 2a curves, Fig. 2b/c reconstructions, accuracy table and verdict."""
from pipeline import config
from pipeline.cli import report_parser, run
from pipeline.report import mnist


def main():
    a = report_parser(__doc__).parse_args()
    params = config.load()
    mnist.build(params, config.settings(params, "mnist"), a.runs, a.data, a.html, a.figures, a.summary)


if __name__ == "__main__":
    run(main)

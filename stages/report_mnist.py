
from pipeline import settings
from pipeline.cli import report_parser, run
from pipeline.declarations.mnist import EXPERIMENT
from pipeline.report import mnist
from pipeline.report.pages import Outputs


def main():
    a = report_parser(__doc__).parse_args()
    mnist.build(settings.load(EXPERIMENT, "report"), a.runs, a.data, Outputs.of(a), a.plateau)


if __name__ == "__main__":
    run(main)


from pipeline import settings
from pipeline.cli import report_parser, run
from pipeline.declarations.flies import EXPERIMENT
from pipeline.report import flies
from pipeline.report.pages import Outputs


def main():
    a = report_parser(__doc__, inputs=["bandwidth", "steps"]).parse_args()
    flies.build(settings.load(EXPERIMENT, "report"), a.runs, a.bandwidth, a.steps, a.data, Outputs.of(a), a.plateau)


if __name__ == "__main__":
    run(main)

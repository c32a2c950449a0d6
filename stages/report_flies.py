"""Write the Fly-vs-Fly report page: Table 1, Fig. 5b tracks and Fig. 6 densities."""
from pipeline import config
from pipeline.cli import report_parser, run
from pipeline.report import flies


def main():
    a = report_parser(__doc__, inputs=["bandwidth", "steps"]).parse_args()
    params = config.load()
    flies.build(params, config.settings(params, "flies"), a.runs, a.bandwidth, a.steps, a.data, a.html, a.figures, a.summary)


if __name__ == "__main__":
    run(main)

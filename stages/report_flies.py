"""Stage report_flies: Table 1, Fig. 5b and Fig. 6 -> reports/flies.html."""
from pipeline import config
from pipeline.cli import run
from pipeline.report import flies


def main():
    params = config.load()
    flies.build(params, config.settings(params, "flies"))


if __name__ == "__main__":
    run(main)

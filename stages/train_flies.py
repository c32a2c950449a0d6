"""Train one fly model (CWS or RWS DVRNN, VRNN or binned RNN) with one seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import flies


def main():
    runs.train_stage("flies", run_parser(__doc__, methods.FLIES).parse_args(), flies.run)


if __name__ == "__main__":
    run(main)

"""Train one fly model (CWS or RWS DVRNN, VRNN or binned RNN) with one seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import flies


def main():
    a = run_parser(__doc__, methods.FLIES).parse_args()
    runs.train_stage("flies", a.out, lambda cfg, device: flies.run(cfg, a.method, a.seed, a.data, a.out, device))


if __name__ == "__main__":
    run(main)

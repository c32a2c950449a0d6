"""Train one model of your own sequences (CWS, SSWS, the baseline or RWS) with one seed."""
from pipeline import methods, runs
from pipeline.cli import run, run_parser
from pipeline.experiments import sequences


def main():
    a = run_parser(__doc__, methods.SEQUENCES).parse_args()
    runs.train_stage("sequences", a.out, lambda cfg, device: sequences.run(cfg, a.method, a.seed, a.data, a.out, device))


if __name__ == "__main__":
    run(main)

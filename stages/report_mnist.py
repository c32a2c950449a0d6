"""Stage report_mnist: figures, table and verdict of the MNIST experiment -> reports/mnist.html."""
from pipeline import config
from pipeline.cli import run
from pipeline.report import mnist


def main():
    params = config.load()
    mnist.build(params, config.settings(params, "mnist"))


if __name__ == "__main__":
    run(main)

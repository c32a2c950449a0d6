"""Write a profile's sizes, epochs, particles and learning rates into params.yaml.

    python -m pipeline.profile paper      # or smoke, default; --params another file

Only the sized knobs change (pipeline/profiles/<name>.yaml); every other key, and the comments of the
keys kept, stay as they are.  Then `dvc repro` (or `dvc exp run`) runs what the new values change.
"""
import argparse
import sys
from pathlib import Path

from ruamel.yaml import YAML

from pipeline import config, sized
from pipeline.cli import run
from pipeline.io import write_text


def apply(path, name):
    """Rewrite params.yaml at `path` with profile `name`, keeping its layout and comments."""
    yaml = YAML()                                  # round trip, as `dvc exp run -S` writes the file
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.width = 120
    data = yaml.load(Path(path).read_text())
    for section, block in sized.profile(name).items():
        node = data[section]
        for key in sized.sized_keys(section):
            if key in node and key not in block:
                del node[key]
        for key, value in block.items():
            node[key] = value
    config.validate(data, str(path))
    text = __import__("io").StringIO()
    yaml.dump(data, text)
    write_text(path, text.getvalue())


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", choices=sized.PROFILES)
    parser.add_argument("--params", default=str(config.PARAMS_FILE))
    args = parser.parse_args(argv)
    apply(args.params, args.name)
    print(f"{args.params}: profile {args.name} written; `dvc repro` runs what it changes")


if __name__ == "__main__":
    run(lambda: main(sys.argv[1:]))

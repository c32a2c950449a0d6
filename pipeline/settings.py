"""params.yaml as one stage may read it.

A stage reads its knobs through a Settings object made from its experiment's declaration
(`Experiment.params_of`), the same list the stage graph gives DVC as the stage's params.  Every key
read is recorded, and a key not on that list is refused with a message naming the stage, the key and
the declaration to add it to: so a stage cannot read a parameter whose change DVC would not see.

    cfg = settings.load(declarations.mnist.EXPERIMENT, "train", method="cws")
    cfg["mnist"]["lr"]          # recorded as mnist.lr
    cfg["mnist"]["lr_decay"]    # PipelineError: the declaration of train_mnist does not list it

With PIPELINE_PARAMS_READ=FILE in the environment, each stage appends one JSON line
{"stage": ..., "read": [...]} to FILE when it exits (tests/test_e2e.py compares them with dvc.yaml).
"""
import atexit
import json
import os
from collections.abc import Mapping

import yaml

from pipeline import PipelineError

RECORD = "PIPELINE_PARAMS_READ"
PARAMS_FILE = "params.yaml"


class Settings(Mapping):
    """A read-only view of params (or of one section: `prefix`) that records and checks each key read."""

    def __init__(self, params, allowed, owner, prefix="", read=None):
        """owner: (stage, where its keys are declared, {dotted key: rule} checking each value read)."""
        self._params, self._allowed, self._owner, self._prefix = params, frozenset(allowed), owner, prefix
        self.read = set() if read is None else read

    def __getitem__(self, key):
        value = self._params[key]                                       # KeyError: absent (Mapping.get's default)
        dotted = self._prefix + key
        if isinstance(value, dict):                                     # a section: its keys are checked as read
            return Settings(value, self._allowed, self._owner, dotted + ".", self.read)
        stage, where, rules = self._owner
        if dotted not in self._allowed:
            raise PipelineError(f"stage {stage} reads params key '{dotted}', which its declaration does not list: "
                                f"add it to {where}, then run `python -m pipeline.graph`")
        problem = rules[dotted](value) if dotted in rules else None
        if problem:
            raise PipelineError(f"{PARAMS_FILE}: key '{dotted}' is {value!r}; it must be {problem}")
        self.read.add(dotted)
        return value

    def __iter__(self):
        return iter(k for k in self._params if any(a == self._prefix + k or a.startswith(self._prefix + k + ".")
                                                   for a in self._allowed))

    def __len__(self):
        return sum(1 for _ in self)

    def snapshot(self):
        """{dotted key: value} of every allowed key present, without recording them (checkpoint fingerprints)."""
        def value(dotted):
            node = self._params
            for part in dotted[len(self._prefix):].split("."):
                node = node[part]
            return node
        return {a: value(a) for a in sorted(self._allowed) if a.startswith(self._prefix) and _has(self._params, a[len(self._prefix):])}


def unchecked(params):
    """Settings that may read every key of `params` (benchmarks, tests and tools; never a stage)."""
    def leaves(node, prefix=""):
        for k, v in node.items():
            yield from leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else [prefix + k]
    return Settings(params, list(leaves(params)), ("(unchecked)", "-", {}))


def _has(params, dotted):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def read_params(path=PARAMS_FILE):
    """params.yaml as a dict (check_params validated it before any stage ran)."""
    try:
        with open(path) as f:
            params = yaml.safe_load(f)
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run from the repository root") from None
    except yaml.YAMLError as err:
        raise PipelineError(f"{path}: not valid YAML ({err.__class__.__name__}); fix the syntax") from None
    if not isinstance(params, dict):
        raise PipelineError(f"{path}: expected a mapping of keys to values")
    return params


def load(experiment, kind, method=None, group=None, stage=None, path=PARAMS_FILE):
    """The Settings of one stage of `experiment` (a declaration.Experiment): kind is the stage kind
    (prepare, train, score, report, ...), method and group those of a per-run stage; stage: its name in
    dvc.yaml (default <kind>_<experiment>), under which its reads are recorded."""
    allowed = experiment.params_of(kind, [method] if method else (), group)
    stage = stage or f"{kind}_{experiment.name}"
    return of_keys(read_params(path), allowed, stage, f"reads['{kind}'] in {experiment.source()}", experiment.checks())


def of_keys(params, allowed, stage, where, rules):
    """The Settings of a stage that may read the keys `allowed`, listed at `where` (for the message),
    each value checked by its rule as it is read (rules: {dotted key: rule}, e.g. Experiment.checks())."""
    cfg = Settings(params, allowed, (stage, where, rules))
    if os.environ.get(RECORD):
        atexit.register(_record, os.environ[RECORD], stage, cfg)
    return cfg


def _record(path, stage, cfg):
    with open(path, "a") as f:                  # one short line per stage: appends do not interleave
        f.write(json.dumps({"stage": stage, "read": sorted(cfg.read)}) + "\n")

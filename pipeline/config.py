"""Read params.yaml, merge the active profile, and validate every knob before any work.

Each dataset section holds its shared knobs plus one block per profile
(`smoke`, `default`, `paper`); `settings(params, "mnist")` returns the shared knobs
overlaid with the block of the active profile.
"""
from numbers import Integral, Real
from pathlib import Path

import yaml

from pipeline import PipelineError

PROFILES = ("smoke", "default", "paper")
PARAMS_FILE = Path("params.yaml")


def _choice(*allowed):
    def check(v):
        return None if v in allowed else f"one of {', '.join(map(str, allowed))}"
    return check


def _fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 <= v <= 1.0
    return None if ok else "a number in [0, 1]"


def _open_fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 < v <= 1.0
    return None if ok else "a number in (0, 1]"


def _count(v):
    ok = isinstance(v, Integral) and not isinstance(v, bool) and v >= 0
    return None if ok else "a whole number >= 0"


def _positive(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and v > 0
    return None if ok else "a number > 0"


def _at_least(n):
    def check(v):
        ok = isinstance(v, Integral) and not isinstance(v, bool) and v >= n
        return None if ok else f"a whole number >= {n}"
    return check


def _size(key, v):
    """A value in a profile block: sizes, epochs and rates are numbers > 0, with the exceptions below."""
    if isinstance(v, bool) or (v is None and key in NULLABLE):
        return None
    if key == "grad_clip":
        return None if isinstance(v, Real) and v >= 0 else "a number >= 0 (0 = off)"
    if key == "lr_decay":
        return _choice("constant", "cosine")(v)
    return _positive(v)


def _seeds(v):
    ok = (isinstance(v, list) and len(v) > 0 and len(set(v)) == len(v)
          and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in v))
    return None if ok else "a non-empty list of distinct whole numbers >= 0, e.g. [0, 1, 2]"


def _rates(v):
    ok = isinstance(v, list) and all(_open_fraction(r) is None for r in v)
    return None if ok else "a list of numbers in (0, 1], e.g. [0.5] or [] for none"


def _flag(v):
    return None if isinstance(v, bool) else "true or false"


# key -> check; a check returns None when the value is allowed, else a description of what is.
RULES = {
    "profile": _choice(*PROFILES),
    "seeds": _seeds,
    "device": _choice("auto", "cpu", "cuda"),
    "threads": _at_least(1),
    "supervision": _fraction,
    "supervision_pattern": _choice("uniform", "variable"),
    "mnist.source": _choice("embedded", "download", "local"),
    "mnist.labels": _count,
    "mnist.alpha": _positive,
    "mnist.cws_k50": _flag,
    "handwriting.source": _choice("embedded", "deepwriting", "iamondb"),
    "handwriting.rates": _rates,
    "handwriting.alpha": _positive,
    "handwriting.pen_context": _flag,
    "handwriting.normalised_ssws": _flag,
    "flies.source": _choice("embedded", "flyvsfly", "local", "download"),
    "flies.supervision": _fraction,
    "flies.rws_classes": _at_least(2),
    "flies.kde_floor_mm": _positive,
    "flies.filter_chunk": _at_least(1),
}
NULLABLE = {"train_windows", "test_windows", "valid_windows"}   # null = every window the data has (or a default)


def check_fraction(key, value):
    """A supervision rate from the command line, checked like the params it came from."""
    if _fraction(value):
        raise PipelineError(f"{key} is {value!r}; it must be {_fraction(value)}")
    return value


def _get(params, dotted):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def validate(params, source="params.yaml"):
    """Raise PipelineError naming the first bad key and its allowed values."""
    for key, check in RULES.items():
        try:
            value = _get(params, key)
        except KeyError:
            raise PipelineError(f"{source}: missing key '{key}'") from None
        problem = check(value)
        if problem:
            raise PipelineError(f"{source}: key '{key}' is {value!r}; it must be {problem}")
    for section in ("mnist", "handwriting", "flies"):
        if section in params and params["profile"] not in params[section]:
            raise PipelineError(
                f"{source}: section '{section}' has no block for profile '{params['profile']}'")
        for key, value in params.get(section, {}).get(params["profile"], {}).items():
            problem = _size(key, value)
            if problem:
                raise PipelineError(f"{source}: key '{section}.{params['profile']}.{key}' is {value!r}; "
                                    f"it must be {problem}")
    return params


def load(path=PARAMS_FILE):
    """Load and validate params.yaml."""
    path = Path(path)
    try:
        params = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; run from the repository root") from None
    except yaml.YAMLError as err:
        raise PipelineError(f"{path}: not valid YAML ({err.__class__.__name__}); fix the syntax") from None
    if not isinstance(params, dict):
        raise PipelineError(f"{path}: expected a mapping of keys to values")
    return validate(params, str(path))


def settings(params, section):
    """The section's shared knobs overlaid with the active profile's block."""
    block = params[section]
    merged = {k: v for k, v in block.items() if k not in PROFILES}
    merged.update(block[params["profile"]])
    return merged

"""What a params.yaml value may be: each rule returns None when the value is allowed, else a
description of what is (the message check_params and a stage's Settings print)."""
from numbers import Integral, Real
from pathlib import Path

from pipeline import PipelineError


def require(key, value, rule):
    """value, or a PipelineError naming `key` when `rule` refuses it (a value from the command line)."""
    problem = rule(value)
    if problem:
        raise PipelineError(f"{key} is {value!r}; it must be {problem}")
    return value


def choice(*allowed):
    def check(v):
        return None if v in allowed else f"one of {', '.join(map(str, allowed))}"
    return check


def fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 <= v <= 1.0
    return None if ok else "a number in [0, 1]"


def open_fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 < v <= 1.0
    return None if ok else "a number in (0, 1]"


def inner_fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 < v < 1.0
    return None if ok else "a number in (0, 1)"


def count(v):
    ok = isinstance(v, Integral) and not isinstance(v, bool) and v >= 0
    return None if ok else "a whole number >= 0"


def positive(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and v > 0
    return None if ok else "a number > 0"


def at_least(n):
    def check(v):
        ok = isinstance(v, Integral) and not isinstance(v, bool) and v >= n
        return None if ok else f"a whole number >= {n}"
    return check


def flag(v):
    return None if isinstance(v, bool) else "true or false"


def anything(v):
    return None


def seeds(v):
    ok = (isinstance(v, list) and len(v) > 0 and len(set(v)) == len(v)
          and all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in v))
    return None if ok else "a non-empty list of distinct whole numbers >= 0, e.g. [0, 1, 2]"


def counts(v):
    ok = isinstance(v, list) and all(count(n) is None and n > 0 for n in v) and len(set(v)) == len(v)
    return None if ok else "a list of distinct whole numbers > 0, e.g. [1000, 2000], or [] for none"


def rates(v):
    ok = isinstance(v, list) and all(open_fraction(r) is None for r in v)
    return None if ok else "a list of numbers in (0, 1], e.g. [0.5] or [] for none"


def data_path(*suffixes):
    def check(v):
        ok = v is None or (isinstance(v, str) and Path(v).suffix.lower() in suffixes)
        return None if ok else f"blank (the experiment is off) or a path ending in {', '.join(suffixes)}"
    return check


def column(v):
    return None if isinstance(v, str) and v.strip() else "a column name"


def optional_column(v):
    return None if v is None or column(v) is None else "blank (none) or a column name"


def columns(v):
    ok = v is None or (isinstance(v, list) and v and all(column(c) is None for c in v) and len(set(v)) == len(v))
    return None if ok else "blank (every other column) or a non-empty list of distinct column names"


NULLABLE = {"train_windows", "test_windows", "valid_windows", "stride"}   # null: every window the data has (or a default)


def sized(key, v):
    """A value a profile sets: sizes, epochs and rates are numbers > 0, with the exceptions below."""
    if isinstance(v, bool) or (v is None and key in NULLABLE):
        return None
    if key == "grad_clip":
        return None if isinstance(v, Real) and v >= 0 else "a number >= 0 (0 = off)"
    if key == "lr_decay":
        return choice("constant", "cosine")(v)
    if key == "seeds":                  # an experiment's own seeds (mnist): null = the global `seeds`
        return None if v is None else seeds(v)
    if key == "pool_sizes":             # mnist's pool row: training digits per run, [] for none
        return counts(v)
    return positive(v)

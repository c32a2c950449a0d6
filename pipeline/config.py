"""Read params.yaml and validate every knob before any work; the profiles it can be set to.

Every key of params.yaml is in force.  A dataset section holds its own knobs (SHARED) and the sizes,
epochs, particles and learning rates of a profile (pipeline/profiles/<name>.yaml: smoke, default,
paper), which `python -m pipeline.profile NAME` writes into it (with_profile); `profile_of` names the
profile the values are, if any.
"""
import copy
import functools
from numbers import Integral, Real
from pathlib import Path

import yaml

from pipeline import PipelineError

PROFILES = ("smoke", "default", "paper")
PROFILE_DIR = Path(__file__).parent / "profiles"
PARAMS_FILE = Path("params.yaml")
SECTIONS = ("mnist", "handwriting", "flies", "sequences")
SHARED = {"mnist": ("source", "local_dir", "split_seed", "labels", "alpha", "cws_k50"),
          "handwriting": ("source", "local_dir", "trusted_sha256", "deepwriting_url", "iamondb_url", "fonts",
                          "data_seed", "rates", "normalised_ssws", "alpha", "pen_context"),
          "flies": ("source", "local_dir", "supervision", "data_seed", "arena_radius", "fps", "ppm", "max_wing_gap",
                    "train_movies", "test_movies", "rws_classes", "kde_floor_mm", "filter_chunk"),
          "sequences": ("path", "id_column", "time_column", "feature_columns", "label_column", "supervision",
                        "split_seed", "valid_fraction", "topk")}
TOP = ("seeds", "device", "threads", "supervision", "supervision_pattern", *SECTIONS)


def profile(name):
    """{section: {key: value}}: the sized knobs of profile `name`."""
    return copy.deepcopy(_read_profile(name))


@functools.cache
def _read_profile(name):
    return yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())


def sized_keys(section):
    """The keys a profile sets in `section`, over every profile (a profile may leave some out)."""
    return list(dict.fromkeys(k for name in PROFILES for k in profile(name)[section]))


def with_profile(params, name):
    """params with every section's sized knobs replaced by profile `name`'s."""
    blocks = profile(name)
    return {**params, **{s: {**{k: v for k, v in params[s].items() if k not in sized_keys(s)}, **blocks[s]}
                         for s in SECTIONS}}


def profile_of(params):
    """The profile whose values params holds ("default"), or the nearest one and how many of its
    values were changed ("default, 2 values changed")."""
    def changed(name):
        return sum(params[s].get(k) != v for s, block in profile(name).items() for k, v in block.items())
    name = min(PROFILES, key=changed)
    n = changed(name)
    return name if n == 0 else f"{name}, {n} value{'s' * (n > 1)} changed"


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


DATA_SUFFIXES = (".csv", ".parquet", ".pq", ".npz")     # the formats of sequences.path


def _data_path(v):
    ok = v is None or (isinstance(v, str) and Path(v).suffix.lower() in DATA_SUFFIXES)
    return None if ok else f"blank (the experiment is off) or a path ending in {', '.join(DATA_SUFFIXES)}"


def _column(v):
    return None if isinstance(v, str) and v.strip() else "a column name"


def _optional_column(v):
    return None if v is None or _column(v) is None else "blank (none) or a column name"


def _columns(v):
    ok = v is None or (isinstance(v, list) and v and all(_column(c) is None for c in v) and len(set(v)) == len(v))
    return None if ok else "blank (every other column) or a non-empty list of distinct column names"


def _inner_fraction(v):
    ok = isinstance(v, Real) and not isinstance(v, bool) and 0.0 < v < 1.0
    return None if ok else "a number in (0, 1)"


# key -> check; a check returns None when the value is allowed, else a description of what is.
RULES = {
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
    "sequences.path": _data_path,
    "sequences.id_column": _column,
    "sequences.time_column": _optional_column,
    "sequences.feature_columns": _columns,
    "sequences.label_column": _column,
    "sequences.supervision": _open_fraction,
    "sequences.split_seed": _count,
    "sequences.valid_fraction": _inner_fraction,
    "sequences.topk": _at_least(1),
}
NULLABLE = {"train_windows", "test_windows", "valid_windows", "stride"}   # null: every window the data has (or a default); stride: the window


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
    unknown = [k for k in params if k not in TOP] + [f"{s}.{k}" for s in SECTIONS for k in params[s]
                                                     if k not in SHARED[s] and k not in sized_keys(s)]
    if unknown:
        hint = (" (profiles are not keys: `python -m pipeline.profile NAME` writes one's values)"
                if unknown[0].split(".")[-1] in ("profile", *PROFILES) else "")
        raise PipelineError(f"{source}: unknown key '{unknown[0]}'{hint}; remove it")
    for section in SECTIONS:
        for key in sized_keys(section):
            if key in params[section]:
                problem = _size(key, params[section][key])
                if problem:
                    raise PipelineError(f"{source}: key '{section}.{key}' is {params[section][key]!r}; "
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
    """The knobs of one experiment: its section of params.yaml."""
    return dict(params[section])

"""Validate every knob of params.yaml before any work (check_params), from the experiments' declarations.

Every key of params.yaml is in force.  The top level holds the shared keys (declaration.TOP) and those an
experiment owns (handwriting's `supervision`); each experiment's section holds its own keys (its
declaration's `section`, with their rules) and the sizes, epochs, particles and learning rates of a
profile (sized.py), which `python -m pipeline.profile NAME` writes into it.  Stages do not call this:
they read their declared keys through settings.py."""
from pathlib import Path

from pipeline import PipelineError, declaration, registry, rules, sized
from pipeline.settings import read_params

PARAMS_FILE = Path("params.yaml")


def sections():
    return list(registry.EXPERIMENTS)


def key_rules():
    """{dotted key: rule} of every key that is not a profile's."""
    return {**declaration.TOP, **{k: r for e in registry.EXPERIMENTS.values() for k, r in e.rules().items()}}


def _get(params, dotted):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(dotted)
        node = node[part]
    return node


def validate(params, source="params.yaml"):
    """Raise PipelineError naming the first bad key and its allowed values."""
    for key, check in key_rules().items():
        try:
            value = _get(params, key)
        except KeyError:
            raise PipelineError(f"{source}: missing key '{key}'") from None
        problem = check(value)
        if problem:
            raise PipelineError(f"{source}: key '{key}' is {value!r}; it must be {problem}")
    known = key_rules()
    unknown = [k for k in params if k not in known and k not in registry.EXPERIMENTS] + \
              [f"{s}.{k}" for s in sections() for k in params[s] if f"{s}.{k}" not in known
               and k not in sized.sized_keys(s)]
    if unknown:
        hint = (" (profiles are not keys: `python -m pipeline.profile NAME` writes one's values)"
                if unknown[0].split(".")[-1] in ("profile", *sized.PROFILES) else "")
        raise PipelineError(f"{source}: unknown key '{unknown[0]}'{hint}; remove it")
    for section in sections():
        for key in sized.sized_keys(section):
            if key in params[section]:
                problem = rules.sized(key, params[section][key])
                if problem:
                    raise PipelineError(f"{source}: key '{section}.{key}' is {params[section][key]!r}; "
                                        f"it must be {problem}")
    return params


def load(path=PARAMS_FILE):
    """Load and validate params.yaml (every key: check_params, the graph and the tools, not stages)."""
    return validate(read_params(path), str(path))

"""The profiles' sized knobs: sizes, epochs, particles and learning rates of smoke, default and paper
(pipeline/profiles/<name>.yaml).  `python -m pipeline.profile NAME` writes one into params.yaml."""
import copy
import functools
from pathlib import Path

import yaml

PROFILES = ("smoke", "default", "paper")
PROFILE_DIR = Path(__file__).parent / "profiles"


def profile(name):
    """{section: {key: value}}: the sized knobs of profile `name`."""
    return copy.deepcopy(_read_profile(name))


@functools.cache
def _read_profile(name):
    return yaml.safe_load((PROFILE_DIR / f"{name}.yaml").read_text())


def sized_keys(section):
    """The keys a profile sets in `section`, over every profile (a profile may leave some out)."""
    return list(dict.fromkeys(k for name in PROFILES for k in profile(name).get(section, {})))


def sized(section):
    """The dotted sized keys of a section ("mnist.lr", ...): what a page that names its profile reads."""
    return tuple(f"{section}.{k}" for k in sized_keys(section))


def with_profile(params, name):
    """params with every section's sized knobs replaced by profile `name`'s."""
    blocks = profile(name)
    return {**params, **{s: {**{k: v for k, v in params[s].items() if k not in sized_keys(s)}, **blocks[s]}
                         for s in blocks}}


def profile_of(cfg, sections):
    """The profile whose values the given sections of cfg hold ("default"), or the nearest one and how
    many of its values were changed ("default, 2 values changed")."""
    def changed(name):
        blocks = profile(name)
        return sum(cfg[s].get(k) != v for s in sections for k, v in blocks.get(s, {}).items())
    name = min(PROFILES, key=changed)
    n = changed(name)
    return name if n == 0 else f"{name}, {n} value{'s' * (n > 1)} changed"

"""Helpers the handwriting sources share: settings, the split dictionary, capped shuffles."""
import numpy as np

from pipeline import PipelineError


def _need(cfg, key, low=1, default=None):
    """cfg[key] as a whole number >= low (or `default` when given and the key is absent)."""
    if key not in cfg and default is None:
        raise PipelineError(f"params.yaml: handwriting.{key} is missing; add it to the handwriting section")
    value = cfg.get(key, default)
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise PipelineError(f"params.yaml: handwriting.{key} is {value!r}; it must be a whole number >= {low}")
    return int(value)


def _splits(train, valid, labelled):
    keys = ("x", "y", "text", "writer")
    out = {f"{k}_train": v for k, v in zip(keys, train)}
    out.update({f"{k}_valid": v for k, v in zip(keys, valid)})
    out["labelled"] = np.array(labelled)
    return out


def _shuffle_cap(split, n, rng):
    """A random subset of at most `n` windows (all of them, shuffled, if fewer)."""
    order = rng.permutation(len(split[0]))[:n]
    return tuple(a[order] for a in split)

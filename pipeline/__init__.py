"""Reproduction of "Semi-supervised Sequential Generative Models" (Teng et al., UAI 2020)."""


class PipelineError(Exception):
    """An error the user can fix: the message names the file or key and what to do."""

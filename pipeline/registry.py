"""Every experiment the pipeline knows, in the order of the graph and the index page."""
from pipeline import sized
from pipeline.declarations import flies, handwriting, mnist, sequences

EXPERIMENTS = {e.name: e for e in (mnist.EXPERIMENT, handwriting.EXPERIMENT, flies.EXPERIMENT, sequences.EXPERIMENT)}


def on(params):
    """The experiments params.yaml puts in the graph."""
    return [e for e in EXPERIMENTS.values() if e.on(params)]


def index_params(params):
    """What the index page reads: the seeds; per experiment in the graph, its top-level keys, the key
    naming its data (Experiment.data_key) and its sized keys (the page names the profile)."""
    keys = ["seeds"]
    for e in on(params):
        keys += [*e.top, *([e.data_key] if e.data_key else []), *sized.sized(e.name)]
    return keys

"""A compared method, as an experiment's declaration lists it (pipeline/declarations/<name>.py: METHODS).
The stage graph runs every method declared, the experiment code trains each from its entry
(train.Spec.of), and the reports label and colour them.

A Method names its objective in objectives.OBJECTIVES (by name, so that this module, which the reports
read, imports no torch) and says how a run of it differs from the experiment's defaults:
  uses_labels  False for the unsupervised methods: no label reaches them, and their classes carry no names
  bind         (argument, value) pairs the objective is called with; a str value is a key of the
               experiment's settings (e.g. ("alpha", "alpha") passes cfg["alpha"]), a number is used as it is
  particles    K, where it is not the experiment's `particles` setting
  enumerate_y  y summed out (one particle per class) instead of sampled: static models only; "both": K
               sampled particles and one per class, for an objective that uses each (objectives.split_particles)"""
from dataclasses import dataclass

MANY_PARTICLES = 50        # cws_k50: CWS with five times the default profile's particles


@dataclass(frozen=True)
class Method:
    label: str
    colour: str
    objective: str
    uses_labels: bool = True
    bind: tuple = ()
    particles: int = None
    enumerate_y: object = False

"""The compared methods of each experiment, one registry per experiment.  The stage graph runs every
method listed here, the experiment code trains each from its entry (train.Spec.of), and the reports
label and colour them.

A Method names its objective in objectives.OBJECTIVES (by name, so that this module, which the reports
read, imports no torch) and says how a run of it differs from the experiment's defaults:
  uses_labels  False for the unsupervised methods: no label reaches them, and their classes carry no names
  bind         (argument, value) pairs the objective is called with; a str value is a key of the
               experiment's settings (e.g. ("alpha", "alpha") passes cfg["alpha"]), a number is used as it is
  particles    K, where it is not the experiment's `particles` setting
  enumerate_y  y summed out (one particle per class) instead of sampled: static models only"""
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
    enumerate_y: bool = False


MNIST = {
    "cws": Method("CWS", "tab:green", "cws"),
    "cws_enumerated": Method("CWS, y enumerated", "tab:olive", "cws_enumerated",     # sensitivity rows: sampling
                             enumerate_y=True),                                      # or objective?
    "cws_k50": Method("CWS, K = 50", "tab:pink", "cws", particles=MANY_PARTICLES),
    "m1m2": Method("M1+M2", "tab:blue", "m1m2", bind=(("alpha", "alpha"),), enumerate_y=True),
    "m1m2_alpha1": Method("M1+M2, alpha = 1", "tab:cyan", "m1m2", bind=(("alpha", 1.0),), enumerate_y=True),
    "rws": Method("RWS", "tab:purple", "rws", uses_labels=False),
    "m1": Method("M1", "tab:gray", "m1m2", uses_labels=False, bind=(("alpha", "alpha"),), enumerate_y=True),
}

def mnist_methods(cfg):
    """MNIST's methods, without the costly K = 50 sensitivity row unless mnist.cws_k50 switches it on."""
    return [m for m in MNIST if m != "cws_k50" or cfg.get("cws_k50")]


HANDWRITING = {
    "cws": Method("CWS", "tab:green", "cws"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange", "ssws"),
    "ssws_normalised": Method("SSWS, terms normalised per sequence", "tab:red", "ssws_normalised"),
    "reinforce": Method("REINFORCE (M1+M2)", "tab:olive", "reinforce", bind=(("alpha", "alpha"),)),
    "baseline": Method("IWAE + classifier of x (labelled subset)", "tab:blue", "classifier"),
}
# Which methods each handwriting comparison trains:
#   main      every method at `supervision`, `supervision_pattern` (Fig. 3 left)
#   rates     CWS against the baseline at each of handwriting.rates, uniform (Fig. 3 right)
#   variable  CWS against SSWS at `supervision`, rates varying between sequences (sec. 3.3.2); with
#             handwriting.normalised_ssws also SSWS normalised per sequence (a sensitivity row)
#   ceiling   the baseline with every label of every sequence: the fully supervised reference
HANDWRITING_GROUPS = {
    "main": ("cws", "ssws", "reinforce", "baseline"),
    "rates": ("cws", "baseline"),
    "variable": ("cws", "ssws"),
    "ceiling": ("baseline",),
}


def handwriting_groups(cfg):
    """HANDWRITING_GROUPS with the sensitivity row the handwriting params switch on."""
    if not cfg.get("normalised_ssws"):
        return HANDWRITING_GROUPS
    return {**HANDWRITING_GROUPS, "variable": HANDWRITING_GROUPS["variable"] + ("ssws_normalised",)}

FLIES = {
    "cws": Method("CWS+DVRNN", "tab:green", "cws"),
    "rws": Method("RWS+DVRNN", "tab:purple", "rws", uses_labels=False),
    "vrnn": Method("VRNN", "tab:red", "iwae", uses_labels=False),
    "rnn": Method("RNN", "tab:brown", "iwae", uses_labels=False, particles=1),
}

SEQUENCES = {
    "cws": Method("CWS", "tab:green", "cws"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange", "ssws"),
    "baseline": Method("IWAE + classifier of x (labelled data only)", "tab:blue", "classifier"),
    "rws": Method("RWS (unsupervised)", "tab:purple", "rws", uses_labels=False),
}

REGISTRY = {"mnist": MNIST, "handwriting": HANDWRITING, "flies": FLIES, "sequences": SEQUENCES}

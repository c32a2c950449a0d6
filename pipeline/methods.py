"""The compared methods of each experiment, one registry per experiment.  The stage graph runs every
method listed here, the experiment code builds each by name, and the reports label and colour them.
`uses_labels` is False for the unsupervised methods, whose classes carry no names."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Method:
    label: str
    colour: str
    uses_labels: bool = True


MNIST = {
    "cws": Method("CWS", "tab:green"),
    "cws_enumerated": Method("CWS, y enumerated", "tab:olive"),      # sensitivity rows: sampling or objective?
    "cws_k50": Method("CWS, K = 50", "tab:pink"),
    "m1m2": Method("M1+M2", "tab:blue"),
    "m1m2_alpha1": Method("M1+M2, alpha = 1", "tab:cyan"),
    "rws": Method("RWS", "tab:purple", uses_labels=False),
    "m1": Method("M1", "tab:gray", uses_labels=False),
}

def mnist_methods(cfg):
    """MNIST's methods, without the costly K = 50 sensitivity row unless mnist.cws_k50 switches it on."""
    return [m for m in MNIST if m != "cws_k50" or cfg.get("cws_k50")]


HANDWRITING = {
    "cws": Method("CWS", "tab:green"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange"),
    "ssws_normalised": Method("SSWS, terms normalised per sequence", "tab:red"),
    "reinforce": Method("REINFORCE (M1+M2)", "tab:olive"),
    "baseline": Method("IWAE + classifier of x (labelled subset)", "tab:blue"),
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
    "cws": Method("CWS+DVRNN", "tab:green"),
    "rws": Method("RWS+DVRNN", "tab:purple", uses_labels=False),
    "vrnn": Method("VRNN", "tab:red", uses_labels=False),
    "rnn": Method("RNN", "tab:brown", uses_labels=False),
}

SEQUENCES = {
    "cws": Method("CWS", "tab:green"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange"),
    "baseline": Method("IWAE + classifier of x (labelled data only)", "tab:blue"),
    "rws": Method("RWS (unsupervised)", "tab:purple", uses_labels=False),
}

REGISTRY = {"mnist": MNIST, "handwriting": HANDWRITING, "flies": FLIES, "sequences": SEQUENCES}

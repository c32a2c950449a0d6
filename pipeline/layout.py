"""Where the pipeline's files live, each name written once.  The stage graph (graph.py) builds every
path of dvc.yaml from these, stages receive their paths as arguments, and the run and report code
names the files inside a run folder from here."""

RAW = "data/raw"                       # downloads (not DVC outputs: their names depend on the source)
CHECKED = "data/params.checked"        # check_params' mark (the same bytes every time); the prepare stages depend on it


def code(module):
    """check_params' fingerprint of a stage entry point's code (closure.fingerprint): its stages' first dep."""
    return f"data/code/{module.rsplit('.', 1)[-1]}.json"


def run_folder(experiment, method, seed, group=None, rate=None):
    """A run's folder: runs/<experiment>[/<group>]/<method>[-r<rate>]-s<seed>."""
    name = f"{method}-r{rate}-s{seed}" if rate is not None else f"{method}-s{seed}"
    return "/".join(p for p in ("runs", experiment, group, name) if p)


def prepared(experiment):
    return f"data/prepared/{experiment}.npz"


# Inside a run folder: what training writes (DVC outputs) ...
MODEL, METRICS, CURVE = "model.pt", "metrics.json", "curve.tsv"
# ... what scoring writes: one JSON of numbers and one npz of arrays per run (its declaration's `scores`) ...
SHARED_BANDWIDTH = "runs/flies/shared_bandwidth.json"   # Table 1 under the rules chosen on validation windows
TABLE1_STEPS = "runs/flies/table1_steps.npz"            # the verdicts' rule, per run, test window, step and fly
FLY_BOUNDS = "runs/flies/bounds.npz"                    # the scale's bounds' continuations (evaluate.bounds)
# ... and wall times, which are not DVC outputs (they differ on every run; dvc.lock must not).
TRAIN_TIME, SCORE_TIME = "timing.json", "score_timing.json"

REPORTS = "reports"
FIGURES = "reports/figures"


def page(name):
    return f"{REPORTS}/{name}.html"


def summary(experiment):
    return f"{REPORTS}/{experiment}_summary.json"


HEADLINE = f"{REPORTS}/summary.json"           # the flat headline metrics (dvc metrics show)
PROVENANCE = f"{REPORTS}/provenance.html"      # commit, software, wall times: not a DVC output

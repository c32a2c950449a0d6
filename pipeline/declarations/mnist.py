"""MNIST (paper sec. 4.1, Fig. 2): M2 trained by CWS, M1+M2 and the sensitivity rows, 100 labels."""
from pipeline import layout, rules
from pipeline.declaration import (WHERE, Experiment, Group, matrix_runs, plateau_stages, prepare_stage, report_stage,
                                  run_stages, seeds_of)
from pipeline.methods import MANY_PARTICLES, Method
from pipeline.sized import sized

METHODS = {
    "cws": Method("CWS", "tab:green", "cws"),
    "cws_enumerated": Method("CWS, y enumerated", "tab:olive", "cws_enumerated",     # sensitivity rows: sampling
                             enumerate_y=True),                                      # or objective?
    "cws_phi_enumerated": Method("CWS, phi's target enumerated", "tab:brown", "cws_phi_enumerated",   # the two halves
                                 bind=(("classes", 10),), enumerate_y="both"),                       # of the row above
    "cws_theta_enumerated": Method("CWS, theta's bound enumerated", "gold", "cws_theta_enumerated",
                                   bind=(("classes", 10),), enumerate_y="both"),
    "cws_k50": Method("CWS, K = 50", "tab:pink", "cws", particles=MANY_PARTICLES),
    "m1m2": Method("M1+M2", "tab:blue", "m1m2", bind=(("alpha", "alpha"),), enumerate_y=True),
    "m1m2_alpha1": Method("M1+M2, alpha = 1", "tab:cyan", "m1m2", bind=(("alpha", 1.0),), enumerate_y=True),
    "rws": Method("RWS", "tab:purple", "rws", uses_labels=False),
    "m1": Method("M1", "tab:gray", "m1m2", uses_labels=False, bind=(("alpha", "alpha"),), enumerate_y=True),
}


# The pool sensitivity row: CWS and M1+M2 on fewer unlabelled digits (mnist.pool_sizes; the same 100
# labels, as many steps as the full runs), in runs/mnist/pool<size>/, on the first POOL_SEEDS seeds
# (fewer than the main runs', to keep the default run's time).
POOL = Group("pool", ("cws", "m1m2"), "_pool")
POOL_SEEDS = 3


def pool_folder(method, seed, size):
    return layout.run_folder("mnist", method, seed, group=f"pool{size}")


def pool_stages(exp, params):
    """The pool row's train and score stages and run folders (none when mnist.pool_sizes is empty)."""
    sizes, seeds = params["mnist"]["pool_sizes"], seeds_of(exp, params)[:POOL_SEEDS]
    if not sizes:
        return [], []
    matrix = {"method": list(POOL.methods), "pool": "${mnist.pool_sizes}", "seed": seeds}
    train, score = run_stages(exp, matrix, pool_folder("${item.method}", "${item.seed}", "${item.pool}"),
                              {"method": "${item.method}", "seed": "${item.seed}"}, "val_accuracy", POOL.name)
    train.args["pool"] = "${item.pool}"
    return [train, score], [pool_folder(m, s, n) for m in POOL.methods for n in sizes for s in seeds]


def stages(exp, params):
    """Every method by every seed; the first seed of every method again at half the steps (the rule's
    plateau check); the pool row."""
    runs_, folders = matrix_runs(exp, params, "val_accuracy")
    (half, _), plateau = plateau_stages(exp, params, exp.members(params), {}, "val_accuracy")
    pool, pool_runs = pool_stages(exp, params)
    return [prepare_stage(exp), *runs_, half, *pool, report_stage(exp, folders + pool_runs, plateau=plateau)]


def headline(summary):
    return {"mnist_val_accuracy": {k: v["val_accuracy"]["mean"] for k, v in summary.items()
                                   if isinstance(v, dict) and "val_accuracy" in v}}


EXPERIMENT = Experiment(
    name="mnist", title="MNIST (sec. 4.1, Fig. 2)",
    section={"source": rules.choice("embedded", "download", "local"), "local_dir": rules.anything,
             "split_seed": rules.count, "labels": rules.count, "alpha": rules.positive, "cws_k50": rules.flag,
             "cws_enumerated": rules.flag, "m1m2_alpha1": rules.flag},
    reads={"prepare": ("mnist.source", "mnist.local_dir", "mnist.split_seed", "mnist.train_size"),
           "train": (*WHERE, "mnist.labels", "mnist.epochs", "mnist.particles", "mnist.lr", "mnist.lr_decay", "mnist.batch_size",
                     "mnist.labelled_per_batch", "mnist.hidden", "mnist.z_dim"),
           "score": WHERE,
           "report": ("mnist.labels", "mnist.alpha", "mnist.source", *sized("mnist"))},
    methods=METHODS, groups={"pool": POOL}, switched=(("cws_k50", "mnist.cws_k50"), ("cws_enumerated", "mnist.cws_enumerated"),
                                             ("m1m2_alpha1", "mnist.m1m2_alpha1")),
    scores=("scores.json", "grids.npz"),
    figures=("mnist_fig2a.png", "mnist_fig2b.png", "mnist_fig2c.png", "mnist_weights.png"),
    stages=stages, headline=headline, other_sources=("mnist.local_dir",))

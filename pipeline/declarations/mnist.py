"""MNIST (paper sec. 4.1, Fig. 2): M2 trained by CWS, M1+M2 and the sensitivity rows, 100 labels."""
from pipeline import rules
from pipeline.declaration import WHERE, Experiment, matrix_runs, prepare_stage, report_stage
from pipeline.methods import MANY_PARTICLES, Method
from pipeline.sized import sized

METHODS = {
    "cws": Method("CWS", "tab:green", "cws"),
    "cws_enumerated": Method("CWS, y enumerated", "tab:olive", "cws_enumerated",     # sensitivity rows: sampling
                             enumerate_y=True),                                      # or objective?
    "cws_k50": Method("CWS, K = 50", "tab:pink", "cws", particles=MANY_PARTICLES),
    "m1m2": Method("M1+M2", "tab:blue", "m1m2", bind=(("alpha", "alpha"),), enumerate_y=True),
    "m1m2_alpha1": Method("M1+M2, alpha = 1", "tab:cyan", "m1m2", bind=(("alpha", 1.0),), enumerate_y=True),
    "rws": Method("RWS", "tab:purple", "rws", uses_labels=False),
    "m1": Method("M1", "tab:gray", "m1m2", uses_labels=False, bind=(("alpha", "alpha"),), enumerate_y=True),
}


def stages(exp, params):
    runs_, folders = matrix_runs(exp, params, "val_accuracy")
    return [prepare_stage(exp), *runs_, report_stage(exp, folders)]


def headline(summary):
    return {"mnist_val_accuracy": {k: v["val_accuracy"]["mean"] for k, v in summary.items()
                                   if isinstance(v, dict) and "val_accuracy" in v}}


EXPERIMENT = Experiment(
    name="mnist", title="MNIST (sec. 4.1, Fig. 2)",
    section={"source": rules.choice("embedded", "download", "local"), "local_dir": rules.anything,
             "split_seed": rules.count, "labels": rules.count, "alpha": rules.positive, "cws_k50": rules.flag},
    reads={"prepare": ("mnist.source", "mnist.local_dir", "mnist.split_seed", "mnist.train_size"),
           "train": (*WHERE, "mnist.labels", "mnist.epochs", "mnist.particles", "mnist.lr", "mnist.batch_size",
                     "mnist.labelled_per_batch", "mnist.hidden", "mnist.z_dim"),
           "score": WHERE,
           "report": ("mnist.labels", "mnist.alpha", "mnist.source", *sized("mnist"))},
    methods=METHODS, switched=(("cws_k50", "mnist.cws_k50"),),
    scores=("scores.json", "grids.npz"),
    figures=("mnist_fig2a.png", "mnist_fig2b.png", "mnist_fig2c.png", "mnist_weights.png"),
    stages=stages, headline=headline, other_sources=("mnist.local_dir",))

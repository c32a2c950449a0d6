"""Your own sequences (docs/sequences.md): a partly labelled time series from a CSV, Parquet or npz file
through CWS, SSWS, the baseline and RWS, judged by the same rule.  In the graph while sequences.path is set."""
from pipeline import layout, rules
from pipeline.declaration import WHERE, Experiment, matrix_runs, prepare_stage, report_stage
from pipeline.methods import Method
from pipeline.sized import sized

METHODS = {
    "cws": Method("CWS", "tab:green", "cws"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange", "ssws"),
    "baseline": Method("IWAE + classifier of x (labelled data only)", "tab:blue", "classifier"),
    "rws": Method("RWS (unsupervised)", "tab:purple", "rws", uses_labels=False),
}
SUFFIXES = (".csv", ".parquet", ".pq", ".npz")     # the formats of sequences.path


def stages(exp, params):
    """The file is a dep through ${sequences.path}, so pointing it at another file needs no new graph;
    setting or clearing it does."""
    runs_, folders = matrix_runs(exp, params, "val_bound_per_step")
    prepare = prepare_stage(exp, {"input": "${sequences.path}", "out": layout.prepared(exp.name)},
                            deps=["${sequences.path}"])
    return [prepare, *runs_, report_stage(exp, folders)]


def headline(summary):
    return {"sequences_top1": {k: v["val_top1"] for k, v in summary["accuracy"].items() if METHODS[k].uses_labels}}


EXPERIMENT = Experiment(
    name="sequences", title="Your sequences (not the paper's data: the same rule on yours)",
    section={"path": rules.data_path(*SUFFIXES), "id_column": rules.column, "time_column": rules.optional_column,
             "feature_columns": rules.columns, "label_column": rules.column, "supervision": rules.open_fraction,
             "split_seed": rules.count, "valid_fraction": rules.inner_fraction, "topk": rules.at_least(1)},
    reads={"prepare": ("sequences.path", "sequences.id_column", "sequences.time_column", "sequences.feature_columns",
                       "sequences.label_column", "sequences.supervision", "sequences.split_seed",
                       "sequences.valid_fraction", "sequences.window", "sequences.stride"),
           "train": (*WHERE, "sequences.topk", "sequences.hidden", "sequences.z_dim", "sequences.mixture",
                     "sequences.epochs", "sequences.particles", "sequences.lr", "sequences.lr_decay",
                     "sequences.grad_clip", "sequences.batch_size", "sequences.eval_particles",
                     "sequences.seed_steps", "sequences.horizon"),
           "score": (*WHERE, "sequences.topk", "sequences.eval_particles", "sequences.seed_steps", "sequences.horizon",
                     "sequences.continuations", "sequences.score_windows", "sequences.generations"),
           "report": ("sequences.supervision", "sequences.split_seed", *sized("sequences"))},
    methods=METHODS, scores=("scores.json", "samples.npz"),
    figures=("sequences_curves.png", "sequences_confusion.png", "sequences_continuations.png",
             "sequences_conditioned.png"),
    stages=stages, headline=headline, paper=False, enabled="sequences.path")

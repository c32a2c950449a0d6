"""Fly-vs-Fly (paper sec. 4.3, Table 1, Fig. 5 and 6): the DVRNN by CWS and RWS against a VRNN and a
discretised RNN, on two flies' tracks; Table 1 under KDE rules chosen on validation windows, beside its
scale (bounds_flies) and a positive control (the oracle); the first seed of every method also trains at
half the steps for the plateau check, scored like the others."""
from pipeline import layout, rules
from pipeline.declaration import WHERE, Experiment, Stage, matrix_runs, plateau_stages, prepare_stage, report_stage
from pipeline.methods import Method
from pipeline.sized import sized

METHODS = {
    "cws": Method("CWS+DVRNN", "tab:green", "cws"),
    "rws": Method("RWS+DVRNN", "tab:purple", "rws", uses_labels=False),
    "vrnn": Method("VRNN", "tab:red", "iwae", uses_labels=False),
    "rnn": Method("RNN", "tab:brown", "iwae", uses_labels=False, particles=1),
    # the positive control: CWS's model and objective given every frame's true behaviour (simulated data)
    "oracle": Method("Oracle DVRNN (every true label)", "tab:olive", "cws"),
}
TABLE1 = ("cws", "rws", "vrnn", "rnn")      # the paper's Table 1 models; the oracle is the control beside them


def stages(exp, params):
    runs_, folders = matrix_runs(exp, params, "val_bound_per_step")
    half, half_folders = plateau_stages(exp, params, exp.members(params), {}, "val_bound_per_step")
    scores, arrays = exp.scores
    data = layout.prepared(exp.name)
    bounds = Stage("bounds_flies", "stages.bounds_flies", {"data": data, "out": layout.FLY_BOUNDS}, deps=[data],
                   params=exp.params_of("bounds"), outs=[layout.FLY_BOUNDS])
    select = Stage("select_bandwidth_flies", "stages.select_bandwidth_flies",
                   {"runs": folders, "floor": "${flies.kde_floor_mm}", "bounds": layout.FLY_BOUNDS, "half": half_folders,
                    "out": layout.SHARED_BANDWIDTH, "steps": layout.TABLE1_STEPS},
                   deps=[*(f"{f}/{name}" for f in [*folders, *half_folders] for name in (scores, arrays)), layout.FLY_BOUNDS],
                   params=exp.params_of("select_bandwidth"), outs=[layout.TABLE1_STEPS, layout.SHARED_BANDWIDTH])
    return [prepare_stage(exp), *runs_, *half, bounds, select,
            report_stage(exp, folders, {"bandwidth": layout.SHARED_BANDWIDTH, "steps": layout.TABLE1_STEPS},
                         plateau=half_folders)]


def headline(summary):
    return {"flies_kde": {f"{k}_{fly}": v[fly] for k, v in summary["table1"].items() for fly in ("fly1", "fly2")}}


EXPERIMENT = Experiment(
    name="flies", title="Fly-vs-Fly (sec. 4.3, Table 1, Fig. 5, 6)",
    section={"source": rules.choice("embedded", "flyvsfly", "local", "download"), "local_dir": rules.anything,
             "supervision": rules.fraction, "data_seed": rules.anything, "arena_radius": rules.anything,
             "fps": rules.anything, "ppm": rules.anything, "max_wing_gap": rules.anything,
             "train_movies": rules.anything, "test_movies": rules.anything, "rws_classes": rules.at_least(2),
             "kde_floor_mm": rules.positive, "filter_chunk": rules.at_least(1)},
    reads={"prepare": ("flies.source", "flies.local_dir", "flies.supervision", "flies.data_seed", "flies.arena_radius",
                       "flies.fps", "flies.ppm", "flies.max_wing_gap", "flies.train_movies", "flies.test_movies",
                       "flies.window", "flies.stride", "flies.train_windows", "flies.test_windows",
                       "flies.valid_windows", "flies.sim_frames", "flies.store_vision"),
           "train": (*WHERE, "flies.rws_classes", "flies.hidden", "flies.z_cws", "flies.z_rws", "flies.z_vrnn",
                     "flies.mixture", "flies.rnn_bins", "flies.steps", "flies.particles", "flies.lr",
                     "flies.lr_decay", "flies.grad_clip", "flies.batch_size", "flies.eval_particles"),
           "score": (*WHERE, "flies.score_windows", "flies.seed_steps", "flies.horizon", "flies.continuations",
                     "flies.kde_floor_mm", "flies.filter_chunk"),
           "bounds": ("flies.source", "flies.data_seed", "flies.arena_radius", "flies.fps", "flies.window",
                      "flies.stride", "flies.sim_frames", "flies.test_windows", "flies.score_windows",
                      "flies.seed_steps", "flies.horizon", "flies.continuations"),
           "select_bandwidth": ("flies.kde_floor_mm",),
           "report": ("flies.source", "flies.filter_chunk", *sized("flies"))},
    methods=METHODS, scores=("kde.json", "continuations.npz"),
    figures=("flies_fig5b.png", "flies_fig6.png", "flies_seeds.png"),
    stages=stages, headline=headline,
    other_sources=("flies.local_dir", "flies.ppm", "flies.max_wing_gap", "flies.train_movies", "flies.test_movies"))

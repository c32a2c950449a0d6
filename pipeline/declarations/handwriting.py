"""Handwriting (paper sec. 4.2, Fig. 3 and 4): the DVRNN on pen strokes, 70 character classes, trained
at `supervision` by CWS, SSWS, REINFORCE and the baseline, in four comparisons (GROUPS)."""
from pipeline import layout, rules
from pipeline.declaration import (WHERE, Experiment, Group, plateau_stages, prepare_stage, report_stage,
                                  run_stages)
from pipeline.methods import Method
from pipeline.sized import sized

PATTERNS = ("sequences", "scattered", "variable")     # supervision_pattern (data/supervision.py step_mask)
METHODS = {
    "cws": Method("CWS", "tab:green", "cws"),
    "ssws": Method("SSWS (eq. 14)", "tab:orange", "ssws"),
    "ssws_normalised": Method("SSWS, terms normalised per sequence", "tab:red", "ssws_normalised"),
    "reinforce": Method("REINFORCE (M1+M2)", "tab:olive", "reinforce", bind=(("alpha", "alpha"),)),
    "supervised_q": Method("q of REINFORCE's network, labelled steps alone", "tab:brown", "classifier"),
    "baseline": Method("IWAE + classifier of x (labelled subset)", "tab:blue", "classifier"),
}
# The comparisons, each its own train and score stages:
#   main       every method at `supervision`, `supervision_pattern` (Fig. 3 left; under the default pattern
#              `sequences` also sec. 3.3.2's CWS against SSWS); its first seed also trains at half the steps
#              (the plateau check of the rule)
#   scattered  CWS with the same number of labelled steps scattered over every sequence (a sensitivity row)
#   rates      CWS against the baseline at each of handwriting.rates (Fig. 3 right); only with rates
#   variable   CWS against SSWS at `supervision`, rates varying between sequences; only with
#              handwriting.variable_supervision; with handwriting.normalised_ssws also SSWS normalised per
#              sequence (sensitivity rows)
#   ceiling    the baseline with every label of every sequence: the fully supervised reference, whose
#              classifier of x also reads every run's Fig. 4 generations; first seed only (a reference
#              line and the one instrument that reads every run; no verdict pairs it by seed)
GROUPS = {
    "main": Group("main", ("cws", "ssws", "reinforce", "supervised_q", "baseline"), "", "${supervision}",
                  "${supervision_pattern}", params=("supervision", "supervision_pattern"),
                  switched=(("supervised_q", "handwriting.supervised_q"),),
                  plateau=("cws", "ssws", "reinforce", "baseline")),
    "scattered": Group("scattered", ("cws",), "_scattered", "${supervision}", "scattered", params=("supervision",)),
    "rates": Group("rates", ("cws", "baseline"), "_rates", "${item.rate}", "${supervision_pattern}",
                   params=("supervision_pattern",), by_rate=True),
    "variable": Group("variable", ("cws", "ssws", "ssws_normalised"), "_variable", "${supervision}", "variable",
                      params=("supervision",), switched=(("ssws_normalised", "handwriting.normalised_ssws"),),
                      on="handwriting.variable_supervision"),
    "ceiling": Group("ceiling", ("baseline",), "_ceiling", 1.0, "sequences", first_seeds=1),
}


def reader(params):
    """The ceiling run whose classifier of x reads every run's generations (Fig. 4)."""
    return layout.run_folder("handwriting", "baseline", GROUPS["ceiling"].seeds(params)[0], group="ceiling")


def groups_on(params):
    """The comparisons params.yaml asks for: no `rates` group without further rates, no switched-off group."""
    return [g for g in GROUPS.values() if (g.name != "rates" or params["handwriting"]["rates"]) and g.wanted(params)]


def folder(group, method, seed, rate=None):
    return layout.run_folder("handwriting", method, seed, group=group.name, rate=rate)


def stages(exp, params):
    out, runs, plateau = [prepare_stage(exp)], [], []
    for group in groups_on(params):
        members = group.members(params)
        seeds = group.seeds(params)
        matrix = {"method": members, **({"rate": "${handwriting.rates}"} if group.by_rate else {}),
                  "seed": seeds if group.first_seeds else "${seeds}"}
        where = folder(group, "${item.method}", "${item.seed}", rate="${item.rate}" if group.by_rate else None)
        args = {"group": group.name, "rate": group.rate, "pattern": group.pattern}
        train, score = run_stages(exp, matrix, where, {"method": "${item.method}", "seed": "${item.seed}", **args},
                                  "val_top10", group.name)
        if group.name == "ceiling":             # the ceiling's (one) run reads its own generations
            score.args["reader"] = where
        else:
            score.args["reader"] = reader(params)
            score.deps.append(f"{reader(params)}/{layout.MODEL}")
        out += [train, score]
        if group.plateau:
            (half, _), folders = plateau_stages(exp, params, group.plateau, args, "val_top10", group.name)
            out.append(half)
            plateau += folders
        rates = params["handwriting"]["rates"] if group.by_rate else [None]
        runs += [folder(group, m, s, rate=r) for m in members for r in rates for s in seeds]
    return [*out, report_stage(exp, runs, plateau=plateau)]


def headline(summary):
    return {"handwriting_top1": {k: v["val_top1"] for k, v in summary["main"].items()},
            "handwriting_top10": {k: v["val_top10"] for k, v in summary["main"].items()},
            "handwriting_scattered_top10": {k: v["val_top10"] for k, v in summary["scattered"].items()}}


MODEL = ("handwriting.z_dim", "handwriting.hidden", "handwriting.mixture", "handwriting.q_hidden",
         "handwriting.pen_context", "handwriting.content_latent", "handwriting.decoder_reads_h")
EXPERIMENT = Experiment(
    name="handwriting", title="Handwriting (sec. 4.2, Fig. 3, 4)",
    top={"supervision": rules.fraction, "supervision_pattern": rules.choice(*PATTERNS)},
    section={"source": rules.choice("embedded", "deepwriting", "iamondb"), "local_dir": rules.anything,
             "trusted_sha256": rules.anything, "deepwriting_url": rules.anything, "iamondb_url": rules.anything,
             "fonts": rules.anything, "data_seed": rules.anything, "rates": rules.rates,
             "variable_supervision": rules.flag, "normalised_ssws": rules.flag, "supervised_q": rules.flag, "alpha": rules.positive, "pen_context": rules.flag,
             "content_latent": rules.count, "decoder_reads_h": rules.flag, "kl_warmup": rules.fraction,
             "label_dropout": rules.fraction, "labelled_share": rules.fraction},
    reads={"prepare": ("handwriting.source", "handwriting.local_dir", "handwriting.trusted_sha256",
                       "handwriting.deepwriting_url", "handwriting.iamondb_url", "handwriting.fonts",
                       "handwriting.data_seed", "handwriting.seq_len", "handwriting.n_train", "handwriting.n_valid",
                       "handwriting.writers", "handwriting.valid_writers"),
           "train": (*WHERE, *MODEL, "handwriting.label_dropout", "handwriting.labelled_share",
                     "handwriting.epochs", "handwriting.particles", "handwriting.lr",
                     "handwriting.lr_decay", "handwriting.kl_warmup", "handwriting.grad_clip", "handwriting.batch_size",
                     "handwriting.eval_particles"),
           "score": (*WHERE, "handwriting.pen_context", "handwriting.eval_particles", "handwriting.generations"),
           "report": ("supervision", "supervision_pattern", "handwriting.label_dropout", *sized("handwriting"))},
    methods=METHODS, groups=GROUPS,
    scores=("scores.json", "generation.npz"),
    figures=("handwriting_fig3_left.png", "handwriting_fig3_right.png", "handwriting_fig4.png",
             "handwriting_fig4_samples.png"),
    stages=stages, headline=headline,
    other_sources=("handwriting.local_dir", "handwriting.trusted_sha256", "handwriting.deepwriting_url",
                   "handwriting.iamondb_url"))

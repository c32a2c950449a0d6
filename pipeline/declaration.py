"""What an experiment is, declared once (pipeline/declarations/<name>.py), with no torch in it.

An Experiment names its params section and the rules of its keys, its methods and comparison groups,
the params each kind of its stages reads, the files its score stages write, its figures, its page and
the headline numbers `dvc exp show` shows.  Its `stages` function lays out its part of the graph from
the builders below.  The stage graph (graph.py), the validation of params.yaml (config.py), the index
page and every stage's Settings (settings.py) read these declarations; registry.py lists them.

Adding an experiment: write pipeline/declarations/<name>.py, its stages/ entry points and its code,
and add it to registry.EXPERIMENTS (README, "Adding an experiment")."""
import functools
from dataclasses import dataclass, field

from pipeline import layout, rules, sized

PLATEAU_BUDGET = 0.5                    # the plateau check's runs train for this fraction of the steps
TOP = {"seeds": rules.seeds, "device": rules.choice("auto", "cpu", "cuda"), "threads": rules.at_least(1)}
WHERE = ("device", "threads")           # what every training and scoring stage reads: where and how it runs


@dataclass(frozen=True)
class Group:
    """One comparison of an experiment with several (handwriting): its methods, the suffix of its
    stages' names, the --rate and --pattern its runs get (values or ${...} of params), the params
    those interpolate, `switched` (method, key): a method trained only while key is true, and
    whether its runs sweep `rates` (run folders named by rate); `on`: a key whose false value leaves
    the group out; `plateau`: its methods whose first seed also trains at PLATEAU_BUDGET of the steps
    (the rule's plateau check, report/verdicts.py); `first_seeds`: only that many of the seeds (a
    reference no verdict pairs by seed)."""
    name: str
    methods: tuple
    suffix: str = ""
    rate: object = None
    pattern: str = None
    params: tuple = ()
    switched: tuple = ()
    by_rate: bool = False
    on: str = None
    plateau: tuple = ()
    first_seeds: int = None

    def members(self, params):
        return switched_on(self.methods, self.switched, params)

    def seeds(self, params):
        return params["seeds"][:self.first_seeds]

    def wanted(self, params):
        return self.on is None or bool(_get(params, self.on))


@dataclass(frozen=True)
class Experiment:
    name: str               # the params section, runs/<name>/, the stages' suffix and the page's name
    title: str              # its heading on the index page
    section: dict           # its section's own keys (those no profile sets) -> rule (rules.py)
    reads: dict             # stage kind (prepare, train, score, report, ...) -> the dotted keys it reads
    methods: dict           # method name -> methods.Method
    scores: tuple           # (numbers JSON, arrays npz): what a score stage writes into a run folder
    figures: tuple          # the report's figure files, under layout.FIGURES
    stages: callable        # (experiment, params) -> [Stage]: its part of the stage graph
    headline: callable      # its summary JSON -> {metric: number or {name: number}}: `dvc exp show` columns
    top: dict = field(default_factory=dict)       # top-level keys it owns -> rule (handwriting: supervision)
    groups: dict = field(default_factory=dict)    # name -> Group, for an experiment of several comparisons
    switched: tuple = ()    # (method, key): a method trained only while key is true
    paper: bool = True      # False: not the paper's data; the index lists it apart
    enabled: str = None     # a key whose blank value leaves the experiment out of the graph
    other_sources: tuple = ()   # keys of reads["prepare"] that only a non-default source reads

    @property
    def data_key(self):
        """The key that names its data: the switch of an experiment that has one, else its `source`."""
        return self.enabled or (f"{self.name}.source" if "source" in self.section else None)

    def on(self, params):
        return self.enabled is None or bool(_get(params, self.enabled))

    def rules(self):
        """{dotted key: rule} of the keys it owns (sized keys are checked by config.validate)."""
        return {**self.top, **{f"{self.name}.{k}": rule for k, rule in self.section.items()}}

    def checks(self):
        """{dotted key: rule} of every key its stages may read: the shared ones, its own, its sized ones."""
        return {**TOP, **self.rules(), **{f"{self.name}.{k}": functools.partial(rules.sized, k)
                                          for k in sized.sized_keys(self.name)}}

    def members(self, params):
        """The methods the graph trains."""
        return switched_on(self.methods, self.switched, params)

    def params_of(self, kind, methods=(), group=None):
        """The keys a stage of `kind` reads: reads[kind], each method's bound settings (Method.bind: a train stage's objective),
        and the keys its group's arguments interpolate.  Settings refuses any other; graph.py gives
        DVC the same list."""
        keys = list(self.reads[kind])
        if kind == "train":
            keys += [f"{self.name}.{v}" for m in methods for _, v in self.methods[m].bind if isinstance(v, str)]
        keys += list(self.groups[group].params) if group else []
        return list(dict.fromkeys(keys))

    def source(self):
        return f"pipeline/declarations/{self.name}.py"


def switched_on(methods, switched, params):
    """`methods` in order, each of `switched` (method, key) only while params' key is true."""
    off = {m for m, key in switched if not _get(params, key)}
    return [m for m in methods if m not in off]


def _get(params, dotted):
    node = params
    for part in dotted.split("."):
        node = node[part]
    return node


# ------------------------------------------------------------------ stages of the graph
@dataclass
class Stage:
    name: str
    module: str                         # stages.<entry point>
    args: dict                          # --key value (a list value becomes several words)
    deps: list = field(default_factory=list)
    params: list = field(default_factory=list)
    outs: list = field(default_factory=list)
    metrics: list = field(default_factory=list)
    plots: list = field(default_factory=list)   # (path, x, y)
    matrix: dict = None
    persist: bool = False               # outputs kept while the stage runs (check_params: kept when it fails)

    def command(self):
        words = [f"python -m {self.module}"]
        for key, value in self.args.items():
            values = value if isinstance(value, (list, tuple)) else [value]
            words.append(" ".join([f"--{key}", *map(str, values)]))
        return words


def prepare_stage(exp, args=None, deps=()):
    """prepare_<exp>: the data into layout.prepared(exp); by default from the downloads folder."""
    out = layout.prepared(exp.name)
    return Stage(f"prepare_{exp.name}", f"stages.prepare_{exp.name}", args or {"out": out, "raw": layout.RAW},
                 deps=list(deps), params=exp.params_of("prepare"), outs=[out])


def run_stages(exp, matrix, folder, args, curve_y, group=None, suffix=""):
    """The train and score matrix stages of `exp` (of one of its groups): one per item of `matrix`,
    each run in `folder` (with ${item.*}); `args` are the per-run arguments besides data and folder;
    `suffix` follows the group's in the stages' names."""
    data, (scores, arrays) = layout.prepared(exp.name), exp.scores
    suffix = (exp.groups[group].suffix if group else "") + suffix
    train = Stage(f"train_{exp.name}{suffix}", f"stages.train_{exp.name}",
                  {**args, "data": data, "out": folder, "stage": f"train_{exp.name}{suffix}"},
                  deps=[data], params=exp.params_of("train", matrix["method"], group),
                  outs=[f"{folder}/{layout.MODEL}", f"{folder}/{layout.METRICS}"],
                  plots=[(f"{folder}/{layout.CURVE}", "epoch", curve_y)], matrix=matrix)
    score = Stage(f"score_{exp.name}{suffix}", f"stages.score_{exp.name}",
                  {**args, "data": data, "run": folder, "stage": f"score_{exp.name}{suffix}"},
                  deps=[data, f"{folder}/{layout.MODEL}"], params=exp.params_of("score", matrix["method"], group),
                  outs=[f"{folder}/{arrays}", f"{folder}/{scores}"], matrix=matrix)
    return [train, score]


def plateau_stages(exp, params, methods, args, curve_y, group=None):
    """The plateau check's runs: the first seed of `methods` trained for PLATEAU_BUDGET of the steps,
    on the same schedule's shape, in runs/<exp>[/<group>]/half/.  ([train stage, score stage], folders);
    the report reads their metrics (and scores, where the verdict rests on scores)."""
    seed, under = seeds_of(exp, params)[0], "/".join(p for p in (group, "half") if p)
    where = layout.run_folder(exp.name, "${item.method}", seed, group=under)
    stages = run_stages(exp, {"method": list(methods)}, where,
                        {**args, "method": "${item.method}", "seed": seed, "budget": PLATEAU_BUDGET}, curve_y, group,
                        suffix="_half")
    return stages, [layout.run_folder(exp.name, m, seed, group=under) for m in methods]


def report_stage(exp, folders, inputs=None, plateau=()):
    """report_<exp>: reads every file of the given run folders and `inputs` {name: path}, and the training
    files of the `plateau` run folders; writes the page, its figures and its summary JSON (the index
    reads the summaries)."""
    scores, arrays = exp.scores
    data = layout.prepared(exp.name)
    per_run = [f"{f}/{name}" for f in folders for name in (layout.METRICS, layout.CURVE, scores, arrays)]
    per_run += [f"{f}/{layout.METRICS}" for f in plateau]
    inputs = {**(inputs or {}), **({"plateau": list(plateau)} if plateau else {})}
    return Stage(f"report_{exp.name}", f"stages.report_{exp.name}",
                 {"runs": folders, **inputs, "data": data, "html": layout.page(exp.name), "figures": layout.FIGURES,
                  "summary": layout.summary(exp.name)},
                 deps=[data, *per_run, *(v for k, v in inputs.items() if k != "plateau")], params=exp.params_of("report"),
                 outs=[layout.page(exp.name), *[f"{layout.FIGURES}/{n}" for n in exp.figures], layout.summary(exp.name)])


def seeds_of(exp, params):
    """The seeds of an experiment's runs: its section's own `seeds` where a profile sets them (mnist),
    else the global `seeds`."""
    return params[exp.name].get("seeds") or params["seeds"]


def matrix_runs(exp, params, curve_y):
    """The train, score and report stages of an experiment of one comparison: every method the graph
    trains (Experiment.members) by every seed (seeds_of), in runs/<exp>/<method>-s<seed>."""
    names = exp.members(params)
    folder = layout.run_folder(exp.name, "${item.method}", "${item.seed}")
    runs = [layout.run_folder(exp.name, m, s) for m in names for s in seeds_of(exp, params)]
    own = params[exp.name].get("seeds")
    stages = run_stages(exp, {"method": names, "seed": f"${{{exp.name}.seeds}}" if own else "${seeds}"}, folder,
                        {"method": "${item.method}", "seed": "${item.seed}"}, curve_y)
    return stages, runs

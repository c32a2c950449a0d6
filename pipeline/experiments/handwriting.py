"""The handwriting experiment (paper sec. 4.2): DVRNN on pen strokes with 70 character classes.

Methods (METHODS; q(z) is trained by IWAE in all of them, as in the paper):
  cws              q(y) by caffeinated wake-sleep (eq. 15)
  ssws             q(y) by semi-supervised wake-sleep as written (eq. 9 + 12, update eq. 14)
  ssws_normalised  the same with each sequence's terms divided by its |U| and |S| (sec. 3.3.2)
  reinforce        M1+M2 with a score-function gradient for the sampled y (alpha weights log q(y_S))
  baseline         IWAE + a classifier q(y | x) of x alone (no particle history), trained only on
                   the fully labelled `rate` fraction of sequences, for as many steps as the others
Every method's DVRNN reads the pen context u_t (models/pen_context.py) when handwriting.pen_context
is on.  training() says how to train one run (runs.train trains it); score() evaluates it: accuracy with the true labels teacher-forced into
the recurrence, and the Fig. 4 sentence written by the model (evaluate/writing.py), whose legibility
the ceiling classifier measures against the characters written and against the same characters
shuffled (chance).
"""
import numpy as np
import torch

from pipeline import runs
from pipeline.data.handwriting.hershey import render_text
from pipeline.data.handwriting.strokes import standardise
from pipeline.data.handwriting.text import FIG4_TEXT, clean_text, encode_text
from pipeline.data.supervision import labelled_sequences, step_mask
from pipeline.declarations.handwriting import METHODS
from pipeline.evaluate import writing
from pipeline.experiments.batches import accuracy_evaluator, batch_maker
from pipeline.models import pen_context
from pipeline.models.dvrnn import DVRNN
from pipeline.train import Spec

N_CLASSES = 70


def model_of(cfg, method, data):
    """The DVRNN every method shares; the baseline's q(y | x) reads x alone (the paper's separate
    classifier), the others' q(y_t) also reads the particle's recurrent state.  Deep-Writing's latent
    structure (content_latent, decoder_reads_h) is in the checkpoint's arguments when switched on."""
    structure = {"content_latent": cfg["content_latent"], "decoder_reads_h": cfg["decoder_reads_h"]}
    structure = {k: v for k, v in structure.items() if v != {"content_latent": 0, "decoder_reads_h": True}[k]}
    return runs.Model(DVRNN, {"x_dim": 4, "n_classes": N_CLASSES, "z_dim": cfg["z_dim"], "hidden": cfg["hidden"],
                              "emission": "stroke", "u_dim": pen_context.DIM if cfg.get("pen_context") else 0,
                              "mixture": cfg["mixture"], "q_hidden": cfg.get("q_hidden"),
                              "q_reads_state": method != "baseline", **structure})


def with_inputs(cfg, arrays):
    """arrays with the per-step inputs u (the pen context of x) the model reads, when it reads any."""
    return {**arrays, "u": pen_context.pen_context(arrays["x"])} if cfg.get("pen_context") else arrays


def spec_for(method, cfg, seed, name):
    """The Spec of one run: METHODS's entry (train.Spec.of)."""
    return Spec.of(METHODS[method], cfg, seed, name)


def label_dropout(cfg, method, pattern):
    """handwriting.label_dropout where q could learn to copy a true label fed to the recurrence the step
    before: not for the baseline (its q reads x alone) and not under the scattered layout (its labels are
    isolated steps; dropping half of them leaves too few for p to learn what y means)."""
    p = cfg["label_dropout"]                  # read in every case: every training stage tracks it
    return p if method != "baseline" and pattern != "scattered" else 0.0


def training_set(data, method, rate, pattern, seed):
    """x, labels and mask the run may see.  Unlabelled steps carry label -1, so no hidden label
    can reach training.  The baseline keeps only round(rate * N) sequences, fully labelled; under
    pattern `sequences` the other methods see those same sequences labelled and the rest unlabelled.
    rows: the indices of the training sequences kept."""
    x, y = data["x_train"], data["y_train"]
    rng = np.random.default_rng([seed, 11])
    keep = np.arange(len(x))
    if method == "baseline":
        keep = labelled_sequences(len(x), rate, rng)
        x, y = x[keep], y[keep]
        mask = np.ones(y.shape, dtype=bool)
    else:
        mask = step_mask(len(x), x.shape[1], rate, pattern, rng)
    mask &= y >= 0                      # steps whose label the source does not know stay unlabelled
    labels = np.where(mask, y, -1)
    return {"x": x, "labels": labels, "mask": mask, "rows": keep}


def characters_touched(x, y, mask):
    """{labelled_characters, characters}: the characters (segments ending at an end-of-character flag,
    or where the label changes) of the training sequences with at least one labelled step, and all of
    them: a layout's label budget in characters, beside its budget in steps."""
    ends = np.zeros(y.shape, dtype=bool)
    ends[:, :-1] = (x[:, :-1, 3] > 0.5) | (y[:, 1:] != y[:, :-1])
    ends[:, -1] = True
    ids = np.cumsum(ends, axis=1) - ends + ends.shape[1] * np.arange(len(y))[:, None]
    known = y >= 0
    return {"labelled_characters": int(len(np.unique(ids[mask & known]))), "characters": int(len(np.unique(ids[known])))}


def validation_set(cfg, data):
    return with_inputs(cfg, {"x": data["x_valid"], "labels": data["y_valid"]})


def training(settings, run):
    """How to train one run (a runs.Run with group, rate and pattern): a runs.Training for runs.train."""
    cfg, data = settings["handwriting"], np.load(run.data)
    train = with_inputs(cfg, training_set(data, run.method, run.rate, run.pattern, run.seed))
    spec = spec_for(run.method, cfg, run.seed, str(run.folder))
    steps = len(data["x_train"]) // min(cfg["batch_size"], len(data["x_train"]))   # every method: as many steps
    labelled = np.zeros(data["y_train"].shape, dtype=bool)                          # over the whole training set
    labelled[train.pop("rows")] = train["mask"]

    def metrics(model, history):
        last = history[-1]
        return {"method": run.method, "group": run.group, "rate": run.rate, "pattern": run.pattern, "seed": run.seed,
                "labelled_steps": int(train["mask"].sum()), "train_sequences": int(len(train["x"])),
                **characters_touched(data["x_train"], data["y_train"], labelled),
                **{k: last[k] for k in ("val_top1", "val_top5", "val_top10")},
                "val_top10_best": max(r["val_top10"] for r in history[1:])}

    return runs.Training(spec, model_of(cfg, run.method, data),
                         batch_maker(train, cfg["batch_size"], run.device, steps,
                                     label_dropout=label_dropout(cfg, run.method, run.pattern),
                                     labelled_share=cfg["labelled_share"]),
                         accuracy_evaluator(validation_set(cfg, data), run.device, particles=cfg["eval_particles"]),
                         metrics, settings.snapshot())


@torch.no_grad()
def z_kl_per_step(model, valid, particles, seed):
    """KL(q(z_t) || p(z_t | h_{t-1})) per step in nats, estimated on the validation windows `valid`
    (validation_set's) with their labels teacher-forced: the mean of log q - log p at q's samples.
    About 0 when the decoder ignores z."""
    torch.manual_seed(seed)
    labels = torch.as_tensor(valid["labels"])
    batch = {**{k: torch.as_tensor(v) for k, v in valid.items()}, "labels": labels.clamp(min=0), "mask": labels >= 0}
    trace = model(batch, particles)
    return (trace.log_qz - trace.log_pz).mean().item()


@torch.no_grad()
def score(settings, run):
    """Evaluate a trained run (a runs.Run with group, rate, pattern and reader): (arrays for
    generation.npz, numbers for scores.json).

    teacher_forced_top{1,5,10}: validation accuracy of q(y_t | x, y_<t, z_<t) when the recurrence
    is fed the true labels y_<t instead of q's own samples (free-running accuracy is in metrics.json;
    the difference is the exposure-bias gap).  generation: `generations` samples of FIG4_TEXT written by
    the model (writing.write, seeded by the run's seed); legibility: how well the ceiling classifier
    of run.reader (every label seen, x alone) reads them; ink_control_legibility: the same generations
    with every character's ink replaced by another character's (writing.destroyed_ink: pen states,
    end-of-character flags and durations kept); chance_legibility: against the written characters
    shuffled among their segments (writing.chance_labels); reference_legibility and
    reference_ink_control_legibility: the rendered sentence itself, and with its ink destroyed;
    distinct_generations: how many of the samples differ (z is the only randomness); kl_per_step:
    z's KL per step on the validation windows (z_kl_per_step: is z used?)."""
    cfg, data, device, seed = settings["handwriting"], np.load(run.data), run.device, run.seed
    mean, std, seq_len = data["mean"], data["std"], data["x_train"].shape[1]
    model, reader = runs.load_run(run.folder, device), runs.load_run(run.reader, device)
    forced = accuracy_evaluator(validation_set(cfg, data), device, particles=cfg["eval_particles"],
                                prefix="teacher_forced", teacher_forced=True)(model)
    reference, reference_y = render_text(FIG4_TEXT)
    torch.manual_seed(seed)
    samples = [writing.write(model, encode_text(clean_text(FIG4_TEXT)), mean, std) for _ in range(cfg["generations"])]
    rng = np.random.default_rng([seed, 5])
    true = [(standardise(reference, mean, std), reference_y)]
    read = lambda *args, **kw: writing.legibility(reader, *args, seq_len, mean, std, **kw)  # noqa: E731
    scores = {"method": run.method, "group": run.group, "rate": run.rate, "pattern": run.pattern, "seed": seed,
              **forced,
              "legibility": read(samples),
              "ink_control_legibility": read(samples, ink=lambda x, y: writing.destroyed_ink(x, y, rng)),
              "chance_legibility": read(samples, against=lambda x, y: writing.chance_labels(x, y, rng)),
              "reference_legibility": read(true),
              "reference_ink_control_legibility": read(true, ink=lambda x, y: writing.destroyed_ink(x, y, rng)),
              "distinct_generations": len({np.round(x, 3).tobytes() for x, _ in samples}),
              "kl_per_step": z_kl_per_step(model, validation_set(cfg, data), cfg["eval_particles"], seed),
              "generations": cfg["generations"], "steps_written": [len(x) for x, _ in samples]}
    length = max(len(x) for x, _ in samples)
    pad = lambda a: np.pad(a, [(0, length - len(a))] + [(0, 0)] * (a.ndim - 1))  # noqa: E731
    return {"samples": np.stack([pad(x) for x, _ in samples]).astype(np.float32),
            "labels": np.stack([pad(y) for _, y in samples]), "lengths": np.array([len(x) for x, _ in samples])}, scores

"""The Fly-vs-Fly experiment (paper sec. 4.3): four models of each fly's motion, given its vision
and own state, compared by how well closed-loop continuations predict the true positions.

  cws   DVRNN, 6-valued y trained by CWS on the sparse expert annotations
  rws   DVRNN, 10-valued y trained unsupervised by RWS
  vrnn  VRNN with a continuous z only, trained by IWAE
  rnn   the RNN of Eyjolfsdottir et al. (2016): binned motion, one categorical per dimension
  oracle  the positive control: the CWS DVRNN given every frame's true behaviour (simulated data
          only; on real data it has the expert annotations CWS has, so it controls nothing there)
A run takes `steps` gradient steps (flies.steps), with the learning rate's cosine decay over them.
Every model sees a fly as one sequence: x_t = its standardised motion, u_t = [vision, own state].
training() says how to train one (method, seed) pair (runs.train trains it); score() samples and
scores its continuations.
"""
import numpy as np
import torch

from pipeline import PipelineError, runs
from pipeline.data.fly_geometry import CLASSES, MOTION, N_BINS, STATE, model_inputs
from pipeline.declarations.flies import METHODS
from pipeline.evaluate.continuations import Arena, Seed, continue_tracks
from pipeline.evaluate.kde import FIXED_MM, kde_scores, validation_grids, window_totals
from pipeline.experiments.batches import accuracy_evaluator, batch_maker, bound_evaluator
from pipeline.models.baselines import BinnedRNN, quantile_edges
from pipeline.models.dvrnn import DVRNN
from pipeline.train import Spec

X_DIM, U_DIM = len(MOTION), 2 * N_BINS + len(STATE)


def stats_of(data):
    return {k: data[k] for k in ("motion_mean", "motion_std", "state_mean", "state_std")}


def per_fly(a):
    """[N, T, 2, ...] -> [2N, T, ...]: each fly of each window becomes one sequence."""
    a = np.asarray(a)
    return np.swapaxes(a, 1, 2).reshape(a.shape[0] * 2, a.shape[1], *a.shape[3:])


def sequences(data, split):
    """x, u, labels (and true_labels when simulated) of every fly-sequence of a split."""
    pose, stats = data[f"{split}_pose"][:, :-1], stats_of(data)
    radius = data[f"{split}_radius"][:, None]
    if f"{split}_vision" in data:
        vision = data[f"{split}_vision"].reshape(*pose.shape[:3], -1)
        u = np.concatenate([vision, (data[f"{split}_state"] - stats["state_mean"]) / stats["state_std"]], -1)
    else:
        u = model_inputs(pose, radius, stats)
    out = {"x": per_fly((data[f"{split}_motion"] - stats["motion_mean"]) / stats["motion_std"]).astype(np.float32),
           "u": per_fly(u).astype(np.float32), "labels": per_fly(data[f"{split}_labels"])}
    out["mask"] = out["labels"] >= 0
    if f"{split}_true_labels" in data:
        out["true_labels"] = per_fly(data[f"{split}_true_labels"])
    return out


def model_of(cfg, method, data):
    """The model of `method`; the RNN's bins are quantiles of the training motion."""
    if method == "rnn":
        edges = quantile_edges(sequences(data, "train")["x"], cfg["rnn_bins"])
        return runs.Model(BinnedRNN, {"x_dim": X_DIM, "u_dim": U_DIM, "hidden": cfg["hidden"], "edges": edges})
    classes, z = {"cws": (len(CLASSES), cfg["z_cws"]), "oracle": (len(CLASSES), cfg["z_cws"]),
                  "rws": (cfg["rws_classes"], cfg["z_rws"]), "vrnn": (0, cfg["z_vrnn"])}[method]
    return runs.Model(DVRNN, {"x_dim": X_DIM, "n_classes": classes, "z_dim": z, "hidden": cfg["hidden"], "u_dim": U_DIM,
                              "emission": "gaussian", "mixture": cfg["mixture"]})


def spec_for(method, cfg, seed, name, epochs=1):
    """The Spec of one run: METHODS's entry (train.Spec.of), evaluated `epochs` times (schedule)."""
    return Spec.of(METHODS[method], {**cfg, "epochs": epochs}, seed, name)


def schedule(steps, per_pass):
    """(evaluations, batches between them) for a budget of `steps` gradient steps: as many
    evaluations as passes over the data the budget makes, rounded to a divisor of steps so that
    every "epoch" has the same number of batches and the run takes exactly `steps`."""
    if steps < 1:
        raise PipelineError(f"params.yaml: flies steps is {steps}; it must be at least 1")
    want = max(1, round(steps / max(per_pass, 1)))
    epochs = min((d for d in range(1, steps + 1) if steps % d == 0), key=lambda d: (abs(d - want), d))
    return epochs, steps // epochs


def training_labels(data, method, train):
    """The labels and mask a run of `method` trains on: the oracle gets every true label (mask all
    ones) when the data has them (simulated flies), else the expert annotations like CWS."""
    if method != "oracle" or "true_labels" not in train:
        return train["labels"], train["mask"]
    return train["true_labels"], np.ones_like(train["mask"])


def training(settings, run):
    """How to train one model (a runs.Run): a runs.Training for runs.train."""
    cfg, data, method, device = settings["flies"], dict(np.load(run.data)), run.method, run.device
    train, test = sequences(data, "train"), sequences(data, "test")
    train["labels"], train["mask"] = training_labels(data, method, train)
    epochs, per_epoch = schedule(cfg["steps"], len(train["x"]) // min(cfg["batch_size"], len(train["x"])))
    spec = spec_for(method, cfg, run.seed, str(run.folder), epochs)
    bound = bound_evaluator(test, spec.particles, device)
    accuracy = accuracy_evaluator({"x": test["x"], "u": test["u"], "labels": test["labels"]}, device, ks=(1,),
                                  particles=cfg["eval_particles"], prefix="test_annotated")
    labelled = method in ("cws", "oracle")
    evaluate = (lambda m: {**bound(m), **accuracy(m)}) if labelled else bound

    def metrics(model, history):
        out = {"method": method, "seed": run.seed, "steps": (len(history) - 1) * per_epoch,
               **{k: v for k, v in history[-1].items() if k.startswith(("val", "test"))}}
        if labelled and "true_labels" in test:
            truth = accuracy_evaluator({"x": test["x"], "u": test["u"], "labels": test["true_labels"]}, device,
                                       ks=(1,), particles=cfg["eval_particles"], prefix="test_all_frames")
            out.update(truth(model))
        return out

    return runs.Training(spec, model_of(cfg, method, data),
                         batch_maker({k: train[k] for k in ("x", "u", "labels", "mask")}, cfg["batch_size"], device,
                                     steps=per_epoch),
                         evaluate, metrics, settings.snapshot())


def continuations(model, data, split, n, cfg, generator, filter_chunk=0):
    """K continuations of the first n windows of a split, seeded by their first seed_steps steps
    (conditioned at once, or by a particle filter resampling every filter_chunk steps):
    positions [n, K, H, 2, 2], the true positions [n, H, 2, 2] and the effective sample size of
    the particle weights at each resampling, averaged over resamplings [n, 2]."""
    seq = sequences(data, split)
    T0, H, K = cfg["seed_steps"], cfg["horizon"], cfg["continuations"]
    if T0 + H > data[f"{split}_motion"].shape[1]:
        raise PipelineError(f"params.yaml: flies seed_steps + horizon = {T0 + H} exceeds the window of "
                            f"{data[f'{split}_motion'].shape[1]} steps; raise flies window or lower horizon")
    device = generator.device
    seed = Seed(torch.as_tensor(seq["x"][:2 * n, :T0], device=device),              # rows 2i, 2i + 1: window i's flies
                torch.as_tensor(seq["u"][:2 * n, :T0], device=device),
                torch.as_tensor(data[f"{split}_pose"][:n, T0], device=device))
    arena = Arena(torch.as_tensor(data[f"{split}_radius"][:n], device=device), float(data["fps"]), stats_of(data))
    pos, ess = continue_tracks(model, seed, arena, H, K, generator, filter_chunk)
    positions = pos.permute(2, 0, 1, 3, 4).cpu().numpy()                          # [n, K, H, 2, 2]
    ess = ess.mean(0).cpu().numpy().reshape(n, 2)
    truth = data[f"{split}_pose"][:n, T0 + 1:T0 + 1 + H, :, :2]
    return positions, truth, ess


def score(settings, run):
    """Continuations of the first `score_windows` test and validation windows and their KDE scores.

    Returns (arrays for continuations.npz, numbers for kde.json): Table 1 on the test windows by
    Scott's rule (kde_fly1, kde_fly2) and at each fixed bandwidth (kde_fixed); the validation
    windows' total log density for every candidate of the shared and the defensive rule, from which
    select_bandwidth_flies chooses each rule for every model; the effective sample size of the
    weights after the seed.  The test windows are also continued from a particle filter over the
    seed (filter_positions, resampling every filter_chunk steps; ess_filter per resampling): a
    sensitivity row, scored by the rules chosen on the one-shot continuations."""
    cfg, data, method, seed, device = settings["flies"], dict(np.load(run.data)), run.method, run.seed, run.device
    model = runs.load_run(run.folder, device)
    n = min(cfg["score_windows"], len(data["test_pose"]))
    generator = torch.Generator(device=device).manual_seed(seed)
    torch.manual_seed(seed)
    positions, truth, ess = continuations(model, data, "test", n, cfg, generator)
    n_valid = min(cfg["score_windows"], len(data["valid_pose"]))
    valid_positions, valid_truth, _ = continuations(model, data, "valid", n_valid, cfg, generator)
    filtered, _, ess_filter = continuations(model, data, "test", n, cfg, generator, cfg["filter_chunk"])
    floor = cfg["kde_floor_mm"]
    scores = np.stack([kde_scores(p, t, floor) for p, t in zip(positions, truth)])     # [n, H, 2]
    per_window = scores.sum(1)                                                          # [n, 2]
    fixed = {str(h): window_totals(positions, truth, floor, h).mean(0) for h in FIXED_MM}
    grid, defensive = validation_grids(valid_positions, valid_truth, data["valid_radius"][:n_valid], floor)
    numbers = {"method": method, "seed": seed, "windows": n, "valid_windows": n_valid, "horizon": cfg["horizon"],
               "continuations": cfg["continuations"],
               "kde_fly1": float(per_window[:, 0].mean()), "kde_fly2": float(per_window[:, 1].mean()),
               "kde_fixed": {h: {"fly1": float(v[0]), "fly2": float(v[1])} for h, v in fixed.items()},
               "valid_kde_by_bandwidth": grid, "valid_defensive": defensive, "ess_after_seed": float(ess.mean()),
               "filter_chunk": cfg["filter_chunk"], "ess_filter": float(ess_filter.mean())}
    arrays = {"positions": positions.astype(np.float32), "truth": truth.astype(np.float32),
              "seed_track": data["test_pose"][:n, :cfg["seed_steps"] + 1, :, :2].astype(np.float32),
              "scores": scores.astype(np.float32), "radius": data["test_radius"][:n],
              "valid_positions": valid_positions.astype(np.float32), "valid_truth": valid_truth.astype(np.float32),
              "filter_positions": filtered.astype(np.float32)}
    return arrays, numbers

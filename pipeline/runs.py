"""One run, trained and scored: the arguments every run's stages share (Run), the skeleton every
experiment's training goes through (train), the run's weights, and the bodies of the train and score
stages.

A training run writes model.pt here (save_model) and curve.tsv and metrics.json through run_folder.py,
which holds the run folder's format; while it trains, a resumable checkpoint keyed by everything that
determines the result lives in runs/.checkpoints.  Scoring loads the weights back (load_trained)."""
import dataclasses
import hashlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import PipelineError, config, layout, run_folder
from pipeline.io import sha256, write_bytes, write_json
from pipeline.train import Spec, fit, pick_device, seed_everything, tune_cpu

CHECKPOINTS = Path("runs/.checkpoints")
CODE = Path(__file__).parent


@dataclass(frozen=True)
class Run:
    """One run as its train and score stages are given it (Run.from_args): what every experiment's
    run(cfg, run) and score(cfg, run) take besides the experiment's settings."""
    method: str            # a key of the experiment's methods registry
    seed: int
    data: str              # the prepared npz
    folder: str            # the run folder: training writes it; scoring reads it and writes into it
    device: object         # a torch.device or its name
    group: str = None      # handwriting only: the comparison (methods.HANDWRITING_GROUPS),
    rate: float = None     #   the supervision rate,
    pattern: str = None    #   uniform or variable,
    reader: str = None     #   and, to score, the ceiling run whose classifier reads the generations

    @classmethod
    def from_args(cls, args, device):
        """The Run of a stage's parsed arguments (cli.run_parser's, cli.handwriting_args', --reader)."""
        a = vars(args)
        return cls(a["method"], a["seed"], a["data"], a["out"] if "out" in a else a["run"], device,
                   **{k: a[k] for k in ("group", "rate", "pattern", "reader") if k in a})


@dataclass(frozen=True)
class Training:
    """What an experiment gives train() for one run."""
    spec: Spec              # the objective and the loop's knobs (train.Spec.of)
    build: callable         # () -> the untrained model, called once the seed is set
    make_batches: callable  # rng -> one epoch's batches (train.fit)
    evaluate: callable      # model -> validation metrics, before training and after every epoch
    metrics: callable       # (trained model, history) -> the contents of metrics.json


def fingerprint(config, data_files=()):
    """Hash of the run's config, its data and the library's source: a checkpoint resumes only
    when all three are unchanged."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode())
    for f in data_files:
        digest.update(sha256(f).encode())
    for f in sorted(CODE.rglob("*.py")):
        digest.update(f.read_bytes())
    return digest.hexdigest()[:16]


def checkpoint_path(run_dir, config, data_files=()):
    safe = str(run_dir).replace("@", "-").replace("/", "-")
    return CHECKPOINTS / f"{safe}-{fingerprint(config, data_files)}.pt"


def save_model(path, model):
    """The weights, through a buffer: the bytes depend on the weights only (a file name would be
    recorded inside the archive)."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    write_bytes(path, buf.getvalue())


def load_model(path, model):
    """Load weights saved by save_model (tensors only: weights_only=True)."""
    try:
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    except FileNotFoundError:
        raise PipelineError(f"{path}: missing; run `dvc repro` to train it") from None
    except (RuntimeError, KeyError) as err:
        raise PipelineError(f"{path}: weights do not fit the model of the current params "
                            f"({str(err).splitlines()[0][:100]}); run `dvc repro`") from None
    return model


def load_trained(run_dir, model, device):
    """The run's trained weights in `model`, on `device`, in evaluation mode."""
    return load_model(Path(run_dir) / layout.MODEL, model).to(device).eval()


def train(cfg, run, training):
    """Train one run and write its files: seed, build the model (so its initial weights depend on
    the seed alone), fit it, resuming from the checkpoint of an interrupted attempt with the same
    settings `cfg`, Run, data and code, then write model.pt, curve.tsv and metrics.json =
    training.metrics(model, history)."""
    spec = training.spec
    seed_everything(spec.seed)
    model = training.build()
    ckpt = checkpoint_path(run.folder, {"cfg": cfg, **dataclasses.asdict(run)}, [run.data])
    history = fit(model, spec, training.make_batches, training.evaluate, checkpoint=ckpt, device=run.device)
    result = training.metrics(model.eval(), history)
    save_model(Path(run.folder) / layout.MODEL, model.cpu())
    run_folder.write_training(run.folder, history, result)
    ckpt.unlink(missing_ok=True)
    return result


class timed:
    """Context manager writing {seconds, device} to `path` when the block completes: the wall time
    the provenance page reports per stage.  Not a DVC output, so dvc.lock stays deterministic."""

    def __init__(self, path, device):
        self.path, self.device = Path(path), str(device)

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            write_json(self.path, {"seconds": round(time.perf_counter() - self.start, 2), "device": self.device})
        return False


def _stage_device(params):
    """The device of a stage, with `threads` torch threads on the CPU (and tune_cpu's settings)."""
    torch.set_num_threads(params["threads"])
    tune_cpu()
    return pick_device(params["device"])


def train_stage(experiment, args, train_run):
    """The body of a train_<experiment> stage: train_run(cfg, run) (the experiment's run()) with the
    experiment's settings and the Run of the stage's parsed `args`, timed into the run folder."""
    params = config.load()
    device = _stage_device(params)
    run = Run.from_args(args, device)
    with timed(Path(run.folder) / layout.TRAIN_TIME, device):
        return train_run(config.settings(params, experiment), run)


def score_stage(experiment, args, score):
    """The body of a score_<experiment> stage: score(cfg, run) -> (arrays, numbers), written into the
    run folder (run_folder.write_scores), timed."""
    params = config.load()
    device = _stage_device(params)
    run = Run.from_args(args, device)
    with timed(Path(run.folder) / layout.SCORE_TIME, device):
        arrays, numbers = score(config.settings(params, experiment), run)
        run_folder.write_scores(experiment, run.folder, arrays, numbers)

"""One run: what its train and score stages are given (stage_inputs -> Settings and Run), what an
experiment hands back to train one (Training), and the run folder's weights, which describe themselves.

A stage builds its inputs here, the experiment says what to train (experiments.<x>.training), and
train() trains it with train.fit and writes model.pt, curve.tsv and metrics.json.  model.pt holds the
model's class and constructor arguments, the method and the settings it trained with beside the
weights, so load_run() needs the folder alone.  While a run trains, a resumable checkpoint keyed by
everything that determines the result lives in runs/.checkpoints."""
import dataclasses
import hashlib
import importlib
import io
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from pipeline import PipelineError, layout, run_folder, settings
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
    budget: float = 1.0    # fraction of the training steps (Spec.scaled): 0.5 for the plateau check's runs

    @classmethod
    def from_args(cls, args, device):
        """The Run of a stage's parsed arguments (cli.run_parser's, cli.handwriting_args', --reader)."""
        a = vars(args)
        return cls(a["method"], a["seed"], a["data"], a["out"] if "out" in a else a["run"], device,
                   **{k: a[k] for k in ("group", "rate", "pattern", "reader", "budget") if k in a})


@dataclass(frozen=True)
class Model:
    """A model as a run folder records it: its class (under pipeline.models) and constructor arguments."""
    cls: type
    args: dict

    def build(self):
        return self.cls(**self.args)


@dataclass(frozen=True)
class Training:
    """What an experiment hands train() for one run (experiments.<x>.training)."""
    spec: Spec              # the objective and the loop's knobs (train.Spec.of)
    model: Model            # built once the seed is set, so its initial weights depend on the seed alone
    make_batches: callable  # rng -> one epoch's batches (train.fit)
    evaluate: callable      # model -> validation metrics, before training and after every epoch
    metrics: callable       # (trained model, history) -> the contents of metrics.json
    settings: dict          # the stage's settings (Settings.snapshot()): recorded in model.pt


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


def save_run(path, described, model, method, cfg):
    """model.pt: the weights with what rebuilds them (class, constructor arguments), the method and the
    settings the run trained with; written through a buffer, so the bytes depend on these alone."""
    buf = io.BytesIO()
    torch.save({"model": f"{described.cls.__module__}:{described.cls.__qualname__}", "args": described.args,
                "method": method, "settings": cfg, "state_dict": model.state_dict()}, buf)
    write_bytes(path, buf.getvalue())


def load_run(folder, device="cpu"):
    """The trained model of a run folder, from model.pt alone, on `device`, in evaluation mode."""
    path = Path(folder) / layout.MODEL
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        module, name = saved["model"].split(":")
        if not module.startswith("pipeline.models."):
            raise KeyError(f"model class {saved['model']} is not one of pipeline.models")
        model = getattr(importlib.import_module(module), name)(**saved["args"])
        model.load_state_dict(saved["state_dict"])
    except FileNotFoundError:
        raise PipelineError(f"{path}: missing; run `dvc repro` to train it") from None
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError, ImportError) as err:
        raise PipelineError(f"{path}: not a run folder's model.pt of this code ({str(err).splitlines()[0][:100]}); "
                            f"run `dvc repro` to train it again") from None
    return model.to(device).eval()


def read_run(folder):
    """{method, settings, model, args} of a run folder's model.pt, without the weights."""
    saved = torch.load(Path(folder) / layout.MODEL, map_location="cpu", weights_only=True)
    return {k: saved[k] for k in ("model", "args", "method", "settings")}


def train(run, training):
    """Train one run and write its files: seed, build the model, fit it (resuming from the checkpoint
    of an interrupted attempt with the same settings, Run, data and code), then write model.pt,
    curve.tsv and metrics.json = training.metrics(model, history)."""
    spec = training.spec.scaled(run.budget)
    seed_everything(spec.seed)
    model = training.model.build()
    ckpt = checkpoint_path(run.folder, {"cfg": training.settings, **dataclasses.asdict(run)}, [run.data])
    history = fit(model, spec, training.make_batches, training.evaluate, checkpoint=ckpt, device=run.device)
    result = training.metrics(model.eval(), history)
    save_run(Path(run.folder) / layout.MODEL, training.model, model.cpu(), run.method, training.settings)
    run_folder.write_training(run.folder, history, result)
    ckpt.unlink(missing_ok=True)
    return result


class timed:
    """Context manager writing {seconds, device} to the run folder's file `name` (layout.TRAIN_TIME,
    SCORE_TIME) when the block completes: the wall time
    the provenance page reports per stage.  Not a DVC output, so dvc.lock stays deterministic."""

    def __init__(self, run, name):
        self.path, self.device = Path(run.folder) / name, str(run.device)

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            write_json(self.path, {"seconds": round(time.perf_counter() - self.start, 2), "device": self.device})
        return False


def stage_inputs(experiment, kind, parser):
    """(cfg, run) of a train or score stage: its declared settings (settings.load) and the Run of its
    parsed arguments, on the device params.yaml asks for, with `threads` torch threads on the CPU."""
    args = parser.parse_args()
    cfg = settings.load(experiment, kind, method=args.method, group=getattr(args, "group", None), stage=args.stage)
    return cfg, Run.from_args(args, stage_device(cfg))


def stage_device(cfg):
    """The device of a stage, with `threads` torch threads on the CPU (and tune_cpu's settings)."""
    torch.set_num_threads(cfg["threads"])
    tune_cpu()
    return pick_device(cfg["device"])

"""What a run leaves behind, and the skeleton every experiment's training shares.

A training run writes model.pt, curve.tsv (one row per epoch) and metrics.json into its folder
(names in layout.py); while it trains, a resumable checkpoint keyed by everything that
determines the result lives in runs/.checkpoints.  Scoring loads the weights back."""
import csv
import hashlib
import io
import json
import math
import time
from pathlib import Path

import torch

from pipeline import PipelineError, config, layout
from pipeline.io import sha256, write_bytes, write_json, write_npz, write_text
from pipeline.train import fit, pick_device, seed_everything, tune_cpu

CHECKPOINTS = Path("runs/.checkpoints")
CODE = Path(__file__).parent


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


def write_run(out_dir, model, history, metrics):
    """model.pt, curve.tsv and metrics.json, each written atomically."""
    out_dir = Path(out_dir)
    save_model(out_dir / layout.MODEL, model)
    table = io.StringIO()          # csv, not pandas: training stages need not import it
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for row in history for k in row)),
                            delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(out_dir / layout.CURVE, table.getvalue())
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    write_json(out_dir / layout.METRICS, clean)


def train(out_dir, spec, build, make_batches, evaluate, device, key, data_path, metrics):
    """Train one run and write its files: seed, build the model (so its initial weights depend on
    the seed alone), fit it, resuming from the checkpoint of an interrupted attempt with the same
    `key`, data and code, then write model.pt, curve.tsv and metrics.json = metrics(model, history)."""
    seed_everything(spec.seed)
    model = build()
    ckpt = checkpoint_path(out_dir, key, [data_path])
    history = fit(model, spec, make_batches, evaluate, checkpoint=ckpt, device=device)
    result = metrics(model.eval(), history)
    write_run(out_dir, model.cpu(), history, result)
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


def train_stage(experiment, out_dir, train):
    """The body of a train_<experiment> stage: train(cfg, device) with the experiment's settings,
    timed into the run folder."""
    params = config.load()
    device = _stage_device(params)
    with timed(Path(out_dir) / layout.TRAIN_TIME, device):
        return train(config.settings(params, experiment), device)


def score_stage(experiment, run_dir, score):
    """The body of a score_<experiment> stage: score(cfg, device) -> (arrays, numbers), written
    into the run folder under the names layout.SCORES gives, timed."""
    params = config.load()
    device = _stage_device(params)
    numbers_path, arrays_path = (Path(run_dir) / name for name in layout.SCORES[experiment])
    with timed(Path(run_dir) / layout.SCORE_TIME, device):
        arrays, numbers = score(config.settings(params, experiment), device)
        write_npz(arrays_path, **arrays)
        write_json(numbers_path, numbers)

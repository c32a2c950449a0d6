"""What a training run leaves behind: model weights, a per-epoch curve, a metrics JSON,
and (while it runs) a resumable checkpoint keyed by everything that determines the result."""
import csv
import hashlib
import io
import json
import math
import time
from pathlib import Path

import torch

from pipeline import PipelineError
from pipeline.data.fetch import sha256
from pipeline.io import atomic_path, write_json, write_text

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


def checkpoint_path(name, config, data_files=()):
    safe = name.replace("@", "-").replace("/", "-")
    return CHECKPOINTS / f"{safe}-{fingerprint(config, data_files)}.pt"


def save_model(path, model):
    with atomic_path(path) as tmp:
        torch.save(model.state_dict(), tmp)


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


def write_run(out_dir, model, history, metrics):
    """model.pt, curve.tsv (one row per epoch) and metrics.json, each written atomically."""
    out_dir = Path(out_dir)
    save_model(out_dir / "model.pt", model)
    table = io.StringIO()          # csv, not pandas: training stages need not import it
    writer = csv.DictWriter(table, fieldnames=list(dict.fromkeys(k for row in history for k in row)),
                            delimiter="\t", lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text(out_dir / "curve.tsv", table.getvalue())
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in metrics.items()}
    write_json(out_dir / "metrics.json", clean)


class timed:
    """Context manager writing {seconds, device} to `path` when the block completes: the wall
    time the index page reports per stage (kept out of metrics.json, which stays deterministic)."""

    def __init__(self, path, device):
        self.path, self.device = Path(path), str(device)

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, kind, value, tb):
        if kind is None:
            write_json(self.path, {"seconds": round(time.perf_counter() - self.start, 2), "device": self.device})
        return False

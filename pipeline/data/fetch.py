"""Downloads with mirrors and checksums, and archive extraction that cannot escape its folder."""
import gzip
import logging
import os
import tarfile
import zipfile
from pathlib import Path, PurePosixPath

from pipeline import PipelineError
from pipeline.io import CHUNK, atomic_path, sha256

log = logging.getLogger(__name__)


def _check_gzip(path):
    """Read a .gz to the end: a truncated or corrupt file raises here, not mid-training."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(CHUNK):
                pass
    except (OSError, EOFError) as err:
        raise ValueError(f"corrupt gzip ({err})") from None


def download(urls, dest, sha256_hex=None, auth=None, hint="", timeout=60):
    """Fetch `dest` from the first of `urls` that answers with the right checksum.

    An existing `dest` with the right checksum is kept.  Every attempt writes to a temporary
    name; only a verified file is renamed onto `dest`.  If no mirror works, one PipelineError
    names the file, each mirror's failure and `hint` (what else the user can do).
    """
    import requests          # here, not at the top: preparing local or embedded data needs no network library

    dest = Path(dest)
    if dest.exists() and (sha256_hex is None or sha256(dest) == sha256_hex):
        return dest
    failures = []
    for url in urls:
        try:
            with atomic_path(dest) as tmp:
                with requests.get(url, stream=True, timeout=timeout, auth=auth) as response:
                    response.raise_for_status()
                    with open(tmp, "wb") as f:
                        for block in response.iter_content(CHUNK):
                            f.write(block)
                got = sha256(tmp)
                if sha256_hex is not None and got != sha256_hex:
                    raise ValueError(f"SHA-256 {got[:12]}... does not match the expected {sha256_hex[:12]}...")
                if dest.name.endswith(".gz"):
                    _check_gzip(tmp)
            log.info("downloaded %s from %s", dest.name, url)
            return dest
        except (requests.RequestException, ValueError, OSError) as err:
            reason = str(err).splitlines()[0][:200]
            log.warning("%s: %s failed: %s", dest.name, url, reason)
            failures.append(f"{url}: {reason}")
    raise PipelineError(f"could not download {dest.name} ({'; '.join(failures)}). {hint}".strip())


def _member_target(root, name):
    """The path an archive member would be written to, or an error if it leaves `root`."""
    pure = PurePosixPath(name.replace("\\", "/"))
    if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
        raise PipelineError(f"archive member '{name}' points outside the target folder; refusing to extract")
    return root / Path(*pure.parts)


def safe_extract(archive, dest):
    """Extract a .tar(.gz) or .zip into `dest`, refusing absolute paths, '..' and links.

    Members are checked before anything is written, so a bad archive writes nothing.
    """
    archive, dest = Path(archive), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            members = []
            for info in zf.infolist():
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise PipelineError(f"{archive.name}: member '{info.filename}' is a symbolic link; refusing to extract")
                members.append((info.filename, info.is_dir(), lambda i=info: zf.open(i)))
            _write_members(root, members)
        return dest
    try:
        tf = tarfile.open(archive)
    except tarfile.TarError as err:
        raise PipelineError(f"{archive}: not a readable tar or zip archive ({err}); delete it and fetch it again") from None
    with tf:
        members = []
        for m in tf.getmembers():
            if not (m.isfile() or m.isdir()):
                raise PipelineError(f"{archive.name}: member '{m.name}' is a link or device file; refusing to extract")
            members.append((m.name, m.isdir(), lambda m=m: tf.extractfile(m)))
        _write_members(root, members)
    return dest


def _write_members(root, members):
    """Check every (name, is_dir, open) member's target first, then write them atomically."""
    targets = [_member_target(root, name) for name, _, _ in members]
    for target, (_, is_dir, open_member) in zip(targets, members):
        if is_dir:
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_member() as src, atomic_path(target) as tmp, open(tmp, "wb") as out:
            while block := src.read(CHUNK):
                out.write(block)


def env_credentials(user_var, password_var, what):
    """(user, password) from environment variables, or a PipelineError saying which to set."""
    user, password = os.environ.get(user_var), os.environ.get(password_var)
    if not user or not password:
        raise PipelineError(f"{what} needs credentials: set the environment variables {user_var} and "
                            f"{password_var} (never put them in params.yaml), or use a local copy")
    return user, password

"""Downloads and archives against a local HTTP server: mirrors, checksums, truncation, no network,
and archive members that try to leave their folder."""
import gzip
import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from pipeline import PipelineError
from pipeline.data import fetch, mnist

PAYLOAD = gzip.compress(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + bytes([1, 2, 3, 4, 5]))
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):  # noqa: N802
        status, body = self.routes.get(self.path, (404, b"missing"))
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def leftovers(folder):
    return [p.name for p in Path(folder).iterdir()]


def test_first_working_mirror_wins(server, tmp_path):
    Handler.routes = {"/a/f.gz": (500, b"server error"), "/b/f.gz": (200, PAYLOAD[:-1] + b"X"),
                      "/c/f.gz": (200, PAYLOAD)}
    dest = fetch.download([f"{server}/{m}/f.gz" for m in "abc"], tmp_path / "f.gz", DIGEST)
    assert dest.read_bytes() == PAYLOAD
    assert leftovers(tmp_path) == ["f.gz"]


def test_every_mirror_failing_gives_one_error_and_no_file(server, tmp_path):
    Handler.routes = {"/a/f.gz": (404, b""), "/b/f.gz": (200, b"not the file")}
    urls = [f"{server}/a/f.gz", f"{server}/b/f.gz", "http://127.0.0.1:9/f.gz"]   # port 9: nothing listens
    with pytest.raises(PipelineError) as err:
        fetch.download(urls, tmp_path / "f.gz", DIGEST, hint="Use source: embedded.")
    message = str(err.value)
    assert "f.gz" in message and "404" in message and "SHA-256" in message and "Use source: embedded." in message
    assert "\n" not in message
    assert leftovers(tmp_path) == []


def test_truncated_gzip_is_refused_even_without_a_checksum(server, tmp_path):
    Handler.routes = {"/t/f.gz": (200, PAYLOAD[: len(PAYLOAD) // 2])}
    with pytest.raises(PipelineError, match="corrupt gzip"):
        fetch.download([f"{server}/t/f.gz"], tmp_path / "f.gz")
    assert leftovers(tmp_path) == []


def test_a_verified_file_is_not_fetched_again(tmp_path):
    (tmp_path / "f.gz").write_bytes(PAYLOAD)
    assert fetch.download(["http://127.0.0.1:9/f.gz"], tmp_path / "f.gz", DIGEST).read_bytes() == PAYLOAD


def test_mnist_download_names_the_file_and_the_offline_sources(monkeypatch, tmp_path):
    monkeypatch.setattr(mnist, "MIRRORS", ("http://127.0.0.1:9/",))
    with pytest.raises(PipelineError) as err:
        mnist.download_idx(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert "mnist.source: embedded" in str(err.value) and "local" in str(err.value)
    assert leftovers(tmp_path) == []


def _tar(path, members):
    with tarfile.open(path, "w:gz") as tf:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = 5
                tf.addfile(info, io.BytesIO(b"hello"))


@pytest.mark.parametrize("bad", [("../escape.txt", "file"), ("/tmp/absolute.txt", "file"),
                                 ("inner/../../escape.txt", "file"), ("link", "link")])
def test_tar_members_leaving_the_folder_are_refused(tmp_path, bad):
    archive, target = tmp_path / "a.tar.gz", tmp_path / "out"
    _tar(archive, [("good.txt", "file"), bad])
    with pytest.raises(PipelineError, match="refusing to extract"):
        fetch.safe_extract(archive, target)
    assert leftovers(target) == []                    # checked before anything is written
    assert not (tmp_path / "escape.txt").exists()


@pytest.mark.parametrize("name", ["../escape.txt", "/abs.txt", "C:/windows.txt"])
def test_zip_members_leaving_the_folder_are_refused(tmp_path, name):
    archive, target = tmp_path / "a.zip", tmp_path / "out"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.txt", "fine")
        zf.writestr(name, "bad")
    with pytest.raises(PipelineError, match="refusing to extract"):
        fetch.safe_extract(archive, target)
    assert leftovers(target) == [] and not (tmp_path / "escape.txt").exists()


def test_zip_symlink_is_refused(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(PipelineError, match="symbolic link"):
        fetch.safe_extract(archive, tmp_path / "out")


def test_good_archives_extract(tmp_path):
    _tar(tmp_path / "a.tar.gz", [("dir/one.txt", "file")])
    fetch.safe_extract(tmp_path / "a.tar.gz", tmp_path / "t")
    assert (tmp_path / "t" / "dir" / "one.txt").read_bytes() == b"hello"
    with zipfile.ZipFile(tmp_path / "a.zip", "w") as zf:
        zf.writestr("dir/two.txt", "zip")
    fetch.safe_extract(tmp_path / "a.zip", tmp_path / "z")
    assert (tmp_path / "z" / "dir" / "two.txt").read_text() == "zip"


def test_credentials_come_from_the_environment_only(monkeypatch):
    monkeypatch.delenv("X_USER", raising=False)
    monkeypatch.delenv("X_PASS", raising=False)
    with pytest.raises(PipelineError, match="X_USER and X_PASS"):
        fetch.env_credentials("X_USER", "X_PASS", "IAM-OnDB")
    monkeypatch.setenv("X_USER", "u")
    monkeypatch.setenv("X_PASS", "p")
    assert fetch.env_credentials("X_USER", "X_PASS", "IAM-OnDB") == ("u", "p")
    assert "X_PASS" in os.environ

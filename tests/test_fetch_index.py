"""PyPI archives from the simple index pip is configured with: picked by sha256, never built.

A local ``file://`` index (PEP 503 HTML) and a PEP 691 JSON page stand in for PyPI; the
sdist in it has a ``setup.py`` that would write a file if anything ran it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from filterdb.fetch import fetch_package, index_download, parse_spec, pip_settings
from filterdb.errors import SourceError


def make_sdist(path: Path, marker: Path) -> Path:
    members = {
        "evil-1.0/setup.py": f"open({str(marker)!r}, 'w').write('ran')\n".encode(),
        "evil-1.0/evil/model.bin": b"\x00\x01" * 64,
    }
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture()
def local_index(tmp_path):
    """A file:// simple index with an sdist and an unrelated version's file."""
    files = tmp_path / "files"
    files.mkdir()
    marker = tmp_path / "setup-ran"
    sdist = make_sdist(files / "evil-1.0.tar.gz", marker)
    other = make_sdist(files / "evil-2.0.tar.gz", marker)
    page = tmp_path / "simple" / "evil"
    page.mkdir(parents=True)
    links = "".join(f'<a href="../../files/{p.name}#sha256={sha(p)}">{p.name}</a>\n' for p in (sdist, other))
    (page / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
    return f"file://{tmp_path / 'simple'}", sdist, marker


def serve(pages: dict[str, tuple[bytes, str]]) -> ThreadingHTTPServer:
    """A local HTTP server answering ``pages`` (path → body, content type) and 404 otherwise."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            if self.path not in pages:
                self.send_error(404)
                return
            data, kind = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def no_pip_config():
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    return env


def test_sdist_is_fetched_by_hash_and_its_setup_never_runs(tmp_path, local_index):
    from filterdb.fetch import default_downloader

    index, sdist, marker = local_index
    manifest = fetch_package("pypi", "evil==1.0", sha(sdist), ["*/evil/model.bin"], tmp_path / "cache",
                             model_id="m", downloader=default_downloader(index_url=index, env=no_pip_config()))
    assert Path(manifest["files"][0]).read_bytes() == b"\x00\x01" * 64
    assert Path(manifest["archive"]).name == "evil-1.0.tar.gz"
    assert not marker.exists()


def test_a_hash_the_index_does_not_list_downloads_nothing(tmp_path, local_index):
    index, _sdist, _marker = local_index
    dest = tmp_path / "d"
    dest.mkdir()
    with pytest.raises(SourceError, match="no file on the index has sha256 " + "0" * 64):
        index_download(parse_spec("pypi", "evil==1.0"), dest, "0" * 64, index_url=index, env=no_pip_config())
    assert not list(dest.iterdir())


def test_unknown_version_is_a_clear_error(tmp_path, local_index):
    index, _sdist, _marker = local_index
    with pytest.raises(SourceError, match="no distribution file of version 3.0"):
        index_download(parse_spec("pypi", "evil==3.0"), tmp_path, None, index_url=index, env=no_pip_config())


def test_json_index_and_pip_configuration(tmp_path, local_index):
    """A PEP 691 page over HTTP, found through pip's own index-url setting (PIP_INDEX_URL)."""
    _index, sdist, marker = local_index
    body = json.dumps({"meta": {"api-version": "1.0"}, "name": "evil", "files": [
        {"filename": sdist.name, "url": f"/files/{sdist.name}", "hashes": {"sha256": sha(sdist)}}]}).encode()
    server = serve({"/simple/evil/": (body, "application/vnd.pypi.simple.v1+json"),
                    f"/files/{sdist.name}": (sdist.read_bytes(), "application/octet-stream")})
    try:
        env = {**no_pip_config(), "PIP_INDEX_URL": f"http://127.0.0.1:{server.server_port}/simple"}
        assert pip_settings(env)["index_urls"][0] == env["PIP_INDEX_URL"]
        got = index_download(parse_spec("pypi", "evil==1.0"), tmp_path, sha(sdist), env=env)
        assert sha(got) == sha(sdist) and not marker.exists()
    finally:
        server.shutdown()


def test_a_file_the_index_lists_but_does_not_serve_is_a_clear_error(tmp_path, local_index):
    _index, sdist, _marker = local_index
    body = json.dumps({"meta": {"api-version": "1.0"}, "name": "evil", "files": [
        {"filename": sdist.name, "url": f"/files/{sdist.name}", "hashes": {"sha256": sha(sdist)}}]}).encode()
    server = serve({"/simple/evil/": (body, "application/vnd.pypi.simple.v1+json")})
    try:
        index = f"http://127.0.0.1:{server.server_port}/simple"
        with pytest.raises(SourceError, match=r"evil==1.0 from .*HTTP error 404 for .*/files/evil-1.0.tar.gz"):
            index_download(parse_spec("pypi", "evil==1.0"), tmp_path, sha(sdist), index_url=index, env=no_pip_config())
    finally:
        server.shutdown()

"""Packages from registries (PyPI, npm) into the cache: download once, verify, extract members.

The only network code of filterdb's registry sources. A PyPI package's file is looked up
on the index pip is configured with (``pip config list``: index-url, extra-index-url, cert,
timeout), picked by its pinned sha256 and downloaded as bytes: never built (``pip
download`` of an sdist runs its build backend), installed or imported. npm packages come
through ``npm pack --ignore-scripts``. Both land in
``{cache_dir}/packages/{registry}/{name}-{version}/``, never installed and never
imported. Its sha256 is checked before anything is extracted; then only the named
members are extracted (regular files, no path leaving the folder), first into a
temporary folder and moved into place when all of them are read, so a bad archive
leaves nothing behind. A file lock per package makes parallel jobs that need the same
package download it once. Transient network failures are retried a bounded number of
times with exponential backoff; downloads over a few MB report progress on stderr.

Layout::

    {cache_dir}/packages/pypi/ddddocr-1.6.1/ddddocr-1.6.1-py3-none-any.whl
    {cache_dir}/packages/pypi/ddddocr-1.6.1/files/ddddocr/common.onnx
    {cache_dir}/packages/pypi/ddddocr-1.6.1.lock
"""

from __future__ import annotations

import bz2
import errno
import fnmatch
import gzip
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Callable, Sequence

from .errors import FilterdbError, SourceError
from .store import sha256_of

REGISTRIES = ("pypi", "npm")
PROGRESS_MIN_BYTES = 5 * 1024 * 1024  # report progress only for downloads above this
ARCHIVE_SUFFIXES = (".whl", ".zip", ".tar.gz", ".tgz", ".tar.bz2", ".tar")

# Output of pip / npm that means the network, not the request, failed: worth a retry.
_TRANSIENT = re.compile(
    r"Connection refused|NewConnectionError|Failed to establish a new connection|ConnectTimeout|"
    r"Read timed out|timed out|Temporary failure in name resolution|Name or service not known|"
    r"ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|socket hang up|"
    r"Max retries exceeded|Connection reset|RemoteDisconnected|IncompleteRead|"
    r"HTTP error 5\d\d|\b50[0234] |npm (ERR!|error) code E5\d\d",
    re.IGNORECASE,
)


class TransientFetchError(FilterdbError, RuntimeError):
    """A download failed in a way that may pass (network, server error): retried."""


@dataclass(frozen=True)
class Package:
    """A pinned package: registry (``pypi``/``npm``), name, version."""

    registry: str
    name: str
    version: str

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}" if self.registry == "pypi" else f"{self.name}@{self.version}"

    @property
    def folder_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9._+-]", "_", f"{self.name}-{self.version}".lstrip("@"))


def parse_spec(registry: str, spec: str, model_id: str = "?") -> Package:
    """``name==version`` (PyPI) or ``name@version`` / ``@scope/name@version`` (npm), pinned."""
    spec = str(spec).strip()
    if registry == "pypi":
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)", spec)
    elif registry == "npm":
        m = re.fullmatch(r"((?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*)@([0-9A-Za-z.+_-]+)", spec)
    else:
        raise SourceError(f"model {model_id!r}: unknown registry {registry!r}; known: {', '.join(REGISTRIES)}")
    if not m:
        form = "package==version" if registry == "pypi" else "package@version"
        raise SourceError(
            f"model {model_id!r}: reference {spec!r} is not a pinned {registry} package; write it as {form}"
        )
    return Package(registry, m.group(1), m.group(2))


# --------------------------------------------------------------------------- running clients

def _largest_file(folder: Path) -> int:
    """Size of the largest file under ``folder``: the download in progress (clients keep a copy)."""
    largest = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                largest = max(largest, os.path.getsize(os.path.join(root, name)))
            except OSError:  # a temporary file renamed under us
                pass
    return largest


def run_client(cmd: Sequence[str], watch: Path, label: str, env: dict | None = None, timeout: float = 1800) -> str:
    """Run a registry client; report the bytes arriving under ``watch`` on stderr; return its output.

    Raises TransientFetchError when the output shows a network failure, SourceError for
    any other failure (package or version not found, hash mismatch).
    """
    output: list[str] = []
    total_hint: list[str] = []

    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, stdin=subprocess.DEVNULL
    )

    def read_output() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            m = re.search(r"\(([\d.]+ [kMG]B)\)", line)  # pip: "Downloading x.whl (76.0 MB)"
            if m:
                total_hint[:] = [m.group(1)]

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    start = time.monotonic()
    last_report = 0.0
    while proc.poll() is None:
        time.sleep(0.5)
        now = time.monotonic()
        if now - start > timeout:
            proc.kill()
            raise TransientFetchError(f"{label}: no result after {timeout:.0f} s")
        if now - last_report >= 2.0:
            size = _largest_file(watch)
            if size >= PROGRESS_MIN_BYTES:
                of = f" of {total_hint[0]}" if total_hint else ""
                print(f"[filterdb fetch] {label}: {size / 1e6:.1f} MB{of} ({now - start:.0f} s)", file=sys.stderr, flush=True)
                last_report = now
    reader.join(timeout=5)
    text = "".join(output)
    if proc.returncode != 0:
        tail = "\n".join(text.strip().splitlines()[-8:])
        if _TRANSIENT.search(text):
            raise TransientFetchError(f"{label}: network failure:\n{tail}")
        raise SourceError(f"{label}: {Path(cmd[0]).name} failed (exit {proc.returncode}):\n{tail}")
    return text


# --------------------------------------------------------------------------- PyPI through its simple index

def pip_settings(env: dict | None = None) -> dict:
    """pip's own configuration as ``pip config list`` reports it: index URLs, cert, timeout.

    Environment (``PIP_*``) beats the ``download`` section, which beats ``global``; with no
    index configured, pip's default (https://pypi.org/simple) applies. Running pip's config
    command runs no package's code.
    """
    proc = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True,
                          env=env, stdin=subprocess.DEVNULL, timeout=120)
    values: dict[str, tuple[int, str]] = {}
    rank = {":env:": 3, "download": 2, "global": 1}
    for line in proc.stdout.splitlines():
        m = re.fullmatch(r"([^.=]+)\.([a-z-]+)='(.*)'", line.strip())
        if m and m.group(1) in rank and rank[m.group(1)] > values.get(m.group(2), (0, ""))[0]:
            values[m.group(2)] = (rank[m.group(1)], m.group(3))
    get = lambda key, default=None: values[key][1] if key in values else default  # noqa: E731
    extra = get("extra-index-url", "")
    return {
        "index_urls": [get("index-url", "https://pypi.org/simple"), *extra.split()],
        "cert": get("cert"),
        "timeout": float(get("timeout", get("default-timeout", "60"))),
    }


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _file_version(filename: str) -> str | None:
    """The version in a distribution's file name (wheel or sdist), or None."""
    for suffix in (".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar"):
        if filename.endswith(suffix):
            base = filename[: -len(suffix)]
            if suffix == ".whl":
                parts = base.split("-")
                return parts[1] if len(parts) >= 5 else None
            return base.rsplit("-", 1)[1] if "-" in base else None
    return None


def _open_url(url: str, settings: dict, accept: str | None = None):
    """urlopen with pip's cert and timeout; network trouble is a TransientFetchError."""
    import http.client
    import socket
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=settings.get("cert")) if url.startswith("https:") else None
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        return urllib.request.urlopen(request, timeout=settings.get("timeout", 60), context=context)
    except urllib.error.HTTPError as exc:
        if exc.code >= 500 or exc.code == 429:
            raise TransientFetchError(f"{url}: HTTP error {exc.code}") from None
        raise
    except (urllib.error.URLError, socket.timeout, ConnectionError, http.client.HTTPException) as exc:
        raise TransientFetchError(f"{url}: {getattr(exc, 'reason', exc)}") from None


def index_files(pkg: Package, settings: dict) -> list[dict]:
    """Files of ``pkg``'s version on the configured indexes: [{filename, url, sha256}], index order.

    PEP 691 JSON where the index speaks it, else the PEP 503 HTML page (local ``file://``
    indexes included); hashes come from the index (``hashes`` / ``#sha256=``).
    """
    import html
    import json
    import urllib.error
    import urllib.parse

    found: list[dict] = []
    for index in settings["index_urls"]:
        page = index.rstrip("/") + f"/{_normalise(pkg.name)}/"
        if page.startswith("file:"):
            local = Path(urllib.parse.urlparse(page).path)
            if not (local / "index.html").is_file():
                continue
            page += "index.html"
        try:
            with _open_url(page, settings, "application/vnd.pypi.simple.v1+json, text/html;q=0.1") as resp:
                body = resp.read()
                kind = resp.headers.get("Content-Type", "") if hasattr(resp, "headers") else ""
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                continue
            raise SourceError(f"index {page}: HTTP error {exc.code}") from None
        if "json" in kind:
            entries = [(f["filename"], urllib.parse.urljoin(page, f["url"]), f.get("hashes", {}).get("sha256"))
                       for f in json.loads(body)["files"]]
        else:
            entries = []
            for href, text in re.findall(r'<a\s[^>]*href="([^"]+)"[^>]*>([^<]+)</a>', body.decode("utf-8", "replace")):
                href = html.unescape(href)
                digest = re.search(r"#sha256=([0-9a-f]{64})", href)
                entries.append((text.strip(), urllib.parse.urljoin(page, href.split("#")[0]), digest and digest.group(1)))
        found += [{"filename": f, "url": u, "sha256": h} for f, u, h in entries if _file_version(f) == pkg.version]
    return found


def index_download(pkg: Package, dest: Path, sha256: str | None, index_url: str | None = None,
                   env: dict | None = None) -> Path:
    """Download one pinned distribution file of ``pkg`` from pip's configured index into ``dest``.

    The file is the one whose sha256 the index lists as the pinned one (wheel or sdist);
    it is fetched as bytes and never built, installed or imported, so no code of the
    package runs (``pip download`` would run an sdist's build backend to read its
    metadata). ``index_url`` replaces pip's index URLs (tests, mirrors). Without a sha256,
    the version's wheel (else its sdist) is fetched so that the caller can report its digest.
    """
    import urllib.error

    settings = pip_settings(env)
    if index_url:
        settings["index_urls"] = [index_url]
    files = index_files(pkg, settings)
    label = f"{pkg.spec} from {', '.join(settings['index_urls'])}"
    if not files:
        raise SourceError(f"{label}: no distribution file of version {pkg.version} on the index")
    if sha256 is not None:
        chosen = [f for f in files if f["sha256"] == sha256]
        if not chosen:
            listed = "; ".join(f"{f['filename']} sha256 {f['sha256']}" for f in files)
            raise SourceError(f"checksum mismatch for {pkg.spec}: no file on the index has sha256 {sha256}; "
                              f"the index lists {listed}; nothing was downloaded")
    else:
        chosen = sorted(files, key=lambda f: not f["filename"].endswith(".whl"))
    entry = chosen[0]
    if "/" in entry["filename"] or not entry["filename"].endswith(ARCHIVE_SUFFIXES):
        raise SourceError(f"{label}: unexpected file name {entry['filename']!r} on the index")
    target = dest / entry["filename"]
    start = last = time.monotonic()
    try:
        resp = _open_url(entry["url"], settings)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{label}: HTTP error {exc.code} for {entry['url']}") from None
    with resp, open(target, "wb") as out:
        total = resp.headers.get("Content-Length") if hasattr(resp, "headers") else None
        try:
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                now = time.monotonic()
                if now - last >= 2.0 and out.tell() >= PROGRESS_MIN_BYTES:
                    of = f" of {int(total) / 1e6:.1f} MB" if total else ""
                    print(f"[filterdb fetch] {pkg.spec}: {out.tell() / 1e6:.1f} MB{of} ({now - start:.0f} s)",
                          file=sys.stderr, flush=True)
                    last = now
        except (OSError, ValueError) as exc:
            raise TransientFetchError(f"{entry['url']}: download interrupted ({exc})") from None
    return target


def npm_pack(pkg: Package, dest: Path, sha256: str | None, registry_url: str | None = None, env: dict | None = None) -> Path:
    """``npm pack`` of one pinned package (its published tarball) into ``dest``; the file's path."""
    npm = shutil.which("npm")
    if npm is None:
        raise SourceError(f"npm pack {pkg.spec}: the npm client is not installed (apt-get install npm)")
    cache = dest / ".npm-cache"  # a private cache: the bytes counted for progress, removed after
    cmd = [npm, "pack", pkg.spec, "--pack-destination", str(dest), "--cache", str(cache),
           "--ignore-scripts", "--fetch-retries", "0", "--fetch-timeout", "60000", "--no-audit", "--no-fund"]
    if registry_url:
        cmd += ["--registry", registry_url]
    try:
        run_client(cmd, dest, f"npm pack {pkg.spec}", env=dict(env if env is not None else os.environ))
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    files = [p for p in dest.iterdir() if p.is_file() and p.name.endswith(".tgz")]
    if len(files) != 1:
        raise SourceError(f"npm pack {pkg.spec}: expected one .tgz in {dest}, found {len(files)}")
    return files[0]


Downloader = Callable[[Package, Path, "str | None"], Path]


def default_downloader(index_url: str | None = None, env: dict | None = None) -> Downloader:
    """PyPI's simple index (as pip is configured) or npm by registry; ``index_url`` replaces the registry's URL."""

    def download(pkg: Package, dest: Path, sha256: str | None) -> Path:
        if pkg.registry == "pypi":
            return index_download(pkg, dest, sha256, index_url=index_url, env=env)
        return npm_pack(pkg, dest, sha256, registry_url=index_url, env=env)

    return download


def with_retries(action: Callable[[], Path], label: str, attempts: int = 3, backoff: float = 2.0) -> Path:
    """Call ``action`` until it succeeds, at most ``attempts`` times, waiting backoff·2^i between tries."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except TransientFetchError as exc:
            if attempt == attempts:
                raise SourceError(
                    f"{label}: the registry could not be reached after {attempts} attempts. "
                    "Check the network or the registry URL (pip: index-url, npm: registry), or "
                    "put the package archive into the cache folder by hand (its sha256 is checked).\n"
                    f"Last error: {exc}"
                ) from None
            wait = backoff * 2 ** (attempt - 1)
            print(f"[filterdb fetch] {label}: attempt {attempt}/{attempts} failed ({str(exc).splitlines()[0]}); "
                  f"retrying in {wait:.0f} s", file=sys.stderr, flush=True)
            time.sleep(wait)
    raise AssertionError("unreachable")


# --------------------------------------------------------------------------- archives

def _safe_member(name: str) -> bool:
    """A relative path that stays inside the extraction folder."""
    if not name or name.startswith(("/", "\\")) or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return False
    return ".." not in PurePosixPath(name).parts


def plain_tar(archive: Path) -> Path:
    """A compressed tarball's decompressed copy beside it (made once), for random access.

    A .tgz has to be decompressed from its start to reach any member; with one model per
    sheet row and 40 rows in one package, one decompression beats forty.
    """
    if not archive.name.endswith((".tgz", ".tar.gz", ".tar.bz2")):
        return archive
    plain = archive.with_name(archive.name + ".decompressed")
    if plain.is_file():
        return plain
    opener = bz2.open if archive.name.endswith(".bz2") else gzip.open
    tmp = plain.with_name(plain.name + ".tmp")
    cap = _limit("FILTERDB_MAX_EXTRACT_BYTES", MAX_EXTRACT_BYTES)  # a compression bomb stops here
    try:
        with opener(archive, "rb") as src, open(tmp, "wb") as dst:
            _copy_capped(src, dst, cap, cap, f"archive {archive.name!r} (decompressed; FILTERDB_MAX_EXTRACT_BYTES)")
        os.replace(tmp, plain)
    finally:
        tmp.unlink(missing_ok=True)
    return plain


def archive_names(archive: Path) -> list[str]:
    """Regular-file member names of a wheel/zip or tarball; SourceError if it is unreadable."""
    try:
        if archive.name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as z:
                return [i.filename for i in z.infolist() if not i.is_dir()]
        with tarfile.open(plain_tar(archive)) as t:
            return [m.name for m in t.getmembers() if m.isfile()]
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise SourceError(
            f"archive {str(archive)!r} is truncated or corrupt ({type(exc).__name__}: {exc}); "
            "nothing was extracted: delete it and fetch again"
        ) from None


def match_members(names: list[str], patterns: Sequence[str], label: str) -> list[str]:
    """Archive names matched by each pattern (exact path or glob), in pattern order."""
    from .registry import suggest

    chosen: list[str] = []
    for pattern in patterns:
        hits = sorted(n for n in names if fnmatch.fnmatchcase(n, pattern)) if any(c in pattern for c in "*?[") else (
            [pattern] if pattern in names else []
        )
        if not hits:
            close = suggest(pattern, names, n=3, cutoff=0.5)
            hint = f" Close names: {', '.join(close)}." if close else ""
            raise SourceError(f"{label}: member {pattern!r} is not in the archive; nothing was extracted.{hint}")
        chosen += [h for h in hits if h not in chosen]
    bad = [n for n in chosen if not _safe_member(n)]
    if bad:
        raise SourceError(f"{label}: unsafe member path(s) {bad} (absolute or '..'); nothing was extracted")
    return chosen


_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EACCES, errno.EPERM, errno.EROFS}
MAX_MEMBER_BYTES = 1 << 30  # one extracted file; the largest model file in config/wild.tsv is ~0.1 GB
MAX_EXTRACT_BYTES = 4 << 30  # all members of one extraction together


def _limit(name: str, default: int) -> int:
    """An extraction limit in bytes; the environment variable of that name raises it."""
    value = os.environ.get(name)
    return int(value) if value and value.isdigit() else default


def _copy_capped(src, dst, declared: int, cap: int, what: str) -> int:
    """Copy at most ``declared`` bytes; more data than the archive declared is an error,
    so a forged size cannot expand past the cap checked against it. Returns bytes copied."""
    copied = 0
    while True:
        block = src.read(min(1 << 20, declared - copied + 1))
        if not block:
            return copied
        copied += len(block)
        if copied > min(declared, cap):
            limit = f"the {cap:,}-byte limit" if cap <= declared else f"its declared {declared:,} bytes"
            raise SourceError(f"{what} expands beyond {limit}; nothing was extracted")
        dst.write(block)


def extract_members(archive: Path, members: list[str], target: Path, label: str) -> list[Path]:
    """Extract ``members`` (already matched and checked) under ``target``; all or nothing.

    Each member is capped against its declared size and an absolute limit
    (``FILTERDB_MAX_MEMBER_BYTES``, default 1 GiB; all members together
    ``FILTERDB_MAX_EXTRACT_BYTES``, default 4 GiB), checked before a byte is written: an
    archive that would expand to gigabytes is refused, not unpacked.
    """
    member_cap = _limit("FILTERDB_MAX_MEMBER_BYTES", MAX_MEMBER_BYTES)
    total_cap = _limit("FILTERDB_MAX_EXTRACT_BYTES", MAX_EXTRACT_BYTES)
    is_zip = archive.name.endswith((".whl", ".zip"))

    def check_declared(sizes: dict[str, int]) -> None:
        for name, size in sizes.items():
            if size > member_cap:
                raise SourceError(
                    f"{label}: member {name!r} of {archive.name!r} declares {size:,} bytes, over the "
                    f"{member_cap:,}-byte limit for one file (raise it with FILTERDB_MAX_MEMBER_BYTES); "
                    "nothing was extracted"
                )
        if sum(sizes.values()) > total_cap:
            raise SourceError(
                f"{label}: the members of {archive.name!r} declare {sum(sizes.values()):,} bytes together, over "
                f"the {total_cap:,}-byte limit (raise it with FILTERDB_MAX_EXTRACT_BYTES); nothing was extracted"
            )

    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        try:
            if is_zip:
                with zipfile.ZipFile(archive) as z:
                    infos = {name: z.getinfo(name) for name in members}
                    check_declared({name: info.file_size for name, info in infos.items()})
                    for name, info in infos.items():
                        out = staging / name
                        out.parent.mkdir(parents=True, exist_ok=True)
                        with z.open(info) as src, open(out, "wb") as dst:
                            _copy_capped(src, dst, info.file_size, member_cap, f"{label}: member {name!r} of {archive.name!r}")
            else:
                with tarfile.open(plain_tar(archive)) as t:
                    infos = {name: t.getmember(name) for name in members}
                    for name, info in infos.items():
                        if not info.isfile():  # links and devices could point anywhere
                            raise SourceError(f"{label}: member {name!r} is not a regular file; nothing was extracted")
                    check_declared({name: info.size for name, info in infos.items()})
                    for name, info in infos.items():
                        out = staging / name
                        out.parent.mkdir(parents=True, exist_ok=True)
                        src = t.extractfile(info)
                        assert src is not None
                        with src, open(out, "wb") as dst:
                            _copy_capped(src, dst, info.size, member_cap, f"{label}: member {name!r} of {archive.name!r}")
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS:  # the disk, not the archive
                raise SourceError(
                    f"{label}: cannot extract into {str(target)!r}: {exc.strerror}; nothing was extracted"
                ) from None
            raise SourceError(
                f"{label}: archive {archive.name!r} is truncated or corrupt while extracting "
                f"({type(exc).__name__}: {exc}); nothing was extracted"
            ) from None
        except (zipfile.BadZipFile, tarfile.TarError, EOFError, KeyError, zlib.error) as exc:
            raise SourceError(
                f"{label}: archive {archive.name!r} is truncated or corrupt while extracting "
                f"({type(exc).__name__}: {exc}); nothing was extracted"
            ) from None
        paths = []
        for name in members:
            final = target / name
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, final)
            paths.append(final)
        return paths
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------- the door

def fetch_package(
    registry: str,
    spec: str,
    sha256: str | None,
    members: Sequence[str],
    cache_dir: str | os.PathLike,
    model_id: str = "?",
    downloader: Downloader | None = None,
    attempts: int = 3,
    backoff: float = 2.0,
) -> dict:
    """Download (once), verify and extract ``members`` of a pinned package; return a manifest.

    The manifest: registry, package, version, archive (path), sha256, members (archive
    names) and files (local paths, in member order). Raises SourceError naming the model
    and package for a missing or wrong sha256, a missing member, an unreadable archive or
    an unreachable registry.
    """
    from filelock import FileLock

    pkg = parse_spec(registry, spec, model_id)
    label = f"model {model_id!r}: {registry} package {pkg.spec}"
    if not members:
        raise SourceError(f"{label}: the sheet row names no member (column 'member')")
    if sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", str(sha256)):
        raise SourceError(f"{label}: sha256 {sha256!r} is not 64 lowercase hex digits")
    root = Path(cache_dir) / "packages" / registry
    folder = root / pkg.folder_name
    root.mkdir(parents=True, exist_ok=True)
    download = downloader or default_downloader()
    with FileLock(str(root / f"{pkg.folder_name}.lock")):
        folder.mkdir(exist_ok=True)
        archive = _cached_archive(folder, sha256)
        if archive is None:
            archive = _download(pkg, folder, sha256, download, label, attempts, backoff)
            _write_stamp(archive, str(sha256))
        digest = str(sha256)
        names = match_members(_stamp(archive)["names"], list(members), label)
        files_dir = folder / "files"
        missing = [n for n in names if not (files_dir / n).is_file()]
        if missing:
            extract_members(archive, missing, files_dir, label)
        return {
            "registry": registry,
            "package": pkg.name,
            "version": pkg.version,
            "archive": str(archive),
            "sha256": digest,
            "members": names,
            "files": [str(files_dir / n) for n in names],
        }


def _stamp_path(archive: Path) -> Path:
    return archive.with_name(archive.name + ".verified.json")


def _write_stamp(archive: Path, sha256: str) -> dict:
    """Record a verified archive: its sha256, size, mtime and member names (listing a .tgz is slow)."""
    import json

    stat = archive.stat()
    stamp = {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "names": archive_names(archive)}
    tmp = _stamp_path(archive).with_suffix(".tmp")
    tmp.write_text(json.dumps(stamp))
    os.replace(tmp, _stamp_path(archive))
    return stamp


def _stamp(archive: Path) -> dict:
    import json

    return json.loads(_stamp_path(archive).read_text())


def _cached_archive(folder: Path, sha256: str | None) -> Path | None:
    """The archive already in ``folder`` when it is the pinned one; anything else is removed.

    An archive whose stamp matches its size and mtime is not hashed again; without a
    stamp (or after a change) it is hashed, and kept only if the sha256 is the pinned one.
    """
    import json

    for path in folder.iterdir():
        if not (path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)):
            continue
        if sha256 is not None:
            try:
                stamp = _stamp(path)
                stat = path.stat()
                if (stamp["sha256"], stamp["size"], stamp["mtime_ns"]) == (sha256, stat.st_size, stat.st_mtime_ns):
                    return path
            except (OSError, ValueError, KeyError, json.JSONDecodeError):
                pass
            if sha256_of(path) == sha256:
                _write_stamp(path, sha256)
                return path
        path.unlink()  # stale, corrupt or unpinned: a new download decides
        _stamp_path(path).unlink(missing_ok=True)
        path.with_name(path.name + ".decompressed").unlink(missing_ok=True)
        shutil.rmtree(folder / "files", ignore_errors=True)
    return None


def _download(pkg: Package, folder: Path, sha256: str | None, download: Downloader, label: str,
              attempts: int, backoff: float) -> Path:
    """Download into a temporary folder, check the sha256, then move the archive into ``folder``."""

    def attempt() -> Path:
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=folder))
        try:
            got = download(pkg, tmp, sha256)
            digest = sha256_of(got)
            if sha256 is None:
                raise SourceError(
                    f"{label}: the row has no sha256. The downloaded file {got.name} has sha256 "
                    f"{digest}; check it against the registry and add it to the sheet. Nothing was extracted."
                )
            if digest != sha256:
                raise SourceError(
                    f"{label}: checksum mismatch for {got.name}: expected sha256 {sha256}, found "
                    f"{digest}. The file was deleted and nothing was extracted; check the pinned "
                    "version and sha256 in the sheet."
                )
            final = folder / got.name
            os.replace(got, final)
            return final
        except SourceError as exc:
            if not str(exc).startswith(label):
                raise SourceError(f"{label}: {exc}") from None
            raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    return with_retries(attempt, label, attempts=attempts, backoff=backoff)

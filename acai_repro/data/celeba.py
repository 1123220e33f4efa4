"""CelebA faces and their 40 binary attributes, from the original folder layout or a prepared cache.

The original layout (the "Align&Cropped" release)::

    root/img_align_celeba/000001.jpg ...   178 x 218 RGB JPEGs (any subset of them)
    root/list_attr_celeba.txt              line 1: the number of rows; line 2: the 40 attribute names;
                                           then "000001.jpg  -1  1 -1 ..." rows (-1 / 1, runs of spaces), CRLF
    root/list_eval_partition.txt           "000001.jpg 0" rows: 0 train, 1 valid, 2 test (needed for a split)

The attribute file may list more images than the folder holds (the full file with a sample of the images works);
an image the attribute file does not list, a row with the wrong number of values, a value other than -1 / 1, a
missing file or an image that does not decode is a :class:`~acai_repro.errors.DataError` naming the file.

Each image is centre-cropped to a ``crop`` x ``crop`` square (140 px: the face without most of the background) and
resized with Pillow (bicubic, anti-aliased) to ``size`` px (32 on a CPU, 64 on a GPU). ``load_celeba`` returns a
:class:`~acai_repro.data.faces.FaceData`: images (N, 3, S, S) float32 in [-1, 1] and attributes (N, 40) in {0, 1}.

``data_scripts/prepare_celeba.py`` writes a cache: one ``.npz`` with the cropped and resized images as JPEG bytes
(see :func:`write_cache`), a few MB for thousands of 64 px faces; ``load_celeba`` reads it when ``root`` is that
file, and can shrink it further (a 64 px cache gives 32 px images), never enlarge it.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from acai_repro.data.faces import FaceData
from acai_repro.errors import DataError

IMAGES_DIR, ATTR_FILE, PARTITION_FILE = "img_align_celeba", "list_attr_celeba.txt", "list_eval_partition.txt"
SPLITS = {"train": 0, "valid": 1, "test": 2}
CROP = 140  # centre square cut from the 178 x 218 aligned images


def read_attributes(path: str | Path) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
    """Parse ``list_attr_celeba.txt``: (names (K,), file names (M,), values (M, K) int8 in {-1, 1})."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: attribute file missing (CelebA's {ATTR_FILE})")
    lines = path.read_text(errors="replace").splitlines()  # CRLF or LF
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise DataError(f"{path}: line 1 must be the number of rows, got {lines[0][:40]!r}" if lines else
                        f"{path}: empty attribute file")
    count, names = int(lines[0]), tuple(lines[1].split())
    rows = [line for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise DataError(f"{path}: line 1 announces {count} rows but {len(rows)} follow (truncated or edited file)")
    # Each value is "1" or "-1", so a row's values are its '1' characters, negated where a '-' precedes them:
    # one pass over the bytes with numpy instead of 8 million int() calls.
    files, rests = zip(*(row.strip().partition(" ")[::2] for row in rows))
    per_row = np.array([rest.count("1") for rest in rests])
    wrong = np.flatnonzero(per_row != len(names))
    text = np.frombuffer(" ".join(rests).encode(), dtype=np.uint8)
    ones, minus = np.flatnonzero(text == ord("1")), np.flatnonzero(text == ord("-"))
    allowed = np.isin(text, np.frombuffer(b" \t-1", dtype=np.uint8))
    if len(wrong) or not allowed.all() or not np.isin(text[ones - 1], (32, 9, 45)).all() or not (
            text[np.minimum(minus + 1, len(text) - 1)] == ord("1")).all():
        for number, row in enumerate(rows, start=3):  # slow path, only to name the bad line
            fields = row.split()[1:]
            if len(fields) != len(names) or not set(fields) <= {"1", "-1"}:
                raise DataError(f"{path}, line {number}: expected {len(names)} values, each -1 or 1 (one per "
                                f"attribute), got {len(fields)}: {' '.join(fields)[:60]!r}")
        raise DataError(f"{path}: unexpected characters in the attribute rows")
    values = np.where(text[ones - 1] == ord("-"), -1, 1).astype(np.int8).reshape(count, len(names))
    return names, np.array(files), values


def read_partition(path: str | Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` into {file name: 0 train / 1 valid / 2 test}."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: partition file missing (CelebA's {PARTITION_FILE}, needed to pick a split)")
    out = {}
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise DataError(f"{path}, line {number}: expected '<file> 0|1|2', got {line.strip()[:60]!r}")
        out[fields[0]] = int(fields[1])
    return out


def crop_resize(image: Image.Image, size: int, crop: int = CROP) -> np.ndarray:
    """Centre square of side min(crop, width, height), resized to size x size: (size, size, 3) uint8."""
    image = image.convert("RGB")
    side = min(crop, *image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    square = image.crop((left, top, left + side, top + side))
    return np.asarray(square.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=None))


def _decode(source, name: str, size: int, crop: int) -> np.ndarray:
    try:
        with Image.open(source) as image:
            return crop_resize(image, size, crop)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{name}: cannot decode image ({error})") from None


def scan_folder(root: str | Path, split: str = "all") -> tuple[list[Path], tuple[str, ...], np.ndarray, np.ndarray]:
    """The images of ``root`` in ``split`` with their attribute rows: (paths, names, values (N, K), partition (N,)).

    partition holds -1 where no partition file was read (``split="all"`` without the file).
    """
    root = Path(root)
    folder = root / IMAGES_DIR
    if not folder.is_dir():
        raise DataError(f"{folder}: image folder missing (CelebA layout: {IMAGES_DIR}/, {ATTR_FILE}, "
                        f"{PARTITION_FILE})")
    paths = sorted(folder.glob("*.jpg"))
    if not paths:
        raise DataError(f"{folder}: no .jpg images")
    names, files, values = read_attributes(root / ATTR_FILE)
    row_of = {f: i for i, f in enumerate(files)}
    unknown = [p.name for p in paths if p.name not in row_of]
    if unknown:
        raise DataError(f"{root / ATTR_FILE} lists no row for {len(unknown)} image(s) in {folder}, e.g. "
                        f"{unknown[0]!r}: the images and the attribute file do not match")
    rows = np.array([row_of[p.name] for p in paths])
    partition = np.full(len(paths), -1, dtype=np.int8)
    if split != "all" or (root / PARTITION_FILE).is_file():
        part = read_partition(root / PARTITION_FILE)
        missing = [p.name for p in paths if p.name not in part]
        if missing:
            raise DataError(f"{root / PARTITION_FILE} has no line for {missing[0]!r} ({len(missing)} images)")
        partition = np.array([part[p.name] for p in paths], dtype=np.int8)
    keep = np.ones(len(paths), bool) if split == "all" else partition == SPLITS[split]
    return [p for p, k in zip(paths, keep) if k], names, values[rows[keep]], partition[keep]


def write_cache(root: str | Path, out: str | Path, size: int = 64, crop: int = CROP, quality: int = 90) -> Path:
    """Crop, resize and JPEG-encode every image of a CelebA folder into one ``.npz`` (see the module doc)."""
    paths, names, values, partition = scan_folder(root)
    blobs = []
    for path in paths:  # one decode + encode per file: this is I/O, done once
        buffer = io.BytesIO()
        Image.fromarray(_decode(path, str(path), size, crop)).save(buffer, format="JPEG", quality=quality)
        blobs.append(np.frombuffer(buffer.getvalue(), dtype=np.uint8))
    offsets = np.cumsum([0] + [len(b) for b in blobs])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, jpeg=np.concatenate(blobs), offsets=offsets, files=np.array([p.name for p in paths]),
             names=np.array(names), attributes=values, partition=partition, size=size, crop=crop)
    return out


def _read_cache(path: Path, size: int, split: str) -> tuple[np.ndarray, tuple[str, ...], np.ndarray]:
    try:
        data = np.load(path, allow_pickle=False)
        jpeg, offsets, names = data["jpeg"], data["offsets"], tuple(data["names"].tolist())
        values, partition, cached = data["attributes"], data["partition"], int(data["size"])
    except (OSError, ValueError, KeyError) as error:
        raise DataError(f"{path}: not a CelebA cache written by data_scripts/prepare_celeba.py ({error})") from None
    if size > cached:
        raise DataError(f"{path} holds {cached} px images; cannot load them at {size} px (prepare a larger cache)")
    keep = np.arange(len(values)) if split == "all" else np.flatnonzero(partition == SPLITS[split])
    if split != "all" and (partition < 0).any():
        raise DataError(f"{path} was prepared without {PARTITION_FILE}: only split='all' is available")
    pixels = np.stack([_decode(io.BytesIO(jpeg[offsets[i]:offsets[i + 1]].tobytes()), f"{path}[{i}]", size, cached)
                       for i in keep]) if len(keep) else np.zeros((0, size, size, 3), np.uint8)
    return pixels, names, values[keep]


def load_celeba(root: str | Path, size: int = 32, split: str = "all", limit: int | None = None,
                crop: int = CROP) -> FaceData:
    """CelebA faces from a CelebA folder or a prepared ``.npz`` cache, as :class:`FaceData` in [-1, 1].

    ``split`` is "all", "train", "valid" or "test"; ``limit`` keeps the first images (in file-name order).
    """
    if split != "all" and split not in SPLITS:
        raise ValueError(f"split must be 'all', 'train', 'valid' or 'test', got {split!r}")
    root = Path(root).expanduser()
    if root.is_file():
        pixels, names, values = _read_cache(root, size, split)
        source = f"CelebA cache {root.name}"
    elif root.is_dir():
        paths, names, values, _ = scan_folder(root, split)
        paths = paths[:limit] if limit is not None else paths
        pixels = np.stack([_decode(p, str(p), size, crop) for p in paths])
        source = f"CelebA folder {root}"
    else:
        raise DataError(f"{root}: neither a CelebA folder nor a prepared .npz cache")
    pixels, values = pixels[:limit], values[:limit]
    if not len(pixels):
        raise DataError(f"{root}: no images in split {split!r}")
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 127.5 - 1  # (N, 3, S, S) in [-1, 1]
    attributes = torch.from_numpy((values > 0).astype(np.float32))  # -1 / 1 -> 0 / 1
    return FaceData(images, attributes, names, f"{source}: {len(images)} images at {size} px, split {split}")

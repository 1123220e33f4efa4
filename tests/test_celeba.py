"""The CelebA loader on a tiny folder written here in the original format (CRLF, runs of spaces, the full attribute
file with only some of its images), its prepared cache, and the errors for broken variants."""

import numpy as np
import pytest
import torch
from PIL import Image

from acai_repro.data.celeba import load_celeba, read_attributes, write_cache
from acai_repro.errors import DataError

NAMES = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
         "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
         "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
         "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
         "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()
ROWS = 10  # rows in the attribute file
PRESENT = (1, 2, 4, 7, 9)  # the images actually in the folder (a subset, as in the shared sample)
SPLIT = {1: 0, 2: 0, 3: 0, 4: 1, 5: 1, 6: 1, 7: 2, 8: 2, 9: 0, 10: 2}


def name(i: int) -> str:
    return f"{i:06d}.jpg"


def values_of(i: int) -> np.ndarray:
    return np.where((np.arange(40) + i) % 3 == 0, 1, -1)  # a known pattern per image


def face(i: int) -> np.ndarray:
    """A 24 x 20 (H x W) image: grey border, a centre 8 x 8 square coloured by i."""
    pixels = np.full((24, 20, 3), 128, np.uint8)
    pixels[8:16, 6:14] = (20 * i, 255 - 20 * i, 100)
    return pixels


def write_folder(root, rows=None, crlf=True):
    (root / "img_align_celeba").mkdir(parents=True)
    for i in PRESENT:
        Image.fromarray(face(i)).save(root / "img_align_celeba" / name(i), quality=95)
    eol = "\r\n" if crlf else "\n"
    lines = [str(ROWS), " ".join(NAMES) + " "]
    for i in range(1, ROWS + 1):  # like the real file: two spaces before a 1, one before a -1
        lines.append(name(i) + "".join(f"  {v}" if v == 1 else f" {v}" for v in values_of(i)))
    if rows is not None:
        lines = rows(lines)
    (root / "list_attr_celeba.txt").write_bytes((eol.join(lines) + eol).encode())
    (root / "list_eval_partition.txt").write_bytes(
        "".join(f"{name(i)} {SPLIT[i]}\r\n" for i in range(1, ROWS + 1)).encode())
    return root


@pytest.fixture
def folder(tmp_path):
    return write_folder(tmp_path / "celeba")


def test_read_attributes_real_format(folder):
    names, files, values = read_attributes(folder / "list_attr_celeba.txt")
    assert names == tuple(NAMES) and len(files) == ROWS and values.shape == (ROWS, 40)
    assert files[3] == "000004.jpg"
    assert (values[3] == values_of(4)).all() and set(np.unique(values)) == {-1, 1}


def test_load_subset_all_and_splits(folder):
    data = load_celeba(folder, size=8, crop=4)
    assert data.images.shape == (len(PRESENT), 3, 8, 8) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert data.names == tuple(NAMES)
    expected = torch.tensor(np.stack([values_of(i) for i in PRESENT]) > 0, dtype=torch.float32)
    assert torch.equal(data.attributes, expected)  # -1 / 1 became 0 / 1, rows matched by file name
    # The 4 x 4 centre crop of a 20 x 24 image lies inside the coloured square: image 4's colour (80, 175, 100).
    mean = (data.images[2].mean((1, 2)) + 1) * 127.5
    assert torch.allclose(mean, torch.tensor([80.0, 175.0, 100.0]), atol=6)
    train = load_celeba(folder, size=8, split="train")
    assert len(train.images) == 3 and torch.equal(train.attributes, expected[[0, 1, 4]])  # images 1, 2, 9
    assert len(load_celeba(folder, size=8, split="test").images) == 1  # image 7
    assert len(load_celeba(folder, size=8, limit=2).images) == 2


def test_cache_round_trip(folder, tmp_path):
    cache = write_cache(folder, tmp_path / "cache.npz", size=16)
    from_folder, from_cache = load_celeba(folder, size=16), load_celeba(cache, size=16)
    assert torch.equal(from_cache.attributes, from_folder.attributes) and from_cache.names == from_folder.names
    assert (from_cache.images - from_folder.images).abs().mean() < 0.05  # JPEG re-encoding only
    assert load_celeba(cache, size=8).images.shape == (len(PRESENT), 3, 8, 8)
    assert len(load_celeba(cache, size=16, split="train").images) == 3
    with pytest.raises(DataError, match="16 px.*32 px"):
        load_celeba(cache, size=32)


def test_lf_line_endings_also_work(tmp_path):
    assert len(load_celeba(write_folder(tmp_path / "lf", crlf=False), size=8).images) == len(PRESENT)


def drop_value(lines):
    lines[5] = lines[5].rsplit(" ", 1)[0]  # the row of 000004.jpg loses its last value
    return lines


@pytest.mark.parametrize("rows, match", [
    (drop_value, r"list_attr_celeba.txt, line 6: expected 40 values"),
    (lambda lines: [lines[0], lines[1]] + lines[3:], r"announces 10 rows but 9 follow"),
    (lambda lines: lines[:4] + [lines[4].replace(" -1", " 0", 1)] + lines[5:], r"line 5: expected 40 values, each -1 or 1"),
])
def test_broken_attribute_files(tmp_path, rows, match):
    with pytest.raises(DataError, match=match):
        load_celeba(write_folder(tmp_path / "bad", rows=rows), size=8)


def test_images_not_matching_the_attribute_file(folder):
    Image.fromarray(face(1)).save(folder / "img_align_celeba" / "999999.jpg")
    with pytest.raises(DataError, match=r"no row for 1 image.*999999.jpg"):
        load_celeba(folder, size=8)


def test_unreadable_image(folder):
    (folder / "img_align_celeba" / name(4)).write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"000004.jpg: cannot decode"):
        load_celeba(folder, size=8)


def test_missing_files(folder, tmp_path):
    (folder / "list_eval_partition.txt").unlink()
    assert len(load_celeba(folder, size=8).images) == len(PRESENT)  # split "all" needs no partition file
    with pytest.raises(DataError, match="list_eval_partition.txt: partition file missing"):
        load_celeba(folder, size=8, split="train")
    (folder / "list_attr_celeba.txt").unlink()
    with pytest.raises(DataError, match="list_attr_celeba.txt: attribute file missing"):
        load_celeba(folder, size=8)
    with pytest.raises(DataError, match="neither a CelebA folder nor"):
        load_celeba(tmp_path / "nowhere")
    (tmp_path / "empty" / "img_align_celeba").mkdir(parents=True)
    with pytest.raises(DataError, match="no .jpg images"):
        load_celeba(tmp_path / "empty")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(DataError, match="junk.npz: not a CelebA cache"):
        load_celeba(tmp_path / "junk.npz")

"""Procedural faces: the interface, determinism, and that each attribute draws what its label says, where it says."""

import pytest
import torch

from acai_repro.data.faces import FACE_ATTRIBUTES, load_faces, region_mask, render_faces, sample_face_params

SIZE = 32


@pytest.fixture(scope="module")
def params():
    return sample_face_params(64, torch.Generator().manual_seed(3))


def twin(params, attribute: str, value: float):
    """The same faces with one attribute set to value."""
    out = {k: v.clone() for k, v in params.items()}
    out["attributes"][:, FACE_ATTRIBUTES.index(attribute)] = value
    return out


def test_interface_and_determinism():
    data = load_faces(100, size=SIZE, seed=1)
    assert data.images.shape == (100, 3, SIZE, SIZE) and data.images.dtype == torch.float32
    assert data.images.min() >= -1 and data.images.max() <= 1
    assert data.names == FACE_ATTRIBUTES and len(FACE_ATTRIBUTES) >= 5
    assert data.attributes.shape == (100, 5) and set(data.attributes.unique().tolist()) == {0.0, 1.0}
    assert 0.3 < data.attributes.mean() < 0.7
    again = load_faces(100, size=SIZE, seed=1, chunk=7)  # chunking changes nothing
    assert torch.equal(data.images, again.images) and torch.equal(data.attributes, again.attributes)
    assert not torch.equal(data.images, load_faces(100, size=SIZE, seed=2).images)
    assert load_faces(4, size=64).images.shape == (4, 3, 64, 64)
    with pytest.raises(ValueError, match="positive"):
        load_faces(0)


@pytest.mark.parametrize("attribute, region", [("smiling", "mouth"), ("eyeglasses", "eyes")])
def test_local_attributes_change_only_their_region(params, attribute, region):
    on, off = render_faces(twin(params, attribute, 1.0), SIZE), render_faces(twin(params, attribute, 0.0), SIZE)
    diff = (on - off).abs().amax(1)  # (N, S, S)
    inside = region_mask(params, region, SIZE)
    assert (diff[~inside] == 0).all()  # nothing outside the region moves
    assert (diff.flatten(1).amax(1) > 0.3).all()  # and every face visibly changes inside it


def test_smile_lifts_the_mouth_corners(params):
    """Smiling: dark-red mouth pixels move up at the corners compared with the straight mouth."""
    def mouth_rows(images):  # mean row index of the "mouth red" pixels
        red = ((images[:, 0] > 0.0) & (images[:, 1] < -0.55) & (images[:, 2] < -0.4)).float()  # (N, S, S)
        rows = torch.arange(images.shape[-1], dtype=torch.float32).view(1, -1, 1)
        return (red * rows).sum((1, 2)) / red.sum((1, 2)).clamp(min=1)
    smiling, straight = (render_faces(twin(params, "smiling", v), 64) for v in (1.0, 0.0))
    assert (mouth_rows(smiling) < mouth_rows(straight)).float().mean() > 0.9


def test_global_attributes_change_what_they_say(params):
    k_bg, k_hair = FACE_ATTRIBUTES.index("light_background"), FACE_ATTRIBUTES.index("blond_hair")
    light, dark = (render_faces(twin(params, "light_background", v), SIZE) for v in (1.0, 0.0))
    corner = lambda x: x[:, :, :2, :2].mean((1, 2, 3))  # noqa: E731  the top-left corner is background
    assert (corner(light) > corner(dark) + 0.8).all()
    blond, brown = (render_faces(twin(params, "blond_hair", v), SIZE) for v in (1.0, 0.0))
    moved = (blond - brown).abs().amax(1) > 0
    assert moved.any(2).any(1).all() and (blond - brown).sum() > 0  # hair lighter, somewhere on every face
    assert not moved[:, SIZE - 3:].any()  # and never at the chin level
    round_, oval = (render_faces(twin(params, "round_face", v), SIZE) for v in (1.0, 0.0))
    row = SIZE // 2 + 1  # a row just below the centre: the round face is wider there
    skin = lambda x: ((x - x[:, :, :1, :1]).abs().amax(1)[:, row] > 0.2).sum(1)  # noqa: E731  non-background
    assert (skin(round_) > skin(oval)).float().mean() > 0.9
    assert k_bg != k_hair

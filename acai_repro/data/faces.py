"""Procedural faces: the GAIA chapter's offline dataset, with attributes known exactly because we draw them.

Each face is a few antialiased shapes composited on a plain background, all drawn at once for a whole batch with
torch broadcasting (no loop over faces). Five independent binary attributes, each on with probability 1/2:

========================  ====================================================================
``smiling``               the mouth curves up at the corners (off: a straight mouth)
``eyeglasses``            two dark rings and a bridge around the eyes
``blond_hair``            light yellow hair (off: dark brown)
``round_face``            a round face (off: a narrow, long oval)
``light_background``      a pale blue-grey background (off: dark blue)
========================  ====================================================================

and nuisance factors that carry no label: face position (+-0.06 of the half-width) and size (x 1.05 - 1.25), skin
tone (a continuum from light to dark), small colour jitter of hair and background. A face's look is a pure function
of its parameters (:func:`sample_face_params`), so a "twin" that differs in one attribute is rendered by changing
that one entry (:func:`render_faces`); the tests check that only the attribute's own region changes.

Images are float32 (N, 3, S, S) in [-1, 1] (pixel p in [0, 1] stored as 2 p - 1), the same convention as the
CelebA loader (:mod:`acai_repro.data.celeba`), which returns the same :class:`FaceData`.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

FACE_ATTRIBUTES = ("smiling", "eyeglasses", "blond_hair", "round_face", "light_background")

# Colours in [0, 1].
SKIN_LIGHT, SKIN_DARK = (0.96, 0.80, 0.69), (0.55, 0.36, 0.24)
HAIR = {1: (0.93, 0.80, 0.40), 0: (0.22, 0.13, 0.08)}  # blond_hair on / off
BACKGROUND = {1: (0.80, 0.85, 0.92), 0: (0.12, 0.18, 0.32)}  # light_background on / off
EYE, GLASSES, MOUTH = (0.08, 0.08, 0.12), (0.02, 0.02, 0.02), (0.62, 0.10, 0.16)

# Geometry in units of the face scale, relative to the face centre (v grows downwards).
EYE_DX, EYE_DY, EYE_R = 0.20, -0.10, 0.06
GLASS_R, GLASS_T = 0.14, 0.025  # ring radius and half-thickness
MOUTH_DY, MOUTH_W, MOUTH_T, SMILE_K = 0.30, 0.20, 0.03, 3.0  # centre, half width, half thickness, curvature
REGIONS = {  # name -> (centre dy, half width, half height): boxes that hold everything an attribute draws
    "mouth": (MOUTH_DY, 0.28, 0.25),
    "eyes": (EYE_DY, 0.45, 0.25),
}


@dataclass(frozen=True)
class FaceData:
    """What both face loaders return."""

    images: torch.Tensor  # (N, 3, S, S) float32 in [-1, 1]
    attributes: torch.Tensor  # (N, K) float32 in {0, 1}
    names: tuple[str, ...]  # the K attribute names, in column order
    source: str  # where the faces came from, for logs and the book


def sample_face_params(n: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Random attributes (N, 5) in {0, 1} and the nuisance factors of ``n`` faces (all float32, on the CPU)."""
    g = generator

    def u(*shape):  # U(0, 1)
        return torch.rand(*shape, generator=g)

    attributes = (u(n, len(FACE_ATTRIBUTES)) < 0.5).float()
    return {
        "attributes": attributes,  # (N, 5), columns in FACE_ATTRIBUTES order
        "cx": (u(n) - 0.5) * 0.12, "cy": (u(n) - 0.5) * 0.12,  # face centre in [-1, 1] image coordinates
        "scale": 1.05 + 0.2 * u(n),
        "skin": u(n),  # 0 = lightest, 1 = darkest skin tone
        "hair_jitter": (u(n, 3) - 0.5) * 0.1, "background_jitter": (u(n, 3) - 0.5) * 0.16,
    }


def _cover(distance: torch.Tensor, pixel: float) -> torch.Tensor:
    """Antialiased coverage of a shape from its signed distance (< 0 inside): a one-pixel linear ramp.

    Exactly 0 more than half a pixel outside the shape, so drawing a shape changes no pixel far from it.
    """
    return (0.5 - distance / pixel).clamp(0.0, 1.0)


def _ellipse(u, v, cx, cy, rx, ry) -> torch.Tensor:
    """Approximate signed distance to an axis-aligned ellipse (exact for circles)."""
    return (((u - cx) / rx) ** 2 + ((v - cy) / ry) ** 2).sqrt().sub(1.0) * torch.minimum(rx, ry)


def _paint(canvas: torch.Tensor, colour: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Composite a colour (N, 3) with coverage (N, S, S) over a canvas (N, 3, S, S)."""
    a = alpha.unsqueeze(1)
    return canvas * (1 - a) + colour.view(-1, 3, 1, 1) * a


def render_faces(params: dict[str, torch.Tensor], size: int = 32) -> torch.Tensor:
    """Draw the faces described by ``params``: (N, 3, size, size) float32 in [-1, 1]."""
    attr = params["attributes"]
    n = len(attr)
    smiling, glasses, blond, round_face, light_bg = (attr[:, k].view(n, 1, 1) for k in range(5))
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1  # pixel centres in [-1, 1]
    v, u = coords.view(1, size, 1), coords.view(1, 1, size)  # rows go down, columns go right
    pixel = 2.0 / size
    cx, cy, s = (params[k].view(n, 1, 1) for k in ("cx", "cy", "scale"))

    def pick(table, on):  # (N, 3) colour from an on/off table
        return torch.where(on.view(n, 1) > 0.5, torch.tensor(table[1]), torch.tensor(table[0]))

    canvas = (pick(BACKGROUND, light_bg) + params["background_jitter"]).clamp(0, 1).view(n, 3, 1, 1)
    canvas = canvas.expand(n, 3, size, size)
    rx = s * torch.where(round_face > 0.5, 0.50, 0.39)  # face half-width
    ry = s * torch.where(round_face > 0.5, 0.50, 0.60)  # face half-height
    # Hair: a larger ellipse behind the face, shifted up, cut off above the chin.
    hair = torch.maximum(_ellipse(u, v, cx, cy - 0.12 * s, rx + 0.10 * s, ry + 0.04 * s), v - (cy + 0.15 * s))
    canvas = _paint(canvas, (pick(HAIR, blond) + params["hair_jitter"]).clamp(0, 1), _cover(hair, pixel))
    t = params["skin"].view(n, 1)
    skin = (1 - t) * torch.tensor(SKIN_LIGHT) + t * torch.tensor(SKIN_DARK)
    canvas = _paint(canvas, skin, _cover(_ellipse(u, v, cx, cy, rx, ry), pixel))
    # Eyes, then glasses over them.
    ey, er = cy + EYE_DY * s, EYE_R * s
    eyes = torch.minimum(_ellipse(u, v, cx - EYE_DX * s, ey, er, er), _ellipse(u, v, cx + EYE_DX * s, ey, er, er))
    canvas = _paint(canvas, torch.tensor(EYE).expand(n, 3), _cover(eyes, pixel))
    rings = torch.minimum(*(((u - (cx + side * EYE_DX * s)) ** 2 + (v - ey) ** 2).sqrt().sub(GLASS_R * s).abs()
                            - GLASS_T * s for side in (-1, 1)))
    inner = (EYE_DX - GLASS_R) * s  # the bridge joins the rings' inner edges
    bridge = torch.maximum((v - ey).abs() - GLASS_T * s, (u - cx).abs() - inner)
    canvas = _paint(canvas, torch.tensor(GLASSES).expand(n, 3), _cover(torch.minimum(rings, bridge), pixel) * glasses)
    # Mouth: v = centre - k (u - cx)^2 / s, curving up at the corners when smiling, straight otherwise.
    my = cy + MOUTH_DY * s
    curve = my - SMILE_K * smiling * (u - cx) ** 2 / s
    mouth = torch.maximum((v - curve).abs() - MOUTH_T * s, (u - cx).abs() - MOUTH_W * s)
    canvas = _paint(canvas, torch.tensor(MOUTH).expand(n, 3), _cover(mouth, pixel))
    return canvas * 2 - 1


def region_mask(params: dict[str, torch.Tensor], region: str, size: int = 32) -> torch.Tensor:
    """(N, size, size) bool: the box around the mouth or the eyes (see :data:`REGIONS`) of each face."""
    dy, half_w, half_h = REGIONS[region]
    n = len(params["attributes"])
    coords = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    v, u = coords.view(1, size, 1), coords.view(1, 1, size)
    cx, cy, s = (params[k].view(n, 1, 1) for k in ("cx", "cy", "scale"))
    return ((u - cx).abs() <= half_w * s) & ((v - (cy + dy * s)).abs() <= half_h * s)


def load_faces(n: int, size: int = 32, seed: int = 0, chunk: int = 2048) -> FaceData:
    """``n`` seeded procedural faces at ``size`` px (rendered ``chunk`` at a time to bound memory)."""
    if n < 1:
        raise ValueError(f"n must be a positive number of faces, got {n!r}")
    params = sample_face_params(n, torch.Generator().manual_seed(seed))
    images = torch.cat([render_faces({k: p[i:i + chunk] for k, p in params.items()}, size)
                        for i in range(0, n, chunk)])
    return FaceData(images, params["attributes"], FACE_ATTRIBUTES,
                    f"procedural faces (acai_repro.data.faces), {n} faces at {size} px, seed {seed}")

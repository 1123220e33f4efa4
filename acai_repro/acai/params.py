"""Parameter schemas of the ACAI notebooks (defaults = the ``quick`` profile)."""
from math import pi

from acai_repro.runner.schema import Param, Schema

LINES_BENCHMARK = Schema("lines_benchmark", {
    "n_show": Param(int, 16, "random lines drawn in the sample grid", low=1, high=64),
    "start_angle": Param(float, 5 * pi / 7, "start of the reference interpolations (radians)", low=0, high=2 * pi),
    "end_angle": Param(float, 3 * pi / 2, "end of the reference interpolations (radians)", low=0, high=2 * pi),
    "steps": Param(int, 16, "images per interpolation, end points included (paper: 16)", low=3, high=64),
    "n_pairs": Param(int, 256, "random test pairs scored by pixel crossfade (paper: 256)", low=1, high=256),
})

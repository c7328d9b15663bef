"""The shape palette, drawn in code: small binary grayscale images, one per class.

ShapeShop's set (Hohman et al., CHI 2017) — centred vertical and horizontal lines, the two
diagonals, solid and hollow circles, squares and triangles, a cross — plus noise and
blurred noise, all :data:`SIZE` × :data:`SIZE`, uint8 0 (black) / 255 (white), H×W×1.
"""

from __future__ import annotations

import numpy as np

SIZE = 28
_NOISE_SEED = 14


def _grid(size: int):
    yy, xx = np.mgrid[0:size, 0:size]
    c = (size - 1) / 2
    return yy - c, xx - c


def _line(size, kind):
    y, x = _grid(size)
    half, reach = size * 0.07, size * 0.36  # 2 px thick each side at 28, ends 4 px in
    if kind == "vertical":
        m = (np.abs(x) <= half) & (np.abs(y) <= reach)
    elif kind == "horizontal":
        m = (np.abs(y) <= half) & (np.abs(x) <= reach)
    elif kind == "diagonal":      # top-left to bottom-right
        m = (np.abs(x - y) <= half * 1.4) & (np.abs(x + y) <= reach * 1.9)
    else:                         # anti-diagonal: bottom-left to top-right
        m = (np.abs(x + y) <= half * 1.4) & (np.abs(x - y) <= reach * 1.9)
    return m


def _circle(size, hollow):
    y, x = _grid(size)
    r = np.hypot(x, y)
    outer = size * 0.36
    return (r <= outer) & (r >= outer - size * 0.11) if hollow else r <= outer


def _square(size, hollow):
    y, x = _grid(size)
    d = np.maximum(np.abs(x), np.abs(y))
    outer = size * 0.32
    return (d <= outer) & (d >= outer - size * 0.11) if hollow else d <= outer


def _triangle(size, hollow):
    """Upright isosceles triangle; hollow: the solid one minus a smaller one inside it."""
    y, x = _grid(size)

    def solid(top, bottom, half_base):
        t = (y - top) / (bottom - top)  # 0 at the apex, 1 at the base
        return (t >= 0) & (t <= 1) & (np.abs(x) <= t * half_base)

    top, bottom, half = -size * 0.34, size * 0.3, size * 0.36
    m = solid(top, bottom, half)
    if hollow:
        inset = size * 0.11
        m &= ~solid(top + 2.2 * inset, bottom - inset, half - 1.9 * inset)
    return m


def _cross(size):
    y, x = _grid(size)
    half, reach = size * 0.07, size * 0.36
    return ((np.abs(x) <= half) & (np.abs(y) <= reach)) | ((np.abs(y) <= half) & (np.abs(x) <= reach))


def _noise(size, blurred):
    rng = np.random.default_rng(_NOISE_SEED)
    u = rng.uniform(0, 1, (size, size))
    if not blurred:
        return u > 0.5
    from scipy.ndimage import gaussian_filter

    v = gaussian_filter(u, sigma=size / 14)
    return v > np.median(v)  # blobs: binary like the others, half the pixels on


_DRAW = {
    "vertical line": lambda s: _line(s, "vertical"),
    "horizontal line": lambda s: _line(s, "horizontal"),
    "diagonal": lambda s: _line(s, "diagonal"),
    "anti-diagonal": lambda s: _line(s, "anti-diagonal"),
    "circle": lambda s: _circle(s, False),
    "hollow circle": lambda s: _circle(s, True),
    "square": lambda s: _square(s, False),
    "hollow square": lambda s: _square(s, True),
    "triangle": lambda s: _triangle(s, False),
    "hollow triangle": lambda s: _triangle(s, True),
    "cross": _cross,
    "noise": lambda s: _noise(s, False),
    "blurred noise": lambda s: _noise(s, True),
}
SHAPES: tuple[str, ...] = tuple(_DRAW)


def shape_image(name: str, size: int = SIZE) -> np.ndarray:
    """One palette image, uint8 ``size``×``size``×1, white shape (255) on black (0)."""
    if name not in _DRAW:
        raise ValueError(f"Unknown shape {name!r}; the palette has: {', '.join(SHAPES)}.")
    return (_DRAW[name](size).astype(np.uint8) * 255)[:, :, None]


def palette(size: int = SIZE) -> dict[str, np.ndarray]:
    """Every palette image by name, in :data:`SHAPES` order."""
    return {name: shape_image(name, size) for name in SHAPES}

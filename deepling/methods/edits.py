"""What-if image edits: pure functions on uint8 pixels.

Every edit takes an H×W×C (or N×H×W×C) uint8 array and returns a new uint8 array of the same
shape; a zero magnitude (no rotation, zero shift, zero sigma, size 0...) returns an exact
copy. The UI sends a dict of edits; :func:`apply_edits` applies it in :data:`EDIT_ORDER`.
"""

from __future__ import annotations

from numbers import Real

import numpy as np
from scipy import ndimage

# Geometry first, then colour, then blur and sensor noise, and the occluding patch last so it
# lands exactly where it was clicked, in its own colour.
EDIT_ORDER = ("rotate", "flip", "brightness", "hue", "blur", "noise", "occlude")

_FILL_MODES = {"reflect": "reflect", "edge": "nearest", "black": "constant"}


def _check(image) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (3, 4) or image.shape[-1] not in (1, 3):
        raise ValueError(
            f"Edits work on uint8 H×W×C (or N×H×W×C) images with 1 or 3 channels; got "
            f"{image.dtype} {image.shape}. Convert with np.clip(np.rint(x), 0, 255).astype(np.uint8)."
        )
    return image


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def brightness(image, delta: float = 0.0, factor: float = 1.0) -> np.ndarray:
    """Scale then shift every channel: ``image × factor + delta``, clipped to 0..255.

    Parameters
    ----------
    delta : float
        Pixel levels added (−255..255); 0 is no change.
    factor : float
        Multiplier (≥ 0); 1 is no change, 0 is black.
    """
    image = _check(image)
    if factor < 0:
        raise ValueError(f"Brightness factor must be ≥ 0, got {factor}.")
    if delta == 0 and factor == 1:
        return image.copy()
    return _to_uint8(image.astype(np.float32) * np.float32(factor) + np.float32(delta))


def hue(image, shift: float) -> np.ndarray:
    """Rotate the hue by ``shift`` degrees in HSV, keeping saturation and value.

    Grayscale images (C = 1) have no hue and come back unchanged.
    """
    image = _check(image)
    if shift % 360 == 0 or image.shape[-1] == 1:
        return image.copy()
    h, s, v = _rgb_to_hsv(image.astype(np.float32) / 255.0)
    rgb = _hsv_to_rgb((h + shift / 360.0) % 1.0, s, v)
    return _to_uint8(rgb * 255.0)


def rotate(image, degrees: float, fill: str = "reflect") -> np.ndarray:
    """Rotate counter-clockwise (as displayed) about the centre, keeping the size.

    Parameters
    ----------
    degrees : float
        Angle; negative turns clockwise.
    fill : {'reflect', 'edge', 'black'}
        What fills the corners that come from outside the image: a mirror image of the
        border, the nearest border pixel repeated, or black.
    """
    image = _check(image)
    if fill not in _FILL_MODES:
        raise ValueError(f"fill must be one of {sorted(_FILL_MODES)}, got {fill!r}.")
    if degrees % 360 == 0:
        return image.copy()
    out = ndimage.rotate(image.astype(np.float32), degrees, axes=(-3, -2), reshape=False,
                         order=1, mode=_FILL_MODES[fill], cval=0.0)
    return _to_uint8(out)


def flip(image, direction: str | None = "horizontal") -> np.ndarray:
    """Mirror left–right ('horizontal'), top–bottom ('vertical') or 'both'; None: no change."""
    image = _check(image)
    axes = {None: (), "none": (), "horizontal": (-2,), "vertical": (-3,), "both": (-3, -2)}
    if direction not in axes:
        raise ValueError(f"direction must be 'horizontal', 'vertical', 'both' or None, got {direction!r}.")
    return np.flip(image, axis=axes[direction]).copy() if axes[direction] else image.copy()


def blur(image, sigma: float) -> np.ndarray:
    """Gaussian blur with standard deviation ``sigma`` pixels (0 is no change)."""
    image = _check(image)
    if sigma < 0:
        raise ValueError(f"Blur sigma must be ≥ 0 pixels, got {sigma}.")
    if sigma == 0:
        return image.copy()
    sigmas = [0.0] * image.ndim
    sigmas[-3] = sigmas[-2] = float(sigma)  # spatial axes only: never blur across images
    return _to_uint8(ndimage.gaussian_filter(image.astype(np.float32), sigmas, mode="reflect"))


def add_noise(image, sigma: float, seed=0) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` pixel levels, independently per pixel and channel.

    ``seed`` (an int or a sequence of ints) makes it repeatable; the same seed with a larger
    sigma gives the same noise pattern, stronger.
    """
    image = _check(image)
    if sigma < 0:
        raise ValueError(f"Noise sigma must be ≥ 0 pixel levels, got {sigma}.")
    if sigma == 0:
        return image.copy()
    noise = np.random.default_rng(seed).standard_normal(image.shape, dtype=np.float32)
    return _to_uint8(image.astype(np.float32) + np.float32(sigma) * noise)


def occlude(image, x: int, y: int, size: int, fill="gray") -> np.ndarray:
    """Cover a ``size``×``size`` square centred on pixel (x, y) — column x, row y.

    The square is cut off at the image border. ``fill`` is 'gray' (128), 'black', 'mean'
    (the image's mean colour), a number, or one value per channel. ``size`` 0: no change.
    """
    image = _check(image)
    size = int(size)
    if size < 0:
        raise ValueError(f"Occlusion size must be ≥ 0 pixels, got {size}.")
    out = image.copy()
    if size == 0:
        return out
    h, w = image.shape[-3:-1]
    x0, y0 = int(x) - size // 2, int(y) - size // 2
    xs, ys = slice(max(x0, 0), min(x0 + size, w)), slice(max(y0, 0), min(y0 + size, h))
    out[..., ys, xs, :] = fill_value(image, fill)
    return out


def fill_value(image: np.ndarray, fill) -> np.ndarray:
    """The uint8 colour a patch is filled with, broadcastable over ``image[..., y, x, :]``."""
    if isinstance(fill, str):
        if fill == "gray":
            return np.uint8(128)
        if fill == "black":
            return np.uint8(0)
        if fill == "mean":  # per image and channel, so a batch keeps each image's colour
            mean = image.reshape(image.shape[:-3] + (-1, image.shape[-1])).mean(axis=-2)
            return _to_uint8(mean)[..., None, None, :]
        raise ValueError(f"fill must be 'gray', 'black', 'mean' or a colour, got {fill!r}.")
    value = np.asarray(fill, dtype=np.float64)
    if value.ndim > 1 or (value.ndim == 1 and len(value) != image.shape[-1]) or \
            (value.size and (value.min() < 0 or value.max() > 255)):
        raise ValueError(f"A fill colour is one value or one per channel in 0..255, got {fill!r}.")
    return _to_uint8(value)


_EDITS = {
    "rotate": (rotate, "degrees"),
    "flip": (flip, "direction"),
    "brightness": (brightness, "delta"),
    "hue": (hue, "shift"),
    "blur": (blur, "sigma"),
    "noise": (add_noise, "sigma"),
    "occlude": (occlude, None),
}


def apply_edits(image, spec: dict | None) -> np.ndarray:
    """Apply a dict of edits in :data:`EDIT_ORDER`, whatever the dict's own order.

    Each value is either the edit's main magnitude or a dict of its keyword arguments;
    None, False or 0 skips the edit::

        apply_edits(img, {"rotate": 15, "flip": "horizontal", "brightness": {"factor": 1.2},
                          "hue": 30, "blur": 0.8, "noise": {"sigma": 10, "seed": 3},
                          "occlude": {"x": 12, "y": 20, "size": 8, "fill": "mean"}})

    Raises
    ------
    ValueError
        Unknown edit names (the message lists the known ones) or bad values.
    """
    out = _check(image).copy()
    spec = dict(spec or {})
    unknown = set(spec) - set(EDIT_ORDER)
    if unknown:
        raise ValueError(f"Unknown edit(s) {sorted(unknown)}; known: {', '.join(EDIT_ORDER)}.")
    for name in EDIT_ORDER:
        value = spec.get(name)
        if value is None or value is False or (isinstance(value, Real) and value == 0):
            continue
        func, main = _EDITS[name]
        if isinstance(value, dict):
            out = func(out, **value)
        elif main is None:
            raise ValueError(f"'{name}' takes a dict of arguments, e.g. {{'x': 16, 'y': 16, 'size': 8}}.")
        else:
            out = func(out, **{main: value})
    return out


# --- colour conversion (vectorised; Pillow's HSV works one image at a time) -------------
def _rgb_to_hsv(rgb: np.ndarray):
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)
    safe_c = np.where(c > 0, c, 1.0)
    s = np.where(v > 0, c / np.where(v > 0, v, 1.0), 0.0)
    h = np.where(v == r, (g - b) / safe_c,
                 np.where(v == g, 2.0 + (b - r) / safe_c, 4.0 + (r - g) / safe_c))
    h = np.where(c > 0, (h / 6.0) % 1.0, 0.0)
    return h, s, v


def _hsv_to_rgb(h, s, v) -> np.ndarray:
    i = np.floor(h * 6.0)
    f = h * 6.0 - i
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    i = i.astype(np.int64) % 6
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return np.stack([r, g, b], axis=-1)

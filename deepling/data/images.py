"""Decoding, colour conversion and resizing of images with Pillow.

Every image a user supplies passes through :func:`decode_image`, so odd modes (CMYK,
palette, 16-bit, alpha) and hostile files (decompression bombs, truncated data) are dealt
with in one place.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# An image larger than this is refused rather than decoded (a decompression bomb is a
# few kB on disk and gigabytes in memory).
MAX_PIXELS = 40_000_000

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class ImageDecodeError(ValueError):
    """A file that is not a readable image; ``reason`` is a short phrase for counting."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def decode_image(source, size: tuple[int, int] | None = None, channels: int = 3,
                 max_pixels: int | None = None) -> np.ndarray:
    """Decode one image file (path, bytes or file object) to uint8 H×W×C.

    Parameters
    ----------
    source : str, Path, bytes or file-like
    size : (height, width), optional
        Resize to this size (bilinear) when given; a JPEG is decoded at a reduced scale
        already when it is much larger (Pillow's ``draft``), so a big photo costs little.
    channels : {1, 3}
        Grayscale or RGB output; alpha is composited onto white first.
    max_pixels : int, default MAX_PIXELS
        Images with more pixels (read from the header, before decoding) are refused.

    Raises
    ------
    ImageDecodeError
        With ``reason`` one of "not an image", "corrupt or truncated", "too large".
    """
    if isinstance(source, (bytes, bytearray)):
        source = io.BytesIO(source)
    max_pixels = MAX_PIXELS if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as img:
                if img.width * img.height > max_pixels:
                    raise ImageDecodeError("too large", f"{img.width}×{img.height} pixels, "
                                           f"more than {max_pixels:,}")
                if size is not None and img.format == "JPEG":
                    img.draft(img.mode, (size[1], size[0]))  # DCT scaling: decode smaller
                img.load()
                img = ImageOps.exif_transpose(img)
                pil = to_mode(img, channels)
    except ImageDecodeError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        reason = "too large" if "decompression bomb" in str(exc).lower() else "not an image"
        raise ImageDecodeError(reason, str(exc)) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageDecodeError("corrupt or truncated", str(exc)) from None
    if size is not None and pil.size != (size[1], size[0]):
        pil = pil.resize((size[1], size[0]), Image.BILINEAR)
    arr = np.asarray(pil, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def fit_side(height: int, width: int, max_side: int) -> tuple[int, int]:
    """(height, width) scaled down, aspect kept, so the longer side is at most ``max_side``."""
    scale = min(1.0, max_side / max(height, width, 1))
    return max(1, round(height * scale)), max(1, round(width * scale))


def to_mode(img: Image.Image, channels: int) -> Image.Image:
    """Convert any Pillow image to 'L' (channels=1) or 'RGB' (channels=3)."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping.
        arr = np.asarray(img, dtype=np.float64)
        top = arr.max() or 1.0
        img = Image.fromarray((arr * (255.0 / top)).astype(np.uint8), "L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        img = Image.fromarray(((arr - lo) / ((hi - lo) or 1.0) * 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("L" if channels == 1 else "RGB")


def convert_channels(images: np.ndarray, channels: int) -> np.ndarray:
    """uint8 N×H×W×C with C in {1, 3} → the same with ``channels`` channels."""
    have = images.shape[-1]
    if have == channels:
        return images
    if have == 3 and channels == 1:
        # ITU-R 601 luma, as Pillow's convert("L") does.
        luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]
    if have == 1 and channels == 3:
        return np.repeat(images, 3, axis=-1)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def resize_images(images: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear resize of uint8 N×H×W×C to N×size×C with Pillow."""
    h, w = size
    if images.shape[1:3] == (h, w):
        return images
    out = np.empty((len(images), h, w, images.shape[-1]), np.uint8)
    for i, img in enumerate(images):
        pil = Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img)
        arr = np.asarray(pil.resize((w, h), Image.BILINEAR))
        out[i] = arr[..., None] if arr.ndim == 2 else arr
    return out


def encode_png(image: np.ndarray) -> bytes:
    """uint8 H×W×C → PNG bytes."""
    arr = image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image
    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()

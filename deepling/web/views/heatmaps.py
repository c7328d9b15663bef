"""Turning change maps and heat maps into pictures (thumbnails, the strip's PNG)."""

from __future__ import annotations

import io
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw


@lru_cache(maxsize=4)
def colormap(name: str = "Inferno") -> np.ndarray:
    """A 256×3 uint8 lookup table sampled from a Plotly colour scale (constant, cached)."""
    from plotly.colors import sample_colorscale, unlabel_rgb

    colors = sample_colorscale(name, np.linspace(0, 1, 256))
    return np.array([unlabel_rgb(c) for c in colors], dtype=np.float64).round().astype(np.uint8)


def heat(values: np.ndarray, vmax: float | None = None, name: str = "Inferno") -> np.ndarray:
    """H×W non-negative values → H×W×3 uint8 through a colour map; ``vmax`` fixes the scale
    (a strip shares one scale across frames, so growing change looks like growth)."""
    v = np.asarray(values, dtype=np.float64)
    top = float(vmax if vmax is not None else v.max(initial=0.0)) or 1.0
    idx = np.clip(np.rint(v / top * 255), 0, 255).astype(np.uint8)
    return colormap(name)[idx]


def strip_png(frames, changes, captions, title: str, scale: int = 4) -> bytes:
    """One PNG: a title, the frames in a row, their change maps beneath, a caption each."""
    frames = [np.repeat(f, 3, axis=-1) if f.shape[-1] == 1 else f for f in frames]
    h, w = frames[0].shape[:2]
    cell_w, cell_h = w * scale, h * scale
    pad, top, text_h = 8, 26, 30
    width = pad + len(frames) * (cell_w + pad)
    height = top + 2 * cell_h + 3 * pad + text_h
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((pad, 6), title, fill=(20, 20, 20))
    for i, (frame, change, caption) in enumerate(zip(frames, changes, captions)):
        x = pad + i * (cell_w + pad)
        canvas.paste(Image.fromarray(frame).resize((cell_w, cell_h), Image.NEAREST), (x, top))
        canvas.paste(Image.fromarray(change).resize((cell_w, cell_h), Image.NEAREST),
                     (x, top + cell_h + pad))
        for j, line in enumerate(caption.split("\n")[:2]):
            draw.text((x, top + 2 * cell_h + 2 * pad + 12 * j), line, fill=(40, 40, 40))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    return buf.getvalue()


def strip_picture(strip, class_names, title: str) -> bytes:
    """The strip as one PNG (the download and the report): frames, change maps on one
    shared scale, and the top class with its probability under each frame."""
    vmax = float(strip.delta_magnitude.max()) or 1.0
    captions = [f"step {s}\n{class_names[p]} {pr[p]:.0%}" for s, p, pr in
                zip(strip.steps, strip.predicted, strip.probabilities)]
    return strip_png(list(strip.frames), [heat(m, vmax) for m in strip.delta_magnitude],
                     captions, title)

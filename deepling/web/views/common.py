"""Small pieces every view uses: class colours, image thumbnails, cards."""

from __future__ import annotations

import base64

import dash_bootstrap_components as dbc
import numpy as np
from dash import html

from deepling.data.images import encode_png

# Tableau 10: distinguishable, colour-blind friendlier than Plotly's default for 10 classes.
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def class_color(k: int) -> str:
    """Class ``k``'s colour, for any number of classes: Tableau 10 for the first ten, then
    hues a golden angle apart at three lightnesses (so neighbours in index differ), never
    repeating a colour of the ten."""
    k = int(k)
    if 0 <= k < len(PALETTE):
        return PALETTE[k]
    import colorsys

    j = k - len(PALETTE)
    hue = (0.07 + j * 0.381966) % 1.0
    light = (0.42, 0.58, 0.34)[j % 3]
    sat = (0.62, 0.55, 0.70)[(j // 3) % 3]
    r, g, b = colorsys.hls_to_rgb(hue, light, sat)
    return "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in (r, g, b)))


def palette_rgb(n: int) -> list[list[int]]:
    """``n`` class colours as [r, g, b] (the renderer's palette): any ``n``."""
    return [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in (class_color(k) for k in range(n))]


# Past this many options a class picker is a searchable dropdown (an ImageNet head has 1,000).
SEARCHABLE_ABOVE = 30


def class_picker(id, options, value, style=None, className=None, size="sm"):
    """A class picker: a plain select for a few classes, a searchable ``dcc.Dropdown``
    (type to filter by name) past :data:`SEARCHABLE_ABOVE` options. Values stay strings, so
    callbacks read both the same way."""
    from dash import dcc

    if len(options) <= SEARCHABLE_ABOVE:
        kwargs = {"className": className} if className else {}
        return dbc.Select(id=id, options=options, value=value, size=size, style=style, **kwargs)
    style = dict(style or {})
    style.setdefault("minWidth", "11rem")
    return dcc.Dropdown(id=id, options=options, value=value, clearable=False, searchable=True,
                        style={**style, "fontSize": ".8rem"},
                        className=" ".join(c for c in ("dl-class-dropdown", className) if c),
                        optionHeight=26, maxHeight=260)


def image_uri(image: np.ndarray) -> str:
    """uint8 H×W×C → a PNG data URI for an <img> (scaled up crisply by CSS)."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode()


def thumbnail(image: np.ndarray, size: int = 64, title: str | None = None, **kwargs) -> html.Img:
    return html.Img(src=image_uri(image), width=size, height=size, title=title,
                    className="dl-pixelated", **kwargs)


def card(title, body, card_id: str, extra=None, className: str = "") -> dbc.Card:
    """A titled region of the page; ``extra`` goes right of the title (controls, badges)."""
    header = html.Div([html.H6(title, className="mb-0 me-auto"), extra],
                      className="d-flex align-items-center gap-2")
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], id=card_id,
                    className=f"dl-card h-100 {className}")


def note_list(notes) -> html.Ul | None:
    notes = [n for n in notes if n]
    if not notes:
        return None
    return html.Ul([html.Li(n) for n in notes], className="dl-notes small text-muted mb-0")

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
    return PALETTE[k % len(PALETTE)]


def palette_rgb(n: int) -> list[list[int]]:
    return [[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in (class_color(k) for k in range(n))]


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

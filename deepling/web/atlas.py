"""``/api/atlas/<model>/<data>/<key>.jpg``: the thumbnails of a projection's images, one JPEG.

The layer animation's thumbnails mode draws every point as its image; the browser gets
them all at once, as a texture atlas in the payload's draw order
(:func:`deepling.web.wire.thumbnail_atlas`). The key is the projection's content
key, so the answer never changes and browsers keep it; the server keeps one copy on disk
(the ``atlas`` cache), none per session.
"""

from __future__ import annotations

import io
import re

import numpy as np
from flask import Response, abort

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.projections import Request
from deepling.web.wire import draw_order, thumbnail_atlas

KEY = re.compile(r"^[0-9a-f]{32}$")  # a projection key
JPEG_QUALITY = 90


def register_atlas(server, services) -> None:
    workspace, projections = services.workspace, services.projections
    store = workspace.cache("atlas")

    @server.route("/api/atlas/<model_id>/<data_id>/<key>.jpg")
    def atlas_jpeg(model_id, data_id, key):
        if not KEY.match(key):
            abort(404)
        hit = store.get(key)
        if hit is None:
            result, ds = projected(workspace, projections, model_id, data_id, key)
            indices = result.indices[draw_order(len(result.indices))]
            hit = {"jpeg": np.frombuffer(_jpeg(thumbnail_atlas(ds.images[indices])), np.uint8)}
            store.put(key, hit)
        return immutable(hit["jpeg"].tobytes(), "image/jpeg")


def projected(workspace, projections, model_id: str, data_id: str, key: str):
    """The stored projection ``key`` and its dataset, else a 404 (not projected yet: the page
    asks only after the payload came; or an unknown or unreadable model or data)."""
    try:
        result = projections.result(Request(key, model_id, data_id, {}))
        ds = workspace.dataset(model_id, data_id) if result is not None else None
    except (ModelError, DataError, OSError):
        abort(404)
    if result is None:
        abort(404)
    return result, ds


def immutable(body: bytes, mimetype: str) -> Response:
    """An answer named by content: it never changes, so browsers keep it."""
    resp = Response(body, mimetype=mimetype)
    resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
    return resp


def _jpeg(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()

"""``/api/payload/<model>/<data>/<key>.bin``: a projection's point arrays as one binary body.

The layer animation's JSON payload (:func:`deepling.web.views.payload.binary_payload`) names
this address; the page fetches it as an ArrayBuffer and views each array in place
(``Deepling.loadPayload``), so 60,000 points × 18 layers (4.7 MB) arrive without base64,
JSON parsing or copies on the page's main thread. The key is the projection's content key:
the answer never changes and browsers keep it; the server keeps one copy on disk (the
``payload`` cache, keyed by projection and encoding), none per session.
"""

from __future__ import annotations

import re

import numpy as np
from flask import Response, abort

from deepling.data import DataError
from deepling.models import ModelError
from deepling.service.cache import cache_key
from deepling.service.projections import Request
from deepling.web.views.payload import ENCODING, pack, payload_arrays

_KEY = re.compile(r"^[0-9a-f]{32}$")


def payload_url(model_id: str, data_id: str, key: str) -> str:
    return f"/api/payload/{model_id}/{data_id}/{key}.bin"


def register_payload_bytes(server, workspace, projections) -> None:
    store = workspace.cache("payload")

    @server.route("/api/payload/<model_id>/<data_id>/<key>.bin")
    def payload_bin(model_id, data_id, key):
        if not _KEY.match(key):
            abort(404)
        entry = cache_key("payload", key, ENCODING)   # a new encoding is a new entry
        hit = store.get(entry)
        if hit is None:
            try:
                result = projections.result(Request(key, model_id, data_id, {}))
                if result is None:
                    abort(404)  # not projected (yet): the page asks only after the payload came
                idx = result.indices
                ds, preds = workspace.dataset(model_id, data_id), workspace.predictions(model_id, data_id)
            except (ModelError, DataError, OSError):
                abort(404)
            arrays = payload_arrays(result.sequence, idx, ds.labels[idx], preds.predicted[idx],
                                    preds.confidence[idx])
            hit = {"body": np.frombuffer(pack(arrays), np.uint8)}
            store.put(entry, hit)
        resp = Response(hit["body"].tobytes(), mimetype="application/octet-stream")
        resp.headers["Cache-Control"] = "private, max-age=31536000, immutable"
        return resp

"""``/api/payload/<model>/<data>/<key>.bin``: a projection's point arrays as one binary body.

The layer animation's JSON payload (:func:`deepling.web.wire.binary_payload`) names
this address (:func:`deepling.web.wire.payload_url`); the page fetches it as an ArrayBuffer and views each array in place
(``Deepling.loadPayload``), so 60,000 points × 18 layers (4.7 MB) arrive without base64,
JSON parsing or copies on the page's main thread. The key is the projection's content key:
the answer never changes and browsers keep it; the server keeps one copy on disk (the
``payload`` cache, keyed by projection and encoding), none per session.
"""

from __future__ import annotations

import numpy as np
from flask import abort

from deepling.service.cache import cache_key
from deepling.web.atlas import KEY, immutable, projected
from deepling.web.wire import ENCODING, pack, payload_arrays, shown_names


def register_payload_bytes(server, services) -> None:
    workspace, projections = services.workspace, services.projections
    store = workspace.cache("payload")

    @server.route("/api/payload/<model_id>/<data_id>/<key>.bin")
    def payload_bin(model_id, data_id, key):
        if not KEY.match(key):
            abort(404)
        # predictions named apart from labels that are not the model's classes (shown_names)
        offset = shown_names(workspace.class_names(model_id, data_id),
                             workspace.label_names(model_id, data_id))[1]
        entry = cache_key("payload", key, ENCODING, offset)   # a new encoding is a new entry
        hit = store.get(entry)
        if hit is None:
            result, ds = projected(workspace, projections, model_id, data_id, key)
            idx, preds = result.indices, workspace.predictions(model_id, data_id)
            arrays = payload_arrays(result.sequence, idx, ds.labels[idx], preds.predicted[idx] + offset,
                                    preds.confidence[idx])
            hit = {"body": np.frombuffer(pack(arrays), np.uint8)}
            store.put(entry, hit)
        return immutable(hit["body"].tobytes(), "application/octet-stream")

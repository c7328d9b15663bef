"""HTTP endpoints beside the Dash app: uploads for pipelines, thumbnails, health.

``POST /api/models`` and ``POST /api/datasets`` take a multipart field ``file`` and answer
JSON: ``201 {"id", "summary", "url"}`` or ``4xx {"error": "<what is wrong, what to do>"}``.
The ``url`` (``/?model=<id>`` or ``/?data=<id>``) opens the app on the upload.
"""

from __future__ import annotations

import logging
import time

from flask import Response, abort, jsonify, request

from deepling import __version__
from deepling.data import DataError
from deepling.data.images import encode_png
from deepling.models import ModelError
from deepling.models.loading import MODEL_SUFFIXES
from deepling.service.uploads import DATA_SUFFIXES, UploadError

log = logging.getLogger("deepling.web.api")


def register_api(server, workspace) -> None:
    """Add the endpoints to the Flask server behind the Dash app."""

    @server.route("/health")
    def health():
        return jsonify(status="ok", version=__version__,
                       model=workspace.model().name, data=workspace.raw_dataset().origin)

    @server.route("/api/models", methods=["POST"])
    def upload_model():
        return _upload(workspace, MODEL_SUFFIXES, workspace.add_model, "model")

    @server.route("/api/datasets", methods=["POST"])
    def upload_dataset():
        return _upload(workspace, DATA_SUFFIXES, workspace.add_dataset, "data")

    @server.route("/api/projections", methods=["POST"])
    def projections():
        """Layer layouts for a model, data and choice of images, as JSON (for pipelines).

        Body: ``{"model": id, "data": id, "mode": "classes"|"random"|"misclassified",
        "classes": [..], "count": n}``, every key optional. The work runs as a background
        job (threads, or Celery workers) like the app's own; this request waits for it.
        """
        body = request.get_json(silent=True) or {}
        model_id = str(body.get("model") or workspace.default_model_id)
        data_id = str(body.get("data") or workspace.default_data_id)
        projections = server.config["DEEPLING_PROJECTIONS"]
        try:
            submitted = projections.submit(
                model_id, data_id, {k: body.get(k) for k in ("mode", "classes", "count", "seed")})
        except (ModelError, DataError) as exc:
            return _error(str(exc), 422)
        except ValueError as exc:
            return _error(str(exc), 400)
        deadline = time.time() + float(body.get("timeout", 600))
        while (state := projections.status(submitted))["state"] not in ("done", "error"):
            if time.time() > deadline:
                return _error(f"The projection is still running ({state['message']}); ask again "
                              "later: the same request joins the running job.", 504)
            time.sleep(0.2)
        if state["state"] == "error":
            return _error(state["message"], 422)
        result = projections.result(submitted)
        choice, indices, seq = submitted.choice, result.indices, result.sequence
        return jsonify(model=model_id, data=data_id, choice=choice,
                       indices=indices.tolist(), layers=list(seq.names),
                       mirrored=[bool(m) for m in seq.mirrored],
                       layouts=[[[round(float(v), 4) for v in p] for p in layout]
                                for layout in seq.layouts])

    @server.route("/api/images/<model_id>/<data_id>/<int:index>.png")
    def image_png(model_id, data_id, index):
        """One image as the model sees it (hover thumbnails, strips); cached by browsers."""
        try:
            ds = workspace.dataset(model_id, data_id)
        except (ModelError, DataError, OSError):
            abort(404)
        if not 0 <= index < len(ds):
            abort(404)
        resp = Response(encode_png(ds.images[index]), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp

    @server.errorhandler(413)
    def too_large(_exc):
        limit = workspace.uploads.limits.max_upload_bytes >> 20
        return _error(f"The upload is larger than the limit of {limit} MB "
                      "(the server's DEEPLING_MAX_UPLOAD_MB).", 413)


def _upload(workspace, suffixes, add, param: str):
    file = request.files.get("file")
    if file is None:
        return _error("Send the file as multipart form data in a field named 'file', e.g. "
                      f"curl -F file=@my{suffixes[0]} http://HOST:PORT{request.path}", 400)
    try:
        tmp = workspace.uploads.receive(file.stream, file.filename or "", suffixes)
        upload_id, summary = add(tmp, file.filename or "")
    except UploadError as exc:
        return _error(str(exc), exc.status)
    except (ModelError, DataError) as exc:  # inspected, refused or unreadable: the user's file
        log.info("refused upload %r: %s", file.filename, exc)
        return _error(str(exc), 422)
    return jsonify(id=upload_id, summary=summary, url=f"/?{param}={upload_id}"), 201


def _error(message: str, status: int):
    return jsonify(error=message), status

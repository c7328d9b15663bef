"""HTTP endpoints beside the Dash app: uploads and projections for pipelines, thumbnails,
health.

``POST /api/models`` and ``POST /api/datasets`` take a multipart field ``file`` and answer
JSON: ``201 {"id", "summary", "url"}`` or ``4xx {"error": "<what is wrong, what to do>"}``.
The ``url`` (``/?model=<id>`` or ``/?data=<id>``) opens the app on the upload.

``POST /api/projections`` answers at once, as HTTP APIs for long work do: ``202`` with the
job's ``id`` and ``status_url`` (also the ``Location`` header). ``GET /api/projections/<id>``
says ``state``, ``progress`` and, while it waits, its ``position`` in the queue; once done it
answers ``303 See Other`` to ``/api/projections/<id>/result``, the layer layouts. No request
thread ever waits for a job, so twenty pipelines polling cannot hold up a page.
``DELETE /api/projections/<id>`` cancels a job that waits or runs (for everyone who asked
for the very same projection: results are shared by content).

Every error is JSON with a status that says whose fault it is: 400/404/413/415/422 for the
request, 503 when the queue is full, 507 when the cache disk is full. Request bodies are
bounded per route (``limits.max_json_bytes``, ``max_callback_bytes``, ``max_upload_bytes``)
before they are read.
"""

from __future__ import annotations

import logging
import os
import threading

from flask import Response, jsonify, request
from werkzeug.exceptions import HTTPException

from deepling._version import __version__
from deepling.data import DataError
from deepling.data.images import encode_png
from deepling.models import ModelError
from deepling.models.loading import MODEL_SUFFIXES
from deepling.service import schema
from deepling.service.cache import DISK_FULL_MESSAGE, disk_space, is_disk_full
from deepling.service.jobs import QueueFull
from deepling.service.projections import Request
from deepling.service.uploads import DATA_SUFFIXES, UploadError

log = logging.getLogger("deepling.web.api")

UPLOAD_ROUTES = ("/api/models", "/api/datasets")
CALLBACK_PREFIX = "/_dash-update-component"


def register_api(server, services, guard) -> None:
    """Add the endpoints, the per-route body limits and JSON errors to the Flask server;
    an upload counts against ``guard.owner()`` (the signed-in user, else the server-issued
    session and the client's address; :class:`deepling.web.security.Guard`)."""
    workspace, jobs, projections = services.workspace, services.jobs, services.projections
    limits = workspace.uploads.limits

    class SpoolingRequest(server.request_class):
        """Upload file parts are written straight into the uploads folder as they arrive
        (``UploadStore.spool``), which :func:`_upload` then keeps without a copy."""

        def _get_file_stream(self, total_content_length, content_type, filename=None,
                             content_length=None):
            if self.path in UPLOAD_ROUTES:
                return workspace.uploads.spool()
            return super()._get_file_stream(total_content_length, content_type, filename,
                                             content_length)

    server.request_class = SpoolingRequest
    # Uploads and cold dataset loads hold a request thread for seconds (the vetting and
    # decoding itself runs at most two at a time, UploadStore): at most this many such
    # requests at once, fewer than the server's threads (DEEPLING_THREADS, 32), so the
    # others stay free for pages and /health; one more gets 503 and Retry-After.
    heavy = threading.BoundedSemaphore(int(os.environ.get("DEEPLING_MAX_HEAVY_REQUESTS", 24)))

    @server.before_request
    def bound_body():
        # Flask reads no more than this; bigger bodies get a 413 before they are parsed.
        if request.path in UPLOAD_ROUTES:
            request.max_content_length = limits.max_upload_bytes + (1 << 20)
        elif request.path.startswith(CALLBACK_PREFIX):
            request.max_content_length = limits.max_callback_bytes
        else:
            request.max_content_length = limits.max_json_bytes

    @server.route("/health")
    def health():
        return jsonify(status="ok", version=__version__, model=workspace.model().name,
                       data=workspace.raw_dataset().origin, disk=disk_space(workspace.config.cache),
                       queued=jobs.queue_length(), sharing=getattr(jobs, "sharing", None))

    @server.route("/api/models", methods=["POST"])
    def upload_model():
        return _upload(workspace, MODEL_SUFFIXES, workspace.add_model, "model", heavy, guard.owner)

    @server.route("/api/datasets", methods=["POST"])
    def upload_dataset():
        return _upload(workspace, DATA_SUFFIXES, workspace.add_dataset, "data", heavy, guard.owner)

    @server.route("/api/projections", methods=["POST"])
    def submit_projection():
        """Start (or join) a projection; 202 with where to follow it."""
        body = schema.projection_body(_json_body())
        model_id = body.pop("model", None) or workspace.default_model_id
        data_id = body.pop("data", None) or workspace.default_data_id
        if workspace.is_loaded(model_id, data_id):
            submitted = projections.submit(model_id, data_id, body, services.owner())
        else:  # a cold load (e.g. all 60,000 images of default@all): bounded like uploads
            if not heavy.acquire(blocking=False):
                return _busy("The server is loading other data and uploads; send the same "
                             "request again in a few seconds.")
            try:
                submitted = projections.submit(model_id, data_id, body, services.owner())
            finally:
                heavy.release()
        status = _status_json(submitted)
        return _respond({"model": model_id, "data": data_id, "choice": submitted.choice, **status},
                        202, status["status_url"])

    @server.route("/api/projections/<job_id>")
    def projection_status(job_id):
        """Progress and place in the queue; 303 to the result once it is ready."""
        submitted = _request_for(job_id)
        status = _status_json(submitted)
        if status["state"] == "done":
            return _respond(status, 303, status["result_url"])
        return _respond(status, 422 if status["state"] == "error" else 200)

    @server.route("/api/projections/<job_id>", methods=["DELETE"])
    def cancel_projection(job_id):
        key = schema.job_key(job_id)
        if not services.cancel(key):
            return _error(f"Projection {job_id} is not waiting or running for you: nothing to "
                          "cancel (only who asked for a projection can cancel it).", 404)
        return _respond({"id": key, "state": "cancelled"}, 200)

    @server.route("/api/projections/<job_id>/result")
    def projection_result(job_id):
        submitted = _request_for(job_id)
        result = projections.result(submitted)
        if result is None:
            return _error(f"Projection {job_id} has no result (yet): follow "
                          f"/api/projections/{job_id} until it says done.", 404)
        seq = result.sequence
        return jsonify(id=job_id, indices=result.indices.tolist(), layers=list(seq.names),
                       method=seq.method,
                       mirrored=[bool(m) for m in seq.mirrored],
                       layouts=[[[round(float(v), 4) for v in p] for p in layout]
                                for layout in seq.layouts])

    def _request_for(job_id) -> Request:
        # Only the key matters for status and result; the ids and choice are the POST's.
        return Request(schema.job_key(job_id), "", "", {})

    def _status_json(submitted: Request) -> dict:
        status = projections.status(submitted)
        url = f"/api/projections/{submitted.key}"
        out = {"id": submitted.key, "status_url": url, "result_url": url + "/result",
               "state": status["state"], "progress": round(float(status.get("progress", 0)), 3),
               "message": status.get("message", "")}
        out.update({k: status[k] for k in ("position", "queued") if k in status})
        return out

    @server.route("/api/images/<model_id>/<data_id>/<int:index>.png")
    def image_png(model_id, data_id, index):
        """One image as the model sees it (hover thumbnails, strips); cached by browsers."""
        try:
            ds = workspace.dataset(model_id, data_id)
        except (ModelError, DataError, OSError):
            return _error("No such model and data on this server.", 404)
        if not 0 <= index < len(ds):
            return _error(f"No image {index}: this dataset has images 0..{len(ds) - 1}.", 404)
        resp = Response(encode_png(ds.images[index]), mimetype="image/png")
        resp.headers["Cache-Control"] = "private, max-age=86400"
        return resp

    @server.route("/api/<path:rest>", methods=["GET", "POST", "PUT", "DELETE", "PATCH"])
    def no_such_endpoint(rest):
        # Without this, Dash's catch-all page route answers 200 with the app's HTML.
        return _error(f"No endpoint /api/{schema.shown(rest, 60)[1:-1]} ({request.method}); see "
                      "the README's 'Upload in the browser or over HTTP'.", 404)

    @server.errorhandler(schema.InputError)
    def bad_input(exc):
        return _error(str(exc), exc.status)

    @server.errorhandler(ValueError)
    def cannot_do(exc):  # a well-formed request that cannot be done (a choice of < 2 images)
        return _error(str(exc), 422)

    @server.errorhandler(QueueFull)
    def busy(exc):
        resp, status = _error(str(exc), 503)
        resp.headers["Retry-After"] = "30"
        return resp, status

    @server.errorhandler(ModelError)
    @server.errorhandler(DataError)
    def unavailable(exc):  # an unknown or unreadable model/data named by the request
        return _error(str(exc), 422)

    @server.errorhandler(413)
    def too_large(_exc):
        if request.path in UPLOAD_ROUTES:
            return _error(f"The upload is larger than the limit of {limits.max_upload_bytes >> 20} "
                          "MB (the server's DEEPLING_MAX_UPLOAD_MB).", 413)
        return _error(f"The request body is larger than this endpoint takes "
                      f"({request.max_content_length >> 10:,} kB); send a smaller JSON object.", 413)

    @server.errorhandler(Exception)
    def unexpected(exc):
        if isinstance(exc, HTTPException):
            if not request.path.startswith("/api/"):
                return exc
            return _error(f"{exc.name}: {exc.description}", exc.code or 500)
        if is_disk_full(exc):
            return _error(DISK_FULL_MESSAGE, 507)
        if isinstance(exc, RecursionError):
            return _error("The request is nested too deeply; send a flat JSON object.", 400)
        if request.path.startswith("/_dash-component-suites/"):  # no such package or file
            return _error("No such script or style of the app.", 404)
        if request.path.startswith(CALLBACK_PREFIX) and isinstance(
                exc, (KeyError, TypeError, ValueError, IndexError, AttributeError)):
            # raised by Dash itself while reading a malformed callback body (the callback's
            # own errors go to deepling.web.errors and the banner)
            log.info("malformed callback request: %r", exc)
            return _error("The callback request is malformed: it does not match the page's "
                          "callbacks. Reload the page.", 400)
        log.exception("unexpected error on %s", request.path)
        return _error("The server failed on this request; it is logged. Try again, and report "
                      "it if it keeps happening.", 500)


def _json_body():
    """The request's JSON value; InputError for no JSON, malformed JSON or another type."""
    if not request.is_json:
        raise schema.InputError("Send a JSON body with Content-Type: application/json, e.g. "
                                f"{schema.PROJECTION_EXAMPLE}.", 415)
    body = request.get_json(silent=True)
    if body is None and request.get_data(cache=True).strip() not in (b"null",):
        raise schema.InputError("The body is not valid JSON; send an object such as "
                                f"{schema.PROJECTION_EXAMPLE}.")
    return body


def job_owner(guard):
    """Who the current request's background work counts against (:class:`Services`'
    ``owner``, built by ``deepling/web/app.py`` with the app's :class:`~deepling.web.security.Guard`):
    its session, or ``addr:…`` for a client without one; None outside a request (the
    server's own work, such as the warm-up)."""
    from flask import current_app, has_request_context

    from deepling.service.jobs import ADDRESS_OWNER

    def owner() -> str | None:
        if not has_request_context():
            return None
        who = guard.owner()
        session_cookie = current_app.config.get("SESSION_COOKIE_NAME") or "session"
        if who.startswith("user:") or request.cookies.get(session_cookie):
            return who  # a signed-in user, or a browser keeping its session
        return ADDRESS_OWNER + (request.remote_addr or "?")  # a fresh session per request: its address

    return owner


def _upload(workspace, suffixes, add, param: str, heavy, session_owner):
    file = request.files.get("file")
    if file is None:
        return _error("Send the file as multipart form data in a field named 'file', e.g. "
                      f"curl -F file=@my{suffixes[0]} http://HOST:PORT{request.path}", 400)
    owner = session_owner()
    if not heavy.acquire(blocking=False):
        return _busy("The server is checking other uploads; send the file again in a few "
                     "seconds (DEEPLING_MAX_HEAVY_REQUESTS at once).")
    try:
        return _vet_and_store(workspace, add, param, file, suffixes, owner)
    finally:
        heavy.release()


def _busy(message: str):
    resp = jsonify(error=message)
    resp.status_code = 503
    resp.headers["Retry-After"] = "5"
    return resp


def _vet_and_store(workspace, add, param, file, suffixes, owner):
    try:
        tmp = workspace.uploads.receive(file.stream, file.filename or "", suffixes, owner)
        upload_id, summary = add(tmp, file.filename or "", owner)
    except UploadError as exc:
        return _error(str(exc), exc.status)
    except (ModelError, DataError) as exc:  # inspected, refused or unreadable: the user's file
        log.info("refused upload %r: %s", file.filename, exc)
        return _error(str(exc), 422)
    return jsonify(id=upload_id, summary=summary, url=f"/?{param}={upload_id}"), 201


def _respond(payload: dict, status: int, location: str | None = None):
    resp = jsonify(payload)
    resp.status_code = status
    if location:
        resp.headers["Location"] = location
    return resp


def _error(message: str, status: int):
    return jsonify(error=message), status

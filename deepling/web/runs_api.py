"""Runs pushed over HTTP: ``Monitor(url=…, token=…)`` where no folder is shared.

The server writes what it receives into a run folder under ``--runs DIR`` — the same
append-only records and snapshots a ``Monitor`` writes itself — so every page reads it as
any run; each snapshot is then vetted like any uploaded model before it is opened
(:class:`~deepling.service.runs.RunsService`).

* ``POST /api/runs/<name>`` — the run's header (JSON object): creates ``DIR/<name>``;
  409 if that run exists;
* ``POST /api/runs/<name>/records`` — a JSON list of records, each checked (an object of a
  known kind, under the size limit) before any is appended;
* ``POST /api/runs/<name>/snapshots/<epoch>`` — a ``.keras`` file's bytes (within the
  upload limit), written under a temporary name and renamed.

Off unless the server has ``--runs DIR``. Every request needs ``Authorization: Bearer
<token>``: ``DEEPLING_RUNS_TOKEN`` (a pipeline's credential, good for these routes alone,
with or without sign-in), or, when sign-in is on, a signed-in user's credentials (the
``DEEPLING_AUTH_TOKEN``, or the proxy's user header). The header records who pushed it.
"""

from __future__ import annotations

import json
import os
import re

from flask import jsonify, request

from deepling.training.runfolder import (FORMAT, HEADER, KINDS, MAX_LINE, RECORDS, SNAPSHOTS,
                                         VERSION, write_json_atomic)

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
TOKEN_ENV = "DEEPLING_RUNS_TOKEN"


def register_runs_api(server, runs, guard) -> None:
    """The push routes on ``server``; ``guard`` (:class:`deepling.web.security.Guard`) says
    who is asking."""
    limits = runs.workspace.uploads.limits

    @server.before_request
    def bound_run_bodies():
        if request.path.startswith("/api/runs/"):
            request.max_content_length = limits.max_upload_bytes + (1 << 20)

    def refuse(message: str, status: int):
        return jsonify(error=message), status

    def pusher() -> str | None:
        """Who is pushing: the pipeline token, or a signed-in user; None for nobody."""
        if guard.pipeline():
            return TOKEN_ENV
        if guard.settings.sign_in and guard.user():
            return guard.owner()
        return None

    def check(name: str):
        if runs.root is None or not (guard.settings.runs_token or guard.settings.sign_in):
            return refuse("Pushing runs is off on this server: start it with --runs DIR and "
                          f"{TOKEN_ENV} (or sign-in) set, or write a run folder the server can "
                          "read.", 403)
        if pusher() is None:
            return refuse(f"Wrong or missing token: pass Monitor(token=...) with the server's "
                          f"{TOKEN_ENV}" + (" or your sign-in token." if guard.settings.sign_in else "."),
                          401)
        if not NAME.match(name):
            return refuse("A run name is letters, digits and ._- (at most 100).", 400)
        return None

    @server.route("/api/runs/<name>", methods=["POST"])
    def push_header(name):
        bad = check(name)
        if bad:
            return bad
        header = request.get_json(silent=True)
        if not isinstance(header, dict):
            return refuse("The body must be the run's header, a JSON object.", 400)
        folder = runs.root / name
        try:
            folder.mkdir()
        except FileExistsError:
            return refuse(f"A run {name} exists already: give the Monitor another name.", 409)
        write_json_atomic(folder / HEADER, {**header, "format": FORMAT, "version": VERSION,
                                            "pushed_by": pusher()})
        (folder / RECORDS).touch()
        return jsonify(run=f"run:{name}"), 201

    @server.route("/api/runs/<name>/records", methods=["POST"])
    def push_records(name):
        bad = check(name)
        if bad:
            return bad
        folder = runs.root / name
        if not (folder / HEADER).exists() or folder.is_symlink():
            return refuse(f"No run {name}: send its header first.", 404)
        records = request.get_json(silent=True)
        if not isinstance(records, list):
            return refuse("The body must be a JSON list of records.", 400)
        lines = []
        for i, r in enumerate(records):
            if not isinstance(r, dict) or r.get("kind") not in KINDS:
                return refuse(f"Record {i} is not an object of a known kind ({', '.join(KINDS)}).", 400)
            line = json.dumps(r, separators=(",", ":"))
            if len(line) > MAX_LINE:
                return refuse(f"Record {i} is over {MAX_LINE >> 20} MB.", 413)
            lines.append(line + "\n")
        fd = os.open(folder / RECORDS, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        try:
            data = memoryview("".join(lines).encode())
            while data:
                data = data[os.write(fd, data):]
        finally:
            os.close(fd)
        return jsonify(appended=len(lines)), 200

    @server.route("/api/runs/<name>/snapshots/<int:epoch>", methods=["POST"])
    def push_snapshot(name, epoch):
        bad = check(name)
        if bad:
            return bad
        folder = runs.root / name
        if not (folder / HEADER).exists() or folder.is_symlink() or epoch > 999999:
            return refuse(f"No run {name}: send its header first.", 404)
        body = request.get_data(cache=False)
        if not body.startswith(b"PK"):
            return refuse("A snapshot is a .keras file (a zip archive).", 415)
        snaps = folder / SNAPSHOTS
        snaps.mkdir(exist_ok=True)
        final = snaps / f"epoch-{epoch:03d}.keras"
        tmp = snaps / f".tmp-push-{epoch:03d}.keras"
        tmp.write_bytes(body)
        os.replace(tmp, final)
        line = json.dumps({"kind": "snapshot", "epoch": epoch, "file": f"{SNAPSHOTS}/{final.name}",
                           "bytes": len(body)}) + "\n"
        fd = os.open(folder / RECORDS, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)
        return jsonify(snapshot=final.name), 201

"""Uploaded models and datasets, kept in a server-owned folder under random ids.

An id is a random token, not a name or a hash of the content: it is the capability to open
the upload, so one user's files are visible to another only through the link they share.
A model is vetted once (inspection, isolated worker, ``safe_mode``) before it is stored;
its content hash is recorded, so reopening it later skips the worker but still inspects
it, and a file changed on disk is vetted again. Datasets are stored converted, as an
``.npz`` of plain arrays, whatever the user sent (zip, npz).

Uploads cost disk, so each has an owner (the server-issued session and the client's
address, or the signed-in user) and a size in its ``meta.json``: a session, an address and
the server each have a quota, and uploads expire (``DEEPLING_SESSION_QUOTA_MB``,
``DEEPLING_ADDRESS_QUOTA_MB``, ``DEEPLING_UPLOAD_QUOTA_MB``, ``DEEPLING_UPLOAD_TTL_H``).
Everything is written under a temporary name and renamed; a failed upload (a full disk
among others) leaves no file behind.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from deepling.data import DataError, Dataset, load_npz
from deepling.service.cache import DISK_FULL_MESSAGE, is_disk_full, write_atomic
from deepling.data.limits import UploadLimits
from deepling.service.schema import shown
from deepling.models import ModelAdapter, ModelError, load_model_file, model_summary
from deepling.models.adapter import file_fingerprint

_ID = re.compile(r"^u[A-Za-z0-9_-]{12,40}$")
DATA_SUFFIXES = (".zip", ".npz")


class UploadError(ValueError):
    """An upload refused before it was read (size, kind); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def is_upload_id(value) -> bool:
    return isinstance(value, str) and bool(_ID.match(value))


def safe_filename(name: str, default: str) -> str:
    """A display/file name with no path and no odd characters."""
    base = os.path.basename((name or "").replace("\\", "/")).strip()
    base = re.sub(r"[^A-Za-z0-9._ -]", "_", base)[:120]
    return base or default


class UploadStore:
    """The uploads folder: ``models/<id>/`` and ``data/<id>/``, each with ``meta.json``.

    Parameters
    ----------
    root : path
        The server-owned folder (``$DEEPLING_CACHE/uploads`` by default).
    limits : UploadLimits, optional
    """

    def __init__(self, root: str | os.PathLike, limits: UploadLimits | None = None,
                 max_workers: int | None = None):
        self.root = Path(root)
        self.limits = limits or UploadLimits.from_env()
        # Each vetting worker may use limits.load_memory_bytes: bound how many run at once
        # so a burst of uploads queues instead of exhausting the server.
        n = max_workers or int(os.environ.get("DEEPLING_MAX_LOAD_WORKERS", 2))
        self._workers = threading.BoundedSemaphore(max(1, n))
        self._quota = threading.Lock()
        for sub in ("models", "data", "incoming"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.expire()

    # --- receiving ---------------------------------------------------------------------
    def spool(self):
        """A file in ``incoming/`` for the request parser to write an upload's file part
        into as it arrives (nothing whole in memory, no copy in the system's temporary
        folder); removed when the request closes it, after :meth:`receive` has taken it."""
        return tempfile.NamedTemporaryFile(dir=self.root / "incoming", prefix="spool-")

    def receive(self, stream, filename: str, kinds: tuple[str, ...], owner: str = "") -> Path:
        """The upload in a private temporary file: the parser's :meth:`spool` file itself
        (a hard link, not a copy), else a copy of ``stream``; enforcing the size limit and
        the quotas (:meth:`check_quota`)."""
        name = safe_filename(filename, "upload")
        suffix = Path(name).suffix.lower()
        if suffix not in kinds:
            raise UploadError(f"{name}: expected a file ending in {', '.join(kinds)}.", 415)
        self.expire()
        self.check_quota(owner)
        size, limit = 0, self.limits.max_upload_bytes
        tmp = None
        try:
            # A private folder per upload, so messages can name the user's own file name.
            tmp = Path(tempfile.mkdtemp(dir=self.root / "incoming")) / name
            spooled = getattr(stream, "name", None)
            if isinstance(spooled, str) and Path(spooled).parent == self.root / "incoming":
                stream.flush()
                os.link(spooled, tmp)
                size = tmp.stat().st_size
            else:
                with open(tmp, "xb") as out:
                    for chunk in iter(lambda: stream.read(1 << 20), b""):
                        size += len(chunk)
                        if size > limit:
                            break
                        out.write(chunk)
            if size > limit:
                raise UploadError(f"{name} is larger than the upload limit of {limit >> 20} MB "
                                  "(the server's DEEPLING_MAX_UPLOAD_MB).", 413)
        except BaseException as exc:
            if tmp is not None:
                _discard(tmp)
            if is_disk_full(exc):
                raise UploadError(DISK_FULL_MESSAGE, 507) from None
            raise
        if size == 0:
            _discard(tmp)
            raise UploadError(f"{name} is empty (0 bytes): the file may not have been saved "
                              "completely; send it again.", 400)
        return tmp

    # --- models ------------------------------------------------------------------------
    def add_model(self, tmp: Path, filename: str, owner: str = "") -> tuple[str, ModelAdapter, dict]:
        """Vet and store a received model file; returns (id, adapter, summary)."""
        name = safe_filename(filename, "model" + tmp.suffix)
        try:
            with self._workers:
                adapter = load_model_file(tmp, name=name, limits=self.limits)
        except BaseException:
            _discard(tmp)
            raise
        summary = describe_model(adapter)

        def store(folder: Path) -> dict:
            path = folder / ("model" + tmp.suffix.lower())
            shutil.move(tmp, path)  # a rename: incoming/ is on the same disk
            return {"kind": "model", "name": name, "file": path.name,
                    "sha": file_fingerprint(path), "summary": summary}

        try:
            upload_id = self._store("models", store, owner)
        finally:
            _discard(tmp)
        return upload_id, adapter, summary

    def load_model(self, upload_id: str, input_range=None) -> ModelAdapter:
        meta = self.meta("models", upload_id)
        path = self.root / "models" / upload_id / meta["file"]
        # Vetted before it was stored; re-vet if the bytes are not the ones vetted.
        trusted = path.exists() and file_fingerprint(path) == meta.get("sha")
        with self._workers:
            return load_model_file(path, name=meta["name"], input_range=input_range,
                               trusted=trusted, limits=self.limits)

    # --- datasets ----------------------------------------------------------------------
    def add_dataset(self, tmp: Path, filename: str, owner: str = "") -> tuple[str, Dataset, dict]:
        """Read a received zip/npz (safely), store it as plain arrays; (id, dataset, summary)."""
        from deepling.data.loaders import load_image_zip

        name = safe_filename(filename, "data" + tmp.suffix)
        try:
            with self._workers:  # decoding is bounded like vetting: two at a time by default
                if tmp.suffix.lower() == ".zip":
                    ds = load_image_zip(tmp, limits=self.limits)
                else:
                    ds = load_npz(tmp, origin=name, limits=self.limits)
        finally:
            _discard(tmp)
        names, notes = display_names(ds.class_names)
        ds = Dataset(ds.images, ds.labels, names, name, ds.notes + notes)
        upload_id, summary = self.save_dataset(ds, owner)
        return upload_id, ds, summary

    def save_dataset(self, ds: Dataset, owner: str = "") -> tuple[str, dict]:
        """Store a dataset (an upload's, or one made on the server, e.g. the shape
        workshop's); (id, summary)."""
        summary = describe_dataset(ds)

        def store(folder: Path) -> dict:
            write_atomic(folder / "data.npz", lambda f: np.savez(
                f, x=ds.images, y=ds.labels, class_names=np.array(ds.class_names, dtype=str)))
            return {"kind": "data", "name": ds.origin, "notes": list(ds.notes), "summary": summary}

        return self._store("data", store, owner), summary

    def save_model(self, adapter: ModelAdapter, owner: str = "") -> tuple[str, dict]:
        """Store a model built and trained on the server (e.g. in the shape workshop).

        It never came from a user's file, so it is recorded as vetted: reopening it (in
        another process) loads it with ``safe_mode`` but without the isolated worker.
        """
        summary = describe_model(adapter)

        def store(folder: Path) -> dict:
            path = folder / "model.keras"
            adapter.model.save(path)
            return {"kind": "model", "name": adapter.name, "file": path.name,
                    "sha": file_fingerprint(path), "summary": summary}

        return self._store("models", store, owner), summary

    # --- storing, quotas, expiry ---------------------------------------------------------
    def _store(self, kind: str, write, owner: str) -> str:
        """A new ``<kind>/<id>/`` folder filled by ``write(folder) -> meta``; the folder is
        removed again if writing fails or the upload takes the owner past a quota."""
        upload_id = _new_id()
        folder = self.root / kind / upload_id
        try:
            folder.mkdir()
            meta = write(folder)
            meta.update(owner=owner, created=time.time(), bytes=_folder_bytes(folder))
            with self._quota:
                self.check_quota(owner, adding=meta["bytes"])
                _write_meta(folder, meta)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if is_disk_full(exc):
                raise UploadError(DISK_FULL_MESSAGE, 507) from None
            raise
        return upload_id

    def _metas(self):
        for kind in ("models", "data"):
            for path in (self.root / kind).glob("*/meta.json"):
                try:
                    yield path.parent, json.loads(path.read_text())
                except (OSError, ValueError):
                    continue

    def check_quota(self, owner: str, adding: int = 0) -> None:
        """UploadError 507 when the upload would take the session (or signed-in user), the
        client's address or the server past its quota.

        ``owner`` is ``"s:<session>|a:<address>"`` (each part a hash), ``"user:<name>"``, or
        any other string (counted as one session)."""
        parts = _owner_parts(owner)
        used = used_by_session = used_by_address = 0
        for _, meta in self._metas():
            size = meta.get("bytes", 0)
            used += size
            theirs = _owner_parts(meta.get("owner", ""))
            used_by_session += size if theirs["s"] == parts["s"] else 0
            used_by_address += size if parts["a"] and theirs["a"] == parts["a"] else 0
        lim, mb, hours = self.limits, 1 << 20, self.limits.upload_ttl_s / 3600
        if used_by_session + adding > lim.session_quota_bytes:
            raise UploadError(
                f"This session's uploads take {used_by_session / mb:,.0f} MB of its "
                f"{lim.session_quota_bytes / mb:,.0f} MB quota (DEEPLING_SESSION_QUOTA_MB); "
                f"uploads are removed {hours:g} hours after they are made. Upload a smaller file "
                "or ask the server's operator to raise the quota.", 507)
        if used_by_address + adding > lim.address_quota_bytes:
            raise UploadError(
                f"Uploads from your address take {used_by_address / mb:,.0f} MB of its "
                f"{lim.address_quota_bytes / mb:,.0f} MB quota (DEEPLING_ADDRESS_QUOTA_MB), "
                f"whatever the session; they are removed {hours:g} hours after they are made. "
                "Sign in (if the server offers it) or ask the operator to raise the quota.", 507)
        if used + adding > lim.server_quota_bytes:
            raise UploadError(
                f"The server's uploads take {used / mb:,.0f} MB of its "
                f"{lim.server_quota_bytes / mb:,.0f} MB quota (DEEPLING_UPLOAD_QUOTA_MB); try "
                f"again later (uploads expire after {hours:g} hours).", 507)

    def expire(self, now: float | None = None) -> int:
        """Remove uploads older than ``limits.upload_ttl_s`` and stale incoming files."""
        now = time.time() if now is None else now
        removed = 0
        for folder, meta in list(self._metas()):
            if now - meta.get("created", now) > self.limits.upload_ttl_s:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        for stale in (self.root / "incoming").iterdir():
            try:
                if now - stale.stat().st_mtime > 3600:  # a receive that died with its process
                    if stale.is_dir():
                        shutil.rmtree(stale, ignore_errors=True)
                    else:
                        stale.unlink(missing_ok=True)  # a spool file
            except OSError:
                continue
        return removed

    def load_dataset(self, upload_id: str) -> Dataset:
        meta = self.meta("data", upload_id)
        ds = load_npz(self.root / "data" / upload_id / "data.npz", origin=meta["name"])
        return Dataset(ds.images, ds.labels, ds.class_names, meta["name"], tuple(meta["notes"]))

    # --- lookup ------------------------------------------------------------------------
    def exists(self, kind: str, upload_id: str) -> bool:
        return is_upload_id(upload_id) and (self.root / kind / upload_id / "meta.json").exists()

    def meta(self, kind: str, upload_id: str) -> dict:
        if not is_upload_id(upload_id):
            raise ModelError(f"{shown(upload_id)} is not an upload id.")
        path = self.root / kind / upload_id / "meta.json"
        if not path.exists():
            what = "model" if kind == "models" else "dataset"
            raise (ModelError if kind == "models" else DataError)(
                f"No uploaded {what} with id {upload_id} on this server (it may have been "
                "removed). Upload it again.")
        return json.loads(path.read_text())


MAX_NAME_CHARS = 120


def display_names(names) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Class names cut to :data:`MAX_NAME_CHARS` (a 10 kB name would stretch every legend,
    axis and tooltip of every viewer's page); (names, notes saying what was cut)."""
    cut = tuple(n if len(n) <= MAX_NAME_CHARS else n[:MAX_NAME_CHARS - 1] + "…" for n in map(str, names))
    n_cut = sum(a != b for a, b in zip(cut, map(str, names)))
    return cut, ((f"{n_cut} class name(s) longer than {MAX_NAME_CHARS} characters were cut.",)
                 if n_cut else ())


def describe_model(adapter: ModelAdapter) -> dict:
    s = model_summary(adapter.model)
    return {"name": adapter.name, "input_shape": list(s["input_shape"]),
            "output_shape": list(s["output_shape"]), "layers": s["n_layers"],
            "parameters": s["params"], "output": adapter.output_kind,
            "input_range": list(adapter.input_range), "notes": list(adapter.notes)}


def describe_dataset(ds: Dataset) -> dict:
    return {"name": ds.origin, "images": len(ds), "image_shape": list(ds.image_shape),
            "classes": list(ds.class_names), "labelled": ds.labelled, "notes": list(ds.notes)}


def _owner_parts(owner: str) -> dict:
    """``"s:<x>|a:<y>"`` → {"s": "s:<x>", "a": "<y>"}; a signed-in user or a plain string is
    a session with no address part."""
    session, _, address = str(owner).partition("|a:")
    return {"s": session, "a": address}


def _discard(tmp: Path) -> None:
    """Remove a received file and its private folder."""
    tmp.unlink(missing_ok=True)
    try:
        tmp.parent.rmdir()
    except OSError:
        pass


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def _new_id() -> str:
    return "u" + secrets.token_urlsafe(12)


def _write_meta(folder: Path, meta: dict) -> None:
    write_atomic(folder / "meta.json", lambda f: f.write(json.dumps(meta, indent=1).encode()))

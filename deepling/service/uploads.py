"""Uploaded models and datasets, kept in a server-owned folder under random ids.

An id is a random token, not a name or a hash of the content: it is the capability to open
the upload, so one user's files are visible to another only through the link they share.
A model is vetted once (inspection, isolated worker, ``safe_mode``) before it is stored;
its content hash is recorded, so reopening it later skips the worker but still inspects
it, and a file changed on disk is vetted again. Datasets are stored converted, as an
``.npz`` of plain arrays, whatever the user sent (zip, npz).
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
from deepling.data.limits import UploadLimits
from deepling.models import ModelAdapter, ModelError, load_model_file, model_summary
from deepling.models.adapter import file_fingerprint

_ID = re.compile(r"^u[A-Za-z0-9_-]{12,40}$")
DATA_SUFFIXES = (".zip", ".npz")


class UploadError(ValueError):
    """An upload refused before it was read (size, kind); ``status`` is the HTTP code."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def is_upload_id(value: str) -> bool:
    return bool(value) and bool(_ID.match(value))


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
        for sub in ("models", "data", "incoming"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    # --- receiving ---------------------------------------------------------------------
    def receive(self, stream, filename: str, kinds: tuple[str, ...]) -> Path:
        """Copy an upload stream into a private temporary file, enforcing the size limit."""
        name = safe_filename(filename, "upload")
        suffix = Path(name).suffix.lower()
        if suffix not in kinds:
            raise UploadError(f"{name}: expected a file ending in {', '.join(kinds)}.", 415)
        # A private folder per upload, so messages can name the user's own file name.
        tmp = Path(tempfile.mkdtemp(dir=self.root / "incoming")) / name
        size, limit = 0, self.limits.max_upload_bytes
        try:
            with open(tmp, "xb") as out:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    size += len(chunk)
                    if size > limit:
                        raise UploadError(
                            f"{name} is larger than the upload limit of {limit >> 20} MB "
                            "(the server's DEEPLING_MAX_UPLOAD_MB).", 413)
                    out.write(chunk)
        except BaseException:
            _discard(tmp)
            raise
        if size == 0:
            _discard(tmp)
            raise UploadError(f"{name} is empty (0 bytes): the file may not have been saved "
                              "completely; send it again.", 400)
        return tmp

    # --- models ------------------------------------------------------------------------
    def add_model(self, tmp: Path, filename: str) -> tuple[str, ModelAdapter, dict]:
        """Vet and store a received model file; returns (id, adapter, summary)."""
        name = safe_filename(filename, "model" + tmp.suffix)
        try:
            with self._workers:
                adapter = load_model_file(tmp, name=name, limits=self.limits)
        except BaseException:
            _discard(tmp)
            raise
        upload_id = _new_id()
        folder = self.root / "models" / upload_id
        folder.mkdir()
        path = folder / ("model" + tmp.suffix.lower())
        shutil.move(tmp, path)
        _discard(tmp)
        summary = describe_model(adapter)
        _write_meta(folder, {"kind": "model", "name": name, "file": path.name,
                             "sha": file_fingerprint(path), "summary": summary,
                             "created": time.time()})
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
    def add_dataset(self, tmp: Path, filename: str) -> tuple[str, Dataset, dict]:
        """Read a received zip/npz (safely), store it as plain arrays; (id, dataset, summary)."""
        from deepling.data.archives import load_image_zip

        name = safe_filename(filename, "data" + tmp.suffix)
        try:
            if tmp.suffix.lower() == ".zip":
                ds = load_image_zip(tmp, limits=self.limits)
            else:
                ds = load_npz(tmp, origin=name)
        finally:
            _discard(tmp)
        ds = Dataset(ds.images, ds.labels, ds.class_names, name, ds.notes)
        upload_id, summary = self.save_dataset(ds)
        return upload_id, ds, summary

    def save_dataset(self, ds: Dataset) -> tuple[str, dict]:
        """Store a dataset made on the server (e.g. the shape workshop's); (id, summary)."""
        upload_id = _new_id()
        folder = self.root / "data" / upload_id
        folder.mkdir()
        np.savez(folder / "data.npz", x=ds.images, y=ds.labels,
                 class_names=np.array(ds.class_names, dtype=str))
        summary = describe_dataset(ds)
        _write_meta(folder, {"kind": "data", "name": ds.origin, "notes": list(ds.notes),
                             "summary": summary, "created": time.time()})
        return upload_id, summary

    def save_model(self, adapter: ModelAdapter) -> tuple[str, dict]:
        """Store a model built and trained on the server (e.g. in the shape workshop).

        It never came from a user's file, so it is recorded as vetted: reopening it (in
        another process) loads it with ``safe_mode`` but without the isolated worker.
        """
        upload_id = _new_id()
        folder = self.root / "models" / upload_id
        folder.mkdir()
        path = folder / "model.keras"
        adapter.model.save(path)
        summary = describe_model(adapter)
        _write_meta(folder, {"kind": "model", "name": adapter.name, "file": path.name,
                             "sha": file_fingerprint(path), "summary": summary,
                             "created": time.time()})
        return upload_id, summary

    def load_dataset(self, upload_id: str) -> Dataset:
        meta = self.meta("data", upload_id)
        ds = load_npz(self.root / "data" / upload_id / "data.npz", origin=meta["name"])
        return Dataset(ds.images, ds.labels, ds.class_names, meta["name"], tuple(meta["notes"]))

    # --- lookup ------------------------------------------------------------------------
    def meta(self, kind: str, upload_id: str) -> dict:
        if not is_upload_id(upload_id):
            raise ModelError(f"{upload_id!r} is not an upload id.")
        path = self.root / kind / upload_id / "meta.json"
        if not path.exists():
            what = "model" if kind == "models" else "dataset"
            raise (ModelError if kind == "models" else DataError)(
                f"No uploaded {what} with id {upload_id} on this server (it may have been "
                "removed). Upload it again.")
        return json.loads(path.read_text())


def describe_model(adapter: ModelAdapter) -> dict:
    s = model_summary(adapter.model)
    return {"name": adapter.name, "input_shape": list(s["input_shape"]),
            "output_shape": list(s["output_shape"]), "layers": s["n_layers"],
            "parameters": s["params"], "output": adapter.output_kind,
            "input_range": list(adapter.input_range), "notes": list(adapter.notes)}


def describe_dataset(ds: Dataset) -> dict:
    return {"name": ds.origin, "images": len(ds), "image_shape": list(ds.image_shape),
            "classes": list(ds.class_names), "notes": list(ds.notes)}


def _discard(tmp: Path) -> None:
    """Remove a received file and its private folder."""
    tmp.unlink(missing_ok=True)
    try:
        tmp.parent.rmdir()
    except OSError:
        pass


def _new_id() -> str:
    return "u" + secrets.token_urlsafe(12)


def _write_meta(folder: Path, meta: dict) -> None:
    tmp = folder / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, folder / "meta.json")

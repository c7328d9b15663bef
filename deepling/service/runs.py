"""Runs from outside the app: run folders (``deepling.keras.Monitor``) and checkpoint
folders (``ModelCheckpoint``'s ``epoch_{N}.keras``, any numbered ``.keras``/``.h5``
series), read for the Training card, the histograms and the layer animation.

``deepling serve --runs DIR`` lists every run in ``DIR`` (its sub-folders, or ``DIR``
itself). A run's id is ``run:<folder name>``. The app's own training runs write the same
records (:mod:`deepling.service.training`), and their histograms are read here too, by
their run id, from ``$DEEPLING_CACHE/training/runs/<run>``.

Run folders are untrusted input, as uploads are:

* records are JSON lines read by :func:`~deepling.training.runfolder.read_records`
  (nothing unpickled, no code run; a malformed line refuses the run with where it is);
  every value that reaches the page is checked (numbers, layer names the header declared,
  lengths) and strings are shown as text;
* folder and file names must be plain (letters, digits, ``._-``), no symbolic links are
  followed, nothing outside ``DIR`` is read;
* a snapshot is copied into the upload area and vetted exactly like an uploaded model
  (:meth:`~deepling.service.uploads.UploadStore.add_model`: file checks, config allowlist,
  the isolated worker), in the background; only vetted copies are ever loaded, so a
  hostile snapshot is refused with its reason and never reaches Keras in the server.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from deepling.training.runfolder import (HEADER, RECORDS, SNAPSHOTS, RunFolderError, read_header,
                                         read_records)

PREFIX = "run:"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
LAYER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:/-]{0,199}$")
CHECKPOINT = re.compile(r"^([A-Za-z_.-]*?)(\d{1,6})([A-Za-z0-9_.-]*)\.(keras|h5)$")
STALE_SECONDS = 120      # a run without an end record and no new record for this long: stale
POLL_BYTES = 48 << 10    # records read per poll at most (a poll answers within its interval)
MAX_RUNS = 200


class RunsService:
    """Read external runs (under ``root``) and the app's own runs' records.

    Parameters
    ----------
    workspace : Workspace
        Snapshots are vetted into its uploads and opened as its models.
    root : path, optional
        ``--runs DIR``; None: no external runs.
    training_root : path, optional
        The app's training store (``$DEEPLING_CACHE/training``), for in-app runs' records.
    """

    def __init__(self, workspace, root=None, training_root=None):
        from deepling.service.paths import cache_dir

        self.workspace = workspace
        self.root = Path(root).resolve() if root else None
        self.training_root = Path(training_root) if training_root else cache_dir("training")
        self._lock = threading.Lock()
        self._vetted: dict[tuple, str | Exception] = {}   # (run, file, size, mtime) → model id
        self._pending: set[tuple] = set()
        self._models: dict[str, str] = {}                 # vetted model id → run id
        self._hist: dict[str, tuple[int, list]] = {}      # run → (offset, probe records)
        self._vet_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="deepling-vet")

    # --- which runs ----------------------------------------------------------------------
    def owns(self, run_id) -> bool:
        return isinstance(run_id, str) and run_id.startswith(PREFIX)

    def list(self) -> list[dict]:
        """Every run under ``root``: ``{"id", "name", "kind", "state", "message"}``, newest
        first; a folder that is not a run is listed as refused, with the reason."""
        if self.root is None or not self.root.is_dir():
            return []
        candidates = [self.root] if _looks_like_run(self.root) else \
            [p for p in self.root.iterdir() if not p.name.startswith(".")][:MAX_RUNS]
        runs = []
        for path in candidates:
            entry = {"id": PREFIX + path.name, "name": path.name}
            try:
                folder = self.folder(entry["id"])
                kind = "monitor" if (folder / HEADER).exists() or (folder / RECORDS).exists() else \
                    "checkpoints" if _checkpoints(folder) else None
                if kind is None:
                    continue
                if kind == "monitor":  # refuse what is malformed up front, with the reason
                    self.header(entry["id"])
                    read_records(folder, 0, 1 << 16, long_lines=False)  # (cheap: every 2 s)
                entry.update(kind=kind, **self.meta(entry["id"]))
                entry["modified"] = _modified(folder)
            except RunFolderError as exc:
                entry.update(kind="refused", state="refused", message=str(exc), modified=0)
            runs.append(entry)
        return sorted(runs, key=lambda r: -r["modified"])

    def folder(self, run_id: str) -> Path:
        """The folder of ``run:<name>`` (under ``root``) or of an in-app run id, checked."""
        if not isinstance(run_id, str):
            raise RunFolderError("No such run.")
        if not self.owns(run_id):
            if not NAME.match(run_id):
                raise RunFolderError(f"No run {run_id!r}.")
            return self.training_root / "runs" / run_id
        name = run_id[len(PREFIX):]
        if self.root is None:
            raise RunFolderError("This server has no runs folder: start it with "
                                 "deepling serve --runs DIR.")
        if not NAME.match(name):
            raise RunFolderError(f"{name!r} is not a plain folder name (letters, digits, ._-): "
                                 "rename the run folder.")
        path = self.root if name == self.root.name and _looks_like_run(self.root) else self.root / name
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            raise RunFolderError(f"No run folder {name} in {self.root}.") from None
        if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
            raise RunFolderError(f"{name} is a link or not a folder: runs are read only from "
                                 "real folders inside the runs folder.")
        return path

    # --- the Training card ---------------------------------------------------------------
    def header(self, run_id: str) -> dict:
        folder = self.folder(run_id)
        if _checkpoints(folder) and not (folder / HEADER).exists():
            layers = self._checkpoint_layers(run_id)
            return {"name": folder.name, "layers": layers, "batches_per_epoch": None,
                    "source": "checkpoints"}
        header = read_header(folder)
        layers = header.get("layers")
        if not isinstance(layers, list) or len(layers) > 10000:
            raise RunFolderError(f"{folder / HEADER}: 'layers' is not a list of layers.")
        checked = []
        for layer in layers:
            if not (isinstance(layer, dict) and isinstance(layer.get("name"), str)
                    and LAYER.match(layer["name"]) and isinstance(layer.get("filters"), int)
                    and 0 < layer["filters"] <= 100000):
                raise RunFolderError(f"{folder / HEADER}: a layer entry is malformed "
                                     "(a plain name and a filter count are needed).")
            checked.append({"name": layer["name"], "filters": layer["filters"],
                            "kind": str(layer.get("kind", ""))[:40]})
        bpe = header.get("batches_per_epoch")
        return {"name": folder.name, "layers": checked,
                "batches_per_epoch": bpe if isinstance(bpe, int) and bpe > 0 else None,
                "source": str(header.get("source", ""))[:40]}

    def layer_sizes(self, run_id: str) -> list[dict]:
        return self.header(run_id)["layers"]

    def since(self, run_id: str, offset: int) -> tuple[int, list[dict]]:
        """The Training card's deltas after byte ``offset`` of the run's records (for a
        checkpoint folder: after checkpoint number ``offset``)."""
        folder = self.folder(run_id)
        if not (folder / RECORDS).exists() and _checkpoints(folder):
            return self._checkpoint_since(run_id, folder, offset)
        header = self.header(run_id)
        names = {l["name"]: l["filters"] for l in header["layers"]}
        deltas = []
        if offset == 0:
            deltas.append({"start": {"layers": header["layers"],
                                     "batches_per_epoch": header["batches_per_epoch"] or 1},
                           "status": {"state": "running", "message": f"watching {header['name']}"}})
        new_offset, records = read_records(folder, offset, POLL_BYTES)
        deltas += merge_deltas([d for d in (to_delta(r, names) for r in records) if d])
        self._queue_snapshots(run_id, folder)
        vetted = [e for e, _ in self.snapshots(run_id)]
        if vetted:
            deltas.append({"vetted": max(vetted)})
        return new_offset, deltas

    def meta(self, run_id: str) -> dict:
        """``state`` (running, finished, stopped, stale, …), ``message``, ``finished``."""
        folder = self.folder(run_id)
        if not (folder / RECORDS).exists():
            n = len(_checkpoints(folder))
            return {"state": "finished", "message": f"{n} checkpoints", "finished": True}
        end = _last_end(folder)
        if end is not None:
            return {"state": str(end.get("state", "finished"))[:20],
                    "message": str(end.get("message", ""))[:300], "finished": True}
        idle = time.time() - (folder / RECORDS).stat().st_mtime
        if idle > STALE_SECONDS:
            return {"state": "stale", "finished": True,
                    "message": f"no new record for {idle / 60:.0f} min: the run may have stopped"}
        return {"state": "running", "message": "live", "finished": False}

    def head(self, run_id: str) -> int:
        folder = self.folder(run_id)
        if not (folder / RECORDS).exists():
            return len(_checkpoints(folder))
        return (folder / RECORDS).stat().st_size

    # --- histograms ------------------------------------------------------------------------
    def histograms(self, run_id: str, layer: str) -> dict:
        """Per kind (weights, activations, gradients) ``[(label, lo, hi, counts), …]`` over
        the run (the start and each epoch's end), and ``dead`` / ``flags`` at the last probe."""
        folder = self.folder(run_id)
        if not (folder / RECORDS).exists() and _checkpoints(folder):
            return self._checkpoint_histograms(run_id, layer)
        with self._lock:
            offset, probes = self._hist.get(run_id, (0, []))
        while True:
            new, records = read_records(folder, offset, POLL_BYTES)
            probes = probes + [r for r in records if r.get("kind") == "probe" and r.get("at") != "steps"]
            if new == offset:
                break
            offset = new
        with self._lock:
            self._hist[run_id] = (offset, probes)
            if len(self._hist) > 32:
                self._hist.pop(next(iter(self._hist)))
        return histogram_series(probes, layer)

    # --- snapshots: vetted copies only -----------------------------------------------------
    def snapshots(self, run_id: str | None) -> list[tuple[int, Path]]:
        """(epoch, path of the vetted copy) of the run's kept snapshots, oldest first."""
        if not run_id:
            return []
        try:
            folder = self.folder(run_id)
        except RunFolderError:
            return []
        out = []
        for epoch, file in _snapshot_files(folder):
            key = _file_key(run_id, file)
            with self._lock:
                found = self._vetted.get(key) if key else None
            if isinstance(found, str) and self.workspace.uploads.exists("models", found):
                meta = self.workspace.uploads.meta("models", found)
                out.append((epoch, self.workspace.uploads.root / "models" / found / meta["file"]))
        return out

    def refused(self, run_id: str) -> list[str]:
        """Why snapshots of the run were refused (each vetting message once)."""
        with self._lock:
            return sorted({str(v) for k, v in self._vetted.items()
                           if k[0] == run_id and isinstance(v, Exception)})

    def snapshot_model(self, run_id: str, epoch: int) -> str:
        for e, path in self.snapshots(run_id):
            if e == int(epoch):
                return path.parent.name
        raise ValueError(f"The run has no vetted snapshot of epoch {epoch} (yet): pick another.")

    def open_model(self, run_id: str) -> str | None:
        """The model id of the run's latest vetted snapshot (its model, for every view)."""
        snaps = self.snapshots(run_id)
        return snaps[-1][1].parent.name if snaps else None

    def run_of(self, model_id: str, current: dict | None = None) -> str | None:
        if current and self.owns(current.get("run")) and current.get("model") == model_id:
            return current["run"]
        with self._lock:
            return self._models.get(model_id)

    def run_layers(self, run_id: str) -> list[str]:
        return [l["name"] for l in self.layer_sizes(run_id)]

    def latest_snapshot(self, run_id: str):
        model_id = self.open_model(run_id)
        if model_id is None:
            return None, None
        return self.snapshots(run_id)[-1][0], self.workspace.model(model_id).model

    def wait_vetted(self, run_id: str, timeout: float = 120) -> list:
        """Queue the run's snapshots and wait until none is pending (tests, scripts)."""
        folder = self.folder(run_id)
        self._queue_snapshots(run_id, folder)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not any(k[0] == run_id for k in self._pending):
                    break
            time.sleep(0.1)
        return self.snapshots(run_id)

    def _queue_snapshots(self, run_id: str, folder: Path) -> None:
        for epoch, file in _snapshot_files(folder):
            key = _file_key(run_id, file)
            with self._lock:
                if key is None or key in self._vetted or key in self._pending:
                    continue
                self._pending.add(key)
            self._vet_pool.submit(self._vet, run_id, key, file, epoch)

    def _vet(self, run_id: str, key: tuple, file: Path, epoch: int) -> None:
        try:
            uploads = self.workspace.uploads
            if key[2] > uploads.limits.max_upload_bytes:
                raise RunFolderError(f"{file.name} is over the upload limit "
                                     "(DEEPLING_MAX_UPLOAD_MB): not opened.")
            tmp = Path(tempfile.mkdtemp(dir=uploads.root / "incoming")) / f"snapshot{file.suffix}"
            with open(file, "rb", opener=_no_follow) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            name = f"{run_id[len(PREFIX):] if self.owns(run_id) else run_id}-epoch-{epoch}{file.suffix}"
            model_id, _ = self.workspace.add_model(tmp, name)
            result: str | Exception = model_id
            with self._lock:
                self._models[model_id] = run_id
        except Exception as exc:  # noqa: BLE001 - refused: kept as the reason, shown on the page
            result = RunFolderError(f"snapshot {file.name} refused: {exc}")
        with self._lock:
            self._vetted[key] = result
            self._pending.discard(key)

    # --- checkpoint folders ------------------------------------------------------------------
    def _checkpoint_layers(self, run_id: str) -> list[dict]:
        from deepling.training.step import filter_layers

        snaps = self.snapshots(run_id)
        if not snaps:
            self._queue_snapshots(run_id, self.folder(run_id))
            return []
        model = self.workspace.model(snaps[0][1].parent.name).model
        return [{"name": n, "filters": int(model.get_layer(n).kernel.shape[-1]),
                 "kind": type(model.get_layer(n)).__name__} for n in filter_layers(model)]

    def _checkpoint_since(self, run_id: str, folder: Path, offset: int):
        self._queue_snapshots(run_id, folder)
        snaps = self.snapshots(run_id)
        deltas = []
        if offset == 0 and snaps:
            deltas.append({"start": {"layers": self._checkpoint_layers(run_id), "batches_per_epoch": 1},
                           "status": {"state": "finished", "message": f"checkpoints of {folder.name}"}})
        elif not snaps:
            return 0, [{"status": {"state": "running", "message": "vetting the checkpoints…"}}]
        new = snaps[offset:] if offset > 0 else snaps
        if new:
            deltas.append({"epochs": [{"epoch": e, "step": e, "frozen": []} for e, _ in new],
                           "vetted": new[-1][0]})
        return len(snaps), deltas

    def _checkpoint_histograms(self, run_id: str, layer: str) -> dict:
        series = {"weights": [], "activations": [], "gradients": []}
        for epoch, path in self.snapshots(run_id):
            model = self.workspace.model(path.parent.name).model
            try:
                kernel = np.asarray(model.get_layer(layer).kernel)
            except (ValueError, AttributeError):
                continue
            lo, hi = float(kernel.min()), float(kernel.max())
            counts, _ = np.histogram(kernel, 32, (lo, max(hi, lo + 1e-12)))
            series["weights"].append((f"epoch {epoch}", lo, hi, counts.tolist()))
        return {**series, "dead": [], "flag": None}


# --- records → the Training card's deltas --------------------------------------------------

def to_delta(record: dict, layers: dict) -> dict | None:
    """One record as the delta the Training card's charts extend with (checked values only)."""
    kind = record.get("kind")
    if kind == "batches":
        steps = _ints(record.get("step"))
        n = len(steps)
        return {"batches": {"step": steps, "loss": _floats(record.get("loss"), n),
                            "accuracy": _floats(record.get("accuracy"), n)}} if n else None
    if kind == "probe":
        filters = {k: {name: _floats(v, layers[name]) for name, v in _dict(record.get(k)).items()
                       if name in layers}
                   for k in ("activation", "gradient")}
        return {"filters": filters}
    if kind == "epoch":
        row = {"epoch": _int(record.get("epoch")), "step": _int(record.get("step")),
               "frozen": [f for f in record.get("frozen", []) if isinstance(f, str) and f in layers]
               if isinstance(record.get("frozen"), list) else []}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds"):
            v = _float(record.get(key))
            if v is not None:
                row[key] = v
        return {"epochs": [row]}
    if kind == "end":
        return {"status": {"state": str(record.get("state", "finished"))[:20],
                           "message": str(record.get("message", ""))[:300]}}
    return None


def merge_deltas(deltas: list[dict]) -> list[dict]:
    """Many deltas as one: batches joined, epochs listed, only the newest filter amounts and
    status kept (a page catching up on a long run gets one small answer per poll)."""
    if len(deltas) <= 1:
        return deltas
    out: dict = {}
    for d in deltas:
        if "batches" in d:
            b = out.setdefault("batches", {"step": [], "loss": [], "accuracy": []})
            for k in b:
                b[k] += d["batches"][k]
        if "epochs" in d:
            out.setdefault("epochs", []).extend(d["epochs"])
        for k in ("filters", "status", "start"):
            if k in d:
                out[k] = d[k]
    return [out]


def histogram_series(probes: list[dict], layer: str) -> dict:
    """``{kind: [(label, lo, hi, counts)]}`` of one layer over the probes taken at the start
    and at each epoch's end (the last probe of each epoch), plus ``dead`` filters and the
    gradient ``flag`` at the last one."""
    from deepling.training.probe import EXPLODING, VANISHING

    by_epoch: dict[int, dict] = {}
    for p in probes:
        epoch = _int(p.get("epoch"))
        if epoch is not None:
            by_epoch[epoch] = p  # the last probe of an epoch is taken at its end
    series = {"weights": [], "activations": [], "gradients": []}
    last = None
    for epoch in sorted(by_epoch):
        h = _dict(_dict(by_epoch[epoch].get("hist")).get(layer))
        if not h:
            continue
        last = by_epoch[epoch]
        for kind in series:
            k = _dict(h.get(kind))
            counts = _ints(k.get("counts"))
            lo, hi = _float(k.get("lo")), _float(k.get("hi"))
            if counts and lo is not None and hi is not None and len(counts) <= 1024:
                series[kind].append(("start" if epoch == 0 else f"epoch {epoch}", lo, hi, counts))
    dead = [i for i in _ints(_dict(last.get("dead")).get(layer))] if last else []
    grads = _floats(_dict(last.get("gradient")).get(layer), 100000) if last else []
    mean = float(np.nanmean([g for g in grads if g is not None])) if grads and any(
        g is not None for g in grads) else None
    flag = None
    if mean is not None:
        flag = "exploding" if mean > EXPLODING else "vanishing" if mean < VANISHING else None
    return {**series, "dead": dead, "flag": flag, "mean_gradient": mean}


# --- small checks ---------------------------------------------------------------------------

def _float(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if np.isfinite(v) else None


def _int(v):
    return int(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2 ** 53 else None


def _floats(v, n: int) -> list:
    return [_float(x) for x in v[:n]] if isinstance(v, list) else []


def _ints(v) -> list:
    return [x for x in (_int(y) for y in v[:1_000_000]) if x is not None] if isinstance(v, list) else []


def _dict(v) -> dict:
    return v if isinstance(v, dict) else {}


def _looks_like_run(path: Path) -> bool:
    return (path / HEADER).exists() or (path / RECORDS).exists() or bool(_checkpoints(path))


def _checkpoints(folder: Path) -> list[tuple[int, Path]]:
    """A numbered ``.keras``/``.h5`` series (one prefix): (number, path), by number."""
    try:
        entries = [e for e in os.scandir(folder) if CHECKPOINT.match(e.name)]
    except OSError:
        return []
    groups: dict[str, list] = {}
    for e in entries:
        m = CHECKPOINT.match(e.name)
        groups.setdefault(m.group(1), []).append((int(m.group(2)), Path(e.path)))
    if not groups:
        return []
    best = max(groups.values(), key=len)
    return sorted(best)


def _snapshot_files(folder: Path) -> list[tuple[int, Path]]:
    """(epoch, file) of a run folder's kept snapshots (or a checkpoint folder's files)."""
    from deepling.training.runfolder import snapshot_epoch

    snap = folder / SNAPSHOTS
    if (folder / RECORDS).exists() or (folder / HEADER).exists():
        try:
            names = [e.name for e in os.scandir(snap)] if snap.is_dir() and not snap.is_symlink() else []
        except OSError:
            names = []
        files = [(snapshot_epoch(n), snap / n) for n in names if not n.startswith(".")]
        return sorted((e, p) for e, p in files if e is not None)
    return _checkpoints(folder)


def _file_key(run_id: str, file: Path):
    try:
        st = os.lstat(file)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None  # links and special files are never read
    return (run_id, file.name, st.st_size, st.st_mtime_ns)


def _no_follow(path, flags):
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def _last_end(folder: Path) -> dict | None:
    """The ``end`` record, if the run wrote one (it is the last line)."""
    import json

    path = folder / RECORDS
    try:
        with open(path, "rb", opener=_no_follow) as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 4096))
            tail = f.read().split(b"\n")
    except OSError:
        return None
    for line in reversed(tail):
        if b'"end"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                return None
            return record if isinstance(record, dict) and record.get("kind") == "end" else None
    return None


def _modified(folder: Path) -> float:
    try:
        return max([folder.stat().st_mtime] + [(folder / f).stat().st_mtime for f in (RECORDS,)
                                               if (folder / f).exists()])
    except OSError:
        return 0.0


class RunSources:
    """The app's own runs (:class:`~deepling.service.training.TrainingService`) and runs
    from outside (:class:`RunsService`) behind one face, chosen by run id, for the
    Training card's poll and the layer animation's across-training mode."""

    def __init__(self, training, runs: RunsService | None):
        self.training, self.runs = training, runs

    def _for(self, run_id):
        return self.runs if self.runs is not None and self.runs.owns(run_id) else self.training

    def steerable(self, run_id) -> bool:
        """Whether the app can pause or stop this run: its own, not one trained elsewhere."""
        return self._for(run_id) is self.training

    def since(self, run_id, seq):
        return self._for(run_id).since(run_id, seq)

    def meta(self, run_id) -> dict:
        return self._for(run_id).meta(run_id)

    def head(self, run_id) -> int:
        if self._for(run_id) is self.runs:
            return self.runs.head(run_id)
        return self.training.store.get(run_id, "head") or 0

    def run_of(self, model_id, current=None):
        if self.runs is not None:
            found = self.runs.run_of(model_id, current)
            if found:
                return found
        return self.training.run_of(model_id, current)

    def snapshots(self, run_id):
        return self._for(run_id).snapshots(run_id)

    def run_layers(self, run_id):
        return self._for(run_id).run_layers(run_id)

    def snapshot_model(self, run_id, epoch):
        return self._for(run_id).snapshot_model(run_id, epoch)

    def latest_snapshot(self, run_id):
        return self._for(run_id).latest_snapshot(run_id)

    def histograms(self, run_id, layer):
        """Histograms of any run: in-app runs write the same records into their folder."""
        runs = self.runs or RunsService(self.training.workspace, None, self.training.store.root)
        return runs.histograms(run_id, layer)

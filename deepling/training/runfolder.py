"""Run folders: a training run's records, written append-only, readable while they grow.

A run folder holds

* ``run.json`` — what the run is (format, version, the watched layers and their filter
  counts, batches per epoch, …), written once, under a temporary name and renamed;
* ``records.jsonl`` — one JSON object per line, only ever appended to, each write one
  whole line or several (``O_APPEND``, one ``write``): ``batches`` (loss and metrics per
  batch), ``probe`` (per-filter amounts, dead filters, histograms), ``epoch`` (the epoch's
  figures, validation, seconds), ``snapshot`` / ``drop`` (a weights snapshot kept or thinned
  out) and ``end``;
* ``snapshots/epoch-XXX.keras`` — the weights per epoch, each saved under a hidden
  temporary name and renamed when complete.

A reader (another process, another machine over a shared filesystem) reads from the byte
offset it reached, takes whole lines only (a line still being written, without its newline,
waits for the next read) and never sees a half-written snapshot. Nothing is pickled:
records are JSON, snapshots Keras files (which a server vets like any upload).

:class:`RunWriter` writes; :func:`read_records` reads. Used by :class:`deepling.keras.Monitor`
(a user's ``model.fit``) and by the app's own training runs alike.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

FORMAT = "deepling-run"
VERSION = 1
HEADER = "run.json"
RECORDS = "records.jsonl"
SNAPSHOTS = "snapshots"
KINDS = ("batches", "probe", "epoch", "snapshot", "drop", "end", "note")
MAX_LINE = 8 << 20           # one record: 8 MB at most (a 25 M-parameter model's probe is < 1 MB)
SNAPSHOT_NAME = re.compile(r"^epoch-(\d{1,6})\.(keras|h5)$")


class RunFolderError(ValueError):
    """A run folder that cannot be read; the message says what is wrong and what to do."""


class RunWriter:
    """Append records to a run folder and keep its weights snapshots.

    Parameters
    ----------
    folder : path
        Created if missing. A folder that already holds another run is refused (pick a new
        name per run, as TensorBoard log folders).
    header : dict
        Written to ``run.json`` (``format`` and ``version`` are added).
    max_snapshots : int
        Snapshots kept; past it every other old one is dropped, the first kept (as the
        Training card does), so the kept ones still span the run. 0 keeps none.
    """

    def __init__(self, folder, header: dict, max_snapshots: int = 12):
        self.folder = Path(folder)
        self.max_snapshots = int(max_snapshots)
        self.folder.mkdir(parents=True, exist_ok=True)
        if (self.folder / HEADER).exists() or (self.folder / RECORDS).exists():
            raise RunFolderError(f"{self.folder} already holds a run: give each run its own "
                                 "folder (e.g. runs/exp2), or delete the old one.")
        write_json_atomic(self.folder / HEADER, {"format": FORMAT, "version": VERSION,
                                                 "created": time.time(), **header})
        self._fd = os.open(self.folder / RECORDS, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.kept: list[str] = []

    def append(self, *records: dict) -> None:
        """Append records as whole lines, in one write."""
        if not records:
            return
        data = "".join(json.dumps(r, separators=(",", ":"), allow_nan=True) + "\n"
                       for r in records).encode()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def snapshot(self, model, epoch: int) -> str | None:
        """Save ``model``'s weights for ``epoch`` (atomically) and thin the kept ones;
        returns the file's path relative to the folder (None when snapshots are off)."""
        if self.max_snapshots <= 0:
            return None
        folder = self.folder / SNAPSHOTS
        folder.mkdir(exist_ok=True)
        name = f"epoch-{int(epoch):03d}.keras"
        tmp = folder / f".tmp-{os.getpid()}-{name}"
        model.save(tmp)
        os.replace(tmp, folder / name)
        rel = f"{SNAPSHOTS}/{name}"
        self.append({"kind": "snapshot", "epoch": int(epoch), "file": rel,
                     "bytes": (folder / name).stat().st_size})
        self.kept.append(rel)
        if len(self.kept) > self.max_snapshots:
            drop = self.kept[1::2]
            self.append({"kind": "drop", "files": drop})
            for rel_drop in drop:
                (self.folder / rel_drop).unlink(missing_ok=True)
            self.kept = [p for p in self.kept if p not in drop]
        return rel

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def write_json_atomic(path: Path, value) -> None:
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def read_header(folder) -> dict:
    """``run.json`` of a run folder, checked (a :class:`RunFolderError` says what is wrong)."""
    path = Path(folder) / HEADER
    try:
        with open(path, "rb", opener=_plain_file) as f:
            text = f.read((1 << 20) + 1)
        if len(text) > 1 << 20:
            raise RunFolderError(f"{path} is over 1 MB: not a Deepling run header.")
        header = json.loads(text)
    except FileNotFoundError:
        raise RunFolderError(f"{folder} has no {HEADER}: not a Deepling run folder (a folder of "
                             "epoch_N.keras checkpoints opens as a run too).") from None
    except RunFolderError:
        raise
    except OSError as exc:
        raise _link_or(path, exc) from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RunFolderError(f"{path} is not readable JSON ({type(exc).__name__}): the run "
                             "folder is damaged; start the run again.") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RunFolderError(f"{path} is not a Deepling run header (no format "
                             f"'{FORMAT}').")
    if header.get("version") != VERSION:
        raise RunFolderError(f"{path} has version {header.get('version')!r}; this Deepling "
                             f"reads version {VERSION}: update Deepling.")
    return header


def read_records(folder, offset: int = 0, max_bytes: int = 16 << 20,
                 long_lines: bool = True) -> tuple[int, list[dict]]:
    """The whole records after byte ``offset``: (the offset reached, records in order).

    Reads about ``max_bytes`` (call again for the rest; a single record longer than that is
    read whole, up to :data:`MAX_LINE`, unless ``long_lines`` is false: then it waits, as a
    line still being written). A last line without its newline
    is being written: it is left for the next call. A whole line that is not a JSON object
    with a known ``kind`` raises :class:`RunFolderError` naming the line's byte offset.
    """
    path = Path(folder) / RECORDS
    try:
        with open(path, "rb", opener=_plain_file) as f:
            f.seek(offset)
            data = f.read(max_bytes)
            if long_lines and b"\n" not in data and len(data) == max_bytes:
                # one record longer than max_bytes (a big model's probe): read on to its end
                data += f.read(MAX_LINE + 1 - len(data))
    except FileNotFoundError:
        return offset, []
    except OSError as exc:
        raise _link_or(path, exc) from None
    end = data.rfind(b"\n")
    if end < 0:
        if len(data) > MAX_LINE:
            raise RunFolderError(f"{path}: a record over {MAX_LINE >> 20} MB at byte {offset}: "
                                 "not written by Deepling; the run is refused.")
        return offset, []
    records, pos = [], offset
    for line in data[:end + 1].split(b"\n")[:-1]:
        records.append(_parse(line, path, pos))
        pos += len(line) + 1
    return pos, records


def _plain_file(path, flags):
    """Open a run folder's file only if it is a regular file, not through a link (a link in
    a run folder could point anywhere: the reader never follows one)."""
    import stat

    fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RunFolderError(f"{path} is not a plain file: the run is refused.")
    return fd


def _link_or(path: Path, exc: OSError) -> RunFolderError:
    import errno

    if exc.errno == errno.ELOOP:
        return RunFolderError(f"{path} is a link: links in a run folder are never followed "
                              "(it could point anywhere); the run is refused.")
    return RunFolderError(f"{path} cannot be read ({exc.strerror}).")


def _parse(line: bytes, path: Path, pos: int) -> dict:
    if len(line) > MAX_LINE:
        raise RunFolderError(f"{path}: the record at byte {pos} is over {MAX_LINE >> 20} MB: "
                             "not written by Deepling; the run is refused.")
    try:
        record = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RunFolderError(f"{path}: the record at byte {pos} is not JSON: the folder is "
                             "damaged or not written by Deepling; the run is refused.") from None
    if not isinstance(record, dict) or record.get("kind") not in KINDS:
        raise RunFolderError(f"{path}: the record at byte {pos} has no known kind "
                             f"({', '.join(KINDS)}): the run is refused.")
    return record


def snapshot_epoch(name: str) -> int | None:
    """The epoch of a snapshot file name ``epoch-XXX.keras``, or None."""
    m = SNAPSHOT_NAME.match(Path(name).name)
    return int(m.group(1)) if m else None

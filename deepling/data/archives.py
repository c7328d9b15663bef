"""Image folders uploaded as a zip.

A zip is checked entry by entry before anything is written: names must stay inside the
archive (no ``..``, absolute paths or drive letters), entries must be plain files or folders
(no symlinks), and the number of entries, the unpacked size and the packing ratio are
bounded — by the sizes the zip declares and again by counting the bytes actually unpacked,
because headers can lie. The checked entries are unpacked into a private temporary folder
that is read with :func:`deepling.data.loaders.load_image_folder` (by
:func:`deepling.data.loaders.load_image_zip`) and then deleted.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Iterator

from deepling.data.dataset import DataError
from deepling.data.limits import UploadLimits

_CHUNK = 1 << 20
# Members smaller than this may pack as tightly as they like (a blank 1 kB image is fine).
_RATIO_FLOOR_BYTES = 1 << 20
_MAX_NAME_LENGTH = 1024
_DRIVE = re.compile(r"^[A-Za-z]:")
# Folders and files that archivers add and that are not data (macOS resource forks).
_JUNK_PARTS = ("__MACOSX",)


@contextmanager
def unpacked_zip(path: str | os.PathLike, limits: UploadLimits, splits=("train", "test")) -> Iterator[Path]:
    """Check a zip of an image folder entry by entry, unpack it into a private temporary
    folder and yield the folder that holds the class (or ``splits``) folders; the folder is
    deleted afterwards. (:func:`deepling.data.loaders.load_image_zip` reads it.)

    A zip of the folder itself (one top folder holding the class folders) works as well as
    a zip of its contents.

    Raises
    ------
    DataError
        The file is not a zip, or an entry is unsafe (path outside the folder, link), or
        the archive is too large, has too many entries or packs suspiciously tightly.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise DataError(f"No zip file at {path}.")
    size_on_disk = path.stat().st_size
    if size_on_disk > limits.max_upload_bytes:
        raise DataError(
            f"{path.name} is {size_on_disk / (1 << 20):.0f} MB; this server accepts uploads up "
            f"to {limits.max_upload_bytes / (1 << 20):.0f} MB (DEEPLING_MAX_UPLOAD_MB)."
        )
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DataError(f"{path.name} is not a readable zip file ({exc}). Zip the image folder "
                        "again and upload the new file.") from None
    with zf, tempfile.TemporaryDirectory(prefix="deepling-zip-") as tmp:
        members = check_zip_members(zf, path.name, limits)
        root = Path(tmp) / "data"
        root.mkdir()
        _extract(zf, members, root, path.name, limits)
        yield _data_root(root, splits)


def check_zip_members(zf: zipfile.ZipFile, zip_name: str,
                      limits: UploadLimits) -> list[tuple[zipfile.ZipInfo, tuple[str, ...]]]:
    """The entries to unpack, each with its checked relative path parts.

    Raises :class:`DataError` for the first unsafe entry and when the declared totals
    exceed ``limits``; skips folders, macOS metadata and hidden files.
    """
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise DataError(f"{zip_name} has {len(infos):,} entries; the limit is "
                        f"{limits.max_members:,} (DEEPLING_MAX_ZIP_MEMBERS).")
    members, seen, total, packed = [], set(), 0, 0
    for info in infos:
        parts = _safe_parts(info, zip_name)
        if info.flag_bits & 0x1:
            raise DataError(f"{zip_name}: {info.filename!r} is encrypted; zip the folder "
                            "again without a password.")
        total += info.file_size
        packed += info.compress_size
        if info.file_size > _RATIO_FLOOR_BYTES and \
                info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise DataError(
                f"{zip_name}: {info.filename!r} unpacks to {info.file_size / (1 << 20):.0f} MB "
                f"from {info.compress_size / (1 << 10):.0f} kB (more than {limits.max_ratio:g}× "
                "smaller); images do not pack that tightly. This looks like a zip bomb."
            )
        if info.is_dir() or any(p in _JUNK_PARTS or p.startswith(".") for p in parts):
            continue
        if parts in seen:
            raise DataError(f"{zip_name}: {info.filename!r} appears twice; zip the folder again.")
        seen.add(parts)
        members.append((info, parts))
    if total > limits.max_uncompressed_bytes:
        raise DataError(
            f"{zip_name} unpacks to {total / (1 << 20):,.0f} MB; the limit is "
            f"{limits.max_uncompressed_bytes / (1 << 20):,.0f} MB (DEEPLING_MAX_UNCOMPRESSED_MB). "
            "Upload fewer or smaller images."
        )
    if total > _RATIO_FLOOR_BYTES and total > limits.max_ratio * max(packed, 1):
        raise DataError(f"{zip_name} unpacks {total / max(packed, 1):.0f}× its packed size; "
                        "images do not pack that tightly. This looks like a zip bomb.")
    if not members:
        raise DataError(f"{zip_name} holds no files. Zip a folder with one subfolder of images "
                        "per class.")
    return members


def _safe_parts(info: zipfile.ZipInfo, zip_name: str) -> tuple[str, ...]:
    """The entry's path as parts under the archive root, or DataError saying why not."""
    name = info.filename
    shown = repr(name[:200])

    def refuse(why: str):
        raise DataError(f"{zip_name}: the entry {shown} {why}, so Deepling will not unpack "
                        "this zip. Zip the image folder itself (e.g. `zip -r data.zip data/`).")

    if not name or len(name) > _MAX_NAME_LENGTH or "\x00" in name:
        refuse("has an invalid name")
    # Some Windows archivers write backslashes; treat them as separators before checking.
    posix = name.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        refuse("has an absolute path")
    parts = tuple(p for p in PurePosixPath(posix).parts if p not in ("", "."))
    if ".." in parts:
        refuse("points outside the folder ('..')")
    if not parts or any(_DRIVE.match(p) for p in parts):
        refuse("has an invalid name")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        refuse("is a symbolic link")
    if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        refuse("is a device, pipe or other special file")
    return parts


def _extract(zf: zipfile.ZipFile, members, root: Path, zip_name: str,
             limits: UploadLimits) -> None:
    """Unpack checked members under ``root``, counting bytes as they come."""
    budget = limits.max_uncompressed_bytes
    for info, parts in members:
        target = root.joinpath(*parts)
        allowed = info.file_size  # a member may not grow past what it declared
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "xb") as dst:
                while chunk := src.read(_CHUNK):
                    allowed -= len(chunk)
                    budget -= len(chunk)
                    if allowed < 0 or budget < 0:
                        raise DataError(
                            f"{zip_name}: {info.filename!r} unpacks to more than its header "
                            "declares; the zip is damaged or a zip bomb.")
                    dst.write(chunk)
        except DataError:
            raise
        except (FileExistsError, NotADirectoryError):  # "a/b" both a file and a folder
            raise DataError(f"{zip_name}: {info.filename!r} clashes with another entry; zip "
                            "the folder again.") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError,
                NotImplementedError) as exc:
            raise DataError(f"{zip_name}: {info.filename!r} cannot be unpacked ({exc}); the zip "
                            "is damaged. Zip the folder again.") from None


def _data_root(root: Path, splits) -> Path:
    """``root``, or its single top folder when the user zipped the folder itself."""
    entries = [p for p in root.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in splits:
        return entries[0]
    return root


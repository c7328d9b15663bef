"""Loaders: CIFAR-10, an image folder, a zip of one, an ``.npz``.

None of them unpickles anything: ``.npz`` files are opened with ``allow_pickle=False`` and
images are decoded by Pillow (see :mod:`deepling.data.images`).
"""

from __future__ import annotations

import collections
import hashlib
import os
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from deepling.data.dataset import DataError, Dataset
from deepling.data.images import ImageDecodeError, decode_image

CIFAR10_ENV = "DEEPLING_CIFAR10"
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")
ALL = "all"  # every image: the train split, then the test split
MAX_CLASSES = 1000  # class names are made per index: a label of 10**9 must not make 10**9
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class DataUnavailableError(DataError):
    """The data exists somewhere, but not here (no local copy, no network)."""


def load_dataset(spec: str, split: str = "test", size: tuple[int, int] | None = None,
                 cache_dir: str | os.PathLike | None = None) -> Dataset:
    """Load data from a user's description of it.

    Parameters
    ----------
    spec : str
        ``"cifar10"``, a folder of class folders, a ``.zip`` of one, or an ``.npz``.
    split : {"test", "train", "all"}
        Which split to take where the data has both; ``"all"`` is train then test, one
        dataset (for CIFAR-10 all 60,000 images, the test images at 50,000 onwards).
    size : (height, width), optional
        Resize images from folders and zips to this size.
    cache_dir : path, optional
        Where image folders keep their decoded arrays (see :func:`load_image_folder`).
    """
    if split == ALL:
        return _train_and_test(spec, size, cache_dir)
    if spec.lower() in ("cifar10", "cifar-10"):
        return load_cifar10(split, cache_dir=cache_dir)
    path = Path(spec).expanduser()
    if not path.exists():
        raise DataError(
            f"No data at {spec}. Give --data a folder of class folders, a .zip of one, an .npz "
            "with arrays x and y, or 'cifar10'."
        )
    if path.is_dir():
        return load_image_folder(path, split=split, size=size, cache_dir=cache_dir)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".zip":
        return load_image_zip(path, split=split, size=size)
    raise DataError(f"{path.name}: unknown data format {suffix!r}; use a folder, a .zip or an .npz.")


def load_image_zip(path: str | os.PathLike, split: str | None = "test",
                   size: tuple[int, int] | None = None, limits=None) -> Dataset:
    """Load a zip of an image folder (``<class>/*`` or ``<split>/<class>/*``), checked and
    unpacked by :func:`deepling.data.archives.unpacked_zip` (DataError for an unsafe or
    oversized one)."""
    from deepling.data.archives import unpacked_zip
    from deepling.data.limits import UploadLimits

    path = Path(path).expanduser()
    limits = limits or UploadLimits.from_env()
    with unpacked_zip(path, limits, SPLITS) as base:
        ds = load_image_folder(base, split=split, size=size, limits=limits)
    origin = path.name if split is None or ds.origin == str(base) else f"{path.name} ({split})"
    return Dataset(ds.images, ds.labels, ds.class_names, origin, ds.notes)


def _train_and_test(spec: str, size, cache_dir) -> Dataset:
    train, test = (load_dataset(spec, s, size, cache_dir) for s in SPLITS)
    if train.fingerprint == test.fingerprint:  # data without splits: it is all of it already
        return test
    if train.class_names != test.class_names or train.image_shape != test.image_shape:
        raise DataError(f"{spec}: the train and test splits differ in classes or image size, so "
                        "they cannot be shown as one; choose one split.")
    origin = test.origin.replace("test", "train + test", 1) if "test" in test.origin else f"{spec} (train + test)"
    return Dataset(np.concatenate([train.images, test.images]), np.concatenate([train.labels, test.labels]),
                   test.class_names, origin, train.notes + test.notes)


# --- CIFAR-10 -----------------------------------------------------------------------------

def load_cifar10(split: str = "test", root: str | os.PathLike | None = None,
                 cache_dir: str | os.PathLike | None = None) -> Dataset:
    """CIFAR-10 from a local copy if one is named, else the Keras way.

    A local copy (``root``, else the ``DEEPLING_CIFAR10`` environment variable) may be an
    image folder with ``train/`` and ``test/`` class folders (decoded arrays kept in
    ``cache_dir`` when given, see :func:`load_image_folder`) or an ``.npz``. Without one,
    ``keras.datasets.cifar10.load_data()`` is used, which downloads once and caches under
    ``~/.keras/datasets``.
    """
    _check_split(split)
    root = root or os.environ.get(CIFAR10_ENV)
    if root:
        root = Path(root).expanduser()
        if not root.exists():
            raise DataUnavailableError(
                f"{CIFAR10_ENV} (or --data) points to {root}, which does not exist. Point it at "
                "a CIFAR-10 image folder (train/<class>/*.jpg, test/<class>/*.jpg) or unset it "
                "to use the Keras download."
            )
        if root.suffix.lower() == ".npz":
            return load_npz(root)
        ds = load_image_folder(root, split=split, cache_dir=cache_dir)
        return Dataset(ds.images, ds.labels, ds.class_names, f"CIFAR-10 {split} ({root})", ds.notes)
    return _load_cifar10_keras(split)


def _load_cifar10_keras(split: str) -> Dataset:
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = keras.datasets.cifar10.load_data()
    except Exception as exc:  # network errors come in many types (URLError, OSError, HTTP...)
        raise DataUnavailableError(
            "CIFAR-10 is not available on this machine: there is no cached copy under "
            f"~/.keras/datasets and the download failed ({type(exc).__name__}: {exc}). Either "
            "connect once so Keras can cache it, or point Deepling at a local copy with "
            f"--data PATH or the environment variable {CIFAR10_ENV}=PATH (an image folder with "
            "train/<class>/ and test/<class>/ folders, or an .npz with arrays x and y). To use "
            "other data entirely, pass --data with your own image folder, .zip or .npz."
        ) from None
    x, y = (x_test, y_test) if split == "test" else (x_train, y_train)
    return Dataset(x, y.reshape(-1), CIFAR10_CLASSES, f"CIFAR-10 {split} (Keras cache)")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise DataError(f"split must be one of {SPLITS}, got {split!r}")


# --- image folders ------------------------------------------------------------------------

# Said wherever a flat folder's images appear (upload, data card, the command line).
UNLABELLED_NOTE = ("no <class>/ folders, so the images are unlabelled: the views colour them "
                   "by the model's prediction; to give them labels, put each class's images in "
                   "a folder named for it (cat/0001.png, dog/0002.png, …)")


def load_image_folder(
    root: str | os.PathLike,
    split: str | None = "test",
    size: tuple[int, int] | None = None,
    cache_dir: str | os.PathLike | None = None,
    limits=None,
) -> Dataset:
    """Load ``root/<class>/*`` (or ``root/<split>/<class>/*``) as a dataset.

    Class names are the folder names, sorted, taken over all splits so that labels agree
    between train and test. Images of mixed sizes are resized to ``size`` or, without one,
    to the most common size; grayscale is kept only if every image is grayscale. Files that
    are not readable images are skipped and counted in ``Dataset.notes``.

    With ``cache_dir``, decoded arrays are kept there (``.npz``, no pickle) keyed by every
    file's name, size and modification time, so a second start reads one file instead of
    thousands; the service passes its cache folder, a notebook may pass its own.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"{root} is not a folder.")
    base, class_names = _layout(root, split)
    files, labels = [], []
    for k, name in enumerate(class_names):
        folder = base / name
        if not folder.is_dir():
            continue
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                files.append(f)
                labels.append(k)
    unlabelled = not class_names
    if unlabelled:  # a flat folder of images: unlabelled
        files = sorted(f for f in base.iterdir() if f.is_file() and not f.name.startswith("."))
        labels = [-1] * len(files)
    if not files:
        raise DataError(
            f"No image files under {base}. Expected one folder per class "
            "(e.g. cat/0001.png, dog/0002.png), optionally inside train/ and test/."
        )

    cached = None
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        cached = Path(cache_dir) / f"folder-{_folder_key(files, split, size)}.npz"
    origin = str(root) if split is None or base == root else f"{root} ({split})"
    if cached is not None and cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            notes = tuple(str(n) for n in z["notes"])
            if unlabelled and UNLABELLED_NOTE not in notes:  # kept before the note was said
                notes = (UNLABELLED_NOTE,) + notes
            return Dataset(z["x"], z["y"], class_names, origin, notes)

    images, keep, notes = _decode_all(files, size, limits)
    if unlabelled:
        notes = (UNLABELLED_NOTE,) + tuple(notes)
    ds = Dataset(images, np.asarray(labels)[keep], class_names, origin, notes)
    if cached is not None:
        tmp = cached.with_suffix(".tmp.npz")
        try:
            np.savez(tmp, x=ds.images, y=ds.labels, notes=np.array(ds.notes, dtype=str))
            os.replace(tmp, cached)
        except OSError:  # a full disk: the data is decoded all the same, just not kept
            tmp.unlink(missing_ok=True)
    return ds


def _layout(root: Path, split: str | None) -> tuple[Path, tuple[str, ...]]:
    """Where the class folders are, and the class names."""
    split_dirs = [root / s for s in SPLITS if (root / s).is_dir()]
    if split is not None and split_dirs:
        _check_split(split)
        base = root / split
        if not base.is_dir():
            have = ", ".join(d.name for d in split_dirs)
            raise DataError(f"{root} has no {split}/ folder (it has {have}).")
        names = sorted({d.name for s in split_dirs for d in s.iterdir()
                        if d.is_dir() and not d.name.startswith(".")})
        return base, tuple(names)
    names = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    return root, tuple(names)


def _folder_key(files: list[Path], split, size) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(f"v1|{split}|{size}".encode())
    for f in files:
        st = f.stat()
        h.update(f"{f}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _decode_all(files: list[Path], size, limits=None):
    """Decode files in threads (Pillow releases the GIL while decoding), within a pixel
    budget: each image's header is read first, images over ``limits.max_image_pixels`` are
    skipped, larger photos are downscaled to ``limits.max_image_side`` as they are decoded,
    and the whole set must fit ``limits.max_decoded_bytes``."""
    from deepling.data.images import fit_side
    from deepling.data.limits import UploadLimits

    limits = limits or UploadLimits.from_env()
    skipped: dict[str, list[str]] = collections.defaultdict(list)
    headers = {}
    too_large = f"too large (over {limits.max_image_pixels:,} pixels, DEEPLING_MAX_IMAGE_PIXELS)"
    for f in files:
        try:
            with Image.open(f) as img:
                headers[f] = (img.height, img.width, img.mode)
        except Image.DecompressionBombError:  # Pillow's own bound, far above ours
            skipped[too_large].append(f.name)
            continue
        except Exception:
            skipped["not an image"].append(f.name)
            continue
        if img.height * img.width > limits.max_image_pixels:
            del headers[f]
            skipped[too_large].append(f.name)
    readable = [f for f in files if f in headers]
    if not readable:
        shown = ", ".join(f.name for f in files[:3]) + (", …" if len(files) > 3 else "")
        reasons = "; ".join(sorted(skipped))
        raise DataError(f"None of the {len(files)} files could be read as an image ({shown}: "
                        f"{reasons}). Put PNG, JPEG, BMP, GIF, TIFF or WebP files in one folder "
                        "per class (cat/0001.png, dog/0002.png).")
    channels = 1 if all(headers[f][2] in _GRAY_MODES for f in readable) else 3
    sizes = collections.Counter(headers[f][:2] for f in readable)
    target = tuple(size) if size else fit_side(*sizes.most_common(1)[0][0], limits.max_image_side)
    decoded_bytes = len(readable) * target[0] * target[1] * channels
    if decoded_bytes > limits.max_decoded_bytes:
        raise DataError(
            f"{len(readable):,} images of {target[0]}×{target[1]} take "
            f"{decoded_bytes / (1 << 20):,.0f} MB decoded; this server decodes at most "
            f"{limits.max_decoded_bytes >> 20:,} MB per dataset (DEEPLING_MAX_DECODED_MB). "
            "Upload fewer or smaller images.")
    # Big images decode one at a time: four 40-megapixel decodes at once would take 0.5 GB.
    workers = 4 if max(h * w for h, w in sizes) <= 4_000_000 else 1

    def one(f):
        try:
            return decode_image(f, size=target, channels=channels,
                                max_pixels=limits.max_image_pixels)
        except ImageDecodeError as exc:
            skipped[exc.reason].append(f.name)
            return None

    with ThreadPoolExecutor(max_workers=workers) as pool:
        decoded = list(pool.map(one, readable))
    index = {f: i for i, f in enumerate(files)}
    keep = [index[f] for f, a in zip(readable, decoded) if a is not None]
    arrays = [a for a in decoded if a is not None]
    if not arrays:
        reasons = "; ".join(f"{reason}: {', '.join(names[:3])}" for reason, names in skipped.items())
        raise DataError(f"None of the {len(files)} files could be decoded as an image ({reasons}). "
                        "Check that they are complete image files.")

    notes = []
    n_resized = sum(n for s, n in sizes.items() if s != target)
    if n_resized:
        notes.append(f"resized {n_resized} of {len(readable)} images to {target[0]}×{target[1]}")
    for reason, names in sorted(skipped.items()):
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        notes.append(f"skipped {len(names)} file(s), {reason}: {shown}")
    return np.stack(arrays), np.asarray(keep, dtype=np.int64), tuple(notes)


# --- npz ----------------------------------------------------------------------------------

def load_npz(path: str | os.PathLike, origin: str | None = None, limits=None) -> Dataset:
    """Load an ``.npz`` with ``x`` (N×H×W[×C]), ``y`` (N, N×1 or one-hot) and optional
    ``class_names``. Object arrays are refused: reading them would unpickle user data.

    An ``.npz`` is a zip, so it gets the zip checks (member names, count, declared size,
    packing ratio; :func:`deepling.data.archives.check_zip_members`), and each array's own
    header must fit ``limits.max_decoded_bytes`` and the size its member declares before
    anything is allocated; the bytes are then counted as they are read (headers can lie).
    """
    from deepling.data.archives import check_zip_members
    from deepling.data.limits import UploadLimits

    path = Path(path)
    origin = origin or str(path)
    limits = limits or UploadLimits.from_env()
    # np.load takes any non-zip for a pickle and then suggests loading it unsafely: say
    # what the file should be instead.
    if not zipfile.is_zipfile(path):
        raise DataError(f"{path.name} is not an .npz archive. Save the arrays with "
                        "numpy.savez('data.npz', x=images, y=labels) and upload that file.")
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip_members(zf, path.name, limits)
            members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
            missing = {"x", "y"} - set(members)
            if missing:
                raise DataError(
                    f"{path.name} lacks array(s) {sorted(missing)}; it has {sorted(members)}. "
                    "Save with numpy.savez(path, x=images, y=labels, class_names=names)."
                )
            budget = {"left": limits.max_decoded_bytes, "total": limits.max_decoded_bytes}
            x, y = (_read_member(zf, members[k], path.name, budget) for k in ("x", "y"))
            names = (_read_member(zf, members["class_names"], path.name, budget)
                     if "class_names" in members else None)
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise DataError(f"{path.name} is not a readable .npz file ({exc}).") from None
    return dataset_from_arrays(x, y, names, origin)


def dataset_from_arrays(x, y=None, class_names=None, origin: str = "arrays in memory") -> Dataset:
    """A Dataset from arrays a notebook already holds, converted as an ``.npz`` would be.

    ``x`` is N×H×W[×C] (uint8 0–255, or floats in 0–1 / −1–1); ``y`` class indices or
    one-hot, or None for unlabelled images; ``class_names`` optional.
    """
    x = np.asarray(x)
    y = np.full(len(x), -1) if y is None else np.asarray(y)
    return Dataset(_as_uint8_images(x, origin), _as_labels(y, origin),
                   _class_names(class_names, y), origin)


def dataset_from_tf(data, class_names=None, origin: str = "a tf.data.Dataset", limit: int | None = None) -> Dataset:
    """A Dataset from a ``tf.data.Dataset`` of ``(images, labels)`` (batched or not).

    Reads at most ``limit`` images (all by default) into memory.
    """
    xs, ys, n = [], [], 0
    for x, y in data.as_numpy_iterator():
        if x.ndim == 3:  # unbatched: one image per element
            x, y = x[None], np.asarray(y).reshape(1, *np.shape(y))
        xs.append(x)
        ys.append(y)
        n += len(x)
        if limit and n >= limit:
            break
    if not xs:
        raise DataError(f"{origin} is empty: it yielded no (images, labels) pairs.")
    x, y = np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]
    return dataset_from_arrays(x, y, class_names, origin)


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str, budget: dict) -> np.ndarray:
    """One ``.npy`` member, its size checked from its header before it is allocated."""
    fmt = np.lib.format
    with zf.open(info) as f:
        version = fmt.read_magic(f)
        if version not in ((1, 0), (2, 0)):
            raise DataError(f"{name}: {info.filename} uses .npy format {version}; save it with "
                            "numpy.savez.")
        read_header = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject:
            raise DataError(
                f"{name} holds Python objects in {info.filename}, which Deepling does not "
                "unpickle. Save images and labels as numeric arrays and class names as a "
                "string array.")
        nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if nbytes > info.file_size:
            raise DataError(f"{name}: {info.filename} claims {nbytes:,} bytes of data but holds "
                            f"{info.file_size:,}; the file is damaged. Save it again.")
        if nbytes > budget["left"]:
            raise DataError(
                f"{name}: {info.filename} unpacks to {nbytes / (1 << 20):,.0f} MB; this server "
                f"reads at most {budget['total'] >> 20:,} MB per dataset "
                "(DEEPLING_MAX_DECODED_MB). Upload fewer or smaller images.")
        budget["left"] -= nbytes
        data = np.empty(nbytes, np.uint8)
        view, done = memoryview(data), 0
        while done < nbytes:  # counted as read: never more than the header promised
            got = f.readinto(view[done:done + (1 << 20)])
            if not got:
                raise DataError(f"{name}: {info.filename} ends early; the file is truncated. "
                                "Save it again.")
            done += got
    return data.view(dtype).reshape(shape, order="F" if fortran else "C")


def _as_uint8_images(x: np.ndarray, origin: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"{origin}: x must be N×H×W or N×H×W×C, got shape {x.shape}.")
    if x.shape[-1] == 4:  # RGBA: drop alpha
        x = x[..., :3]
    if x.shape[-1] not in (1, 3) and x.shape[1] in (1, 3):  # channels-first
        x = np.moveaxis(x, 1, -1)
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number):
        raise DataError(f"{origin}: x has dtype {x.dtype}; expected numbers.")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(f"{origin}: x contains NaN or infinite values.")
    lo, hi = x.min(initial=0), x.max(initial=0)
    if lo >= 0 and hi <= 1.0:
        x = x * 255.0
    elif lo >= -1 and hi <= 1.0:
        x = (x + 1.0) * 127.5
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _as_labels(y: np.ndarray, origin: str) -> np.ndarray:
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    y = y.reshape(-1)
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{origin}: y must hold integer class indices, got dtype {y.dtype}.")
    if y.size and (not np.isfinite(y).all() or y.max() >= MAX_CLASSES):
        raise DataError(f"{origin}: y must hold class indices below {MAX_CLASSES:,} (−1 for "
                        "unlabelled).")
    return y.astype(np.int64)


def _class_names(names, y) -> tuple[str, ...]:
    if names is not None:
        return tuple(str(n) for n in np.asarray(names).reshape(-1)[:MAX_CLASSES])
    n = (y.shape[1] if y.ndim == 2 and y.shape[1] > 1 else int(np.max(y, initial=-1)) + 1)
    return tuple(str(k) for k in range(n))

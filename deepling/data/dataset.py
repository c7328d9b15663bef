"""The one dataset type every view works with."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


class DataError(ValueError):
    """A dataset cannot be read or does not fit; the message says what to do instead."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """Images with integer labels, the names of the classes and where they came from.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, H, W, C)
        Pixels in 0..255, C is 1 (grayscale) or 3 (RGB).
    labels : ndarray of int, shape (N,)
        Class index per image, ``-1`` where the label is unknown.
    class_names : tuple of str
        ``class_names[k]`` names class ``k``.
    origin : str
        Where the data came from, in words a user recognises (a path, "CIFAR-10 test").
    notes : tuple of str
        Things the loader did or skipped that the user should hear about.
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    origin: str
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self):
        images = np.asarray(self.images)
        labels = np.asarray(self.labels).astype(np.int64).reshape(-1)
        if images.ndim != 4 or images.shape[-1] not in (1, 3):
            raise DataError(
                f"{self.origin}: images must be N x H x W x C with C = 1 or 3, got shape {images.shape}."
            )
        if images.dtype != np.uint8:
            raise DataError(f"{self.origin}: images must be uint8 (0..255), got {images.dtype}.")
        if len(labels) != len(images):
            raise DataError(f"{self.origin}: {len(images)} images but {len(labels)} labels.")
        if len(labels) and labels.max(initial=-1) >= len(self.class_names):
            raise DataError(
                f"{self.origin}: label {labels.max()} but only {len(self.class_names)} class names."
            )
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", tuple(str(c) for c in self.class_names))
        object.__setattr__(self, "notes", tuple(self.notes))

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def labelled(self) -> bool:
        """Whether any image has a label (a flat folder of new photos has none)."""
        return bool(self.n_classes) and bool((np.asarray(self.labels) >= 0).any())

    @cached_property
    def fingerprint(self) -> str:
        """Content hash of pixels, labels and class names: the cache key for this data."""
        h = hashlib.blake2b(digest_size=16)
        h.update(str(self.images.shape).encode())
        h.update(np.ascontiguousarray(self.images).data)
        h.update(self.labels.tobytes())
        h.update("\x00".join(self.class_names).encode())
        return h.hexdigest()

    def subset(self, indices) -> "Dataset":
        """The images at ``indices``, same class names and origin."""
        idx = np.asarray(indices, dtype=np.int64)
        return Dataset(self.images[idx], self.labels[idx], self.class_names, self.origin, self.notes)

    def with_images(self, images: np.ndarray, note: str | None = None) -> "Dataset":
        """The same labelled data with converted pixels, remembering why."""
        notes = self.notes + ((note,) if note else ())
        return Dataset(images, self.labels, self.class_names, self.origin, notes)

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.labels[self.labels >= 0], minlength=self.n_classes)

    def describe(self) -> str:
        h, w, c = self.image_shape
        if not self.labelled:
            return f"{len(self):,} unlabelled images of {h}×{w}×{c}, from {self.origin}"
        return f"{len(self):,} images of {h}×{w}×{c}, {self.n_classes} classes, from {self.origin}"

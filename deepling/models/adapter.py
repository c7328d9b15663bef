"""A loaded Keras model together with what Deepling needs to feed it and read it.

``ModelAdapter`` answers three questions for every view: how to turn uint8 pixels into the
model's input (range, size, channels), whether the output is probabilities or logits, and
what the model's layers are.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from deepling.data.dataset import DataError, Dataset
from deepling.data.images import convert_channels, resize_images

# Layers that map 0..255 pixels into the model's own range when they come first.
_RESCALING_TYPES = {"Rescaling", "Normalization"}
# Where as_adapter keeps the wrapper of a plain keras.Model.
_ADAPTER = "_deepling_adapter"


class ModelError(ValueError):
    """A model cannot be loaded or used; the message says what to do instead."""


@dataclass(eq=False)
class ModelAdapter:
    """A Keras model plus its input convention and output kind.

    Parameters
    ----------
    model : keras.Model
    name : str
        What the user calls it (file name, "demo CNN").
    fingerprint : str
        Content hash of the model file: the cache key for everything computed from it.
    input_range : (float, float)
        The pixel range the model expects; ``(0, 255)`` when it rescales inside.
    notes : list of str
        What was detected or adapted, for the user to read.
    preprocessing : str
        ``"range"`` (pixels mapped linearly onto ``input_range``) or a keras.applications
        convention (:data:`PREPROCESSING_MODES`: ``"caffe"``, ``"tf"``, ``"torch"``).
    """

    model: object
    name: str
    fingerprint: str
    input_range: tuple[float, float] = (0.0, 255.0)
    notes: list[str] = field(default_factory=list)
    # Names of the outputs where the model carries them (the demo CNN: CIFAR-10's), for
    # data whose classes are not the model's (unlabelled images, another class list).
    output_names: tuple[str, ...] = ()
    preprocessing: str = "range"

    @classmethod
    def from_model(cls, model, name: str, fingerprint: str | None = None, input_range=None,
                   preprocessing: str | None = None):
        """Wrap a Keras model, detecting its input range and checking it is an image model.

        A loaded Sequential model, or one with nested models, is unfolded first
        (:func:`deepling.models.flat.flat_model`), so every view reads every layer.
        """
        from deepling.models.flat import flat_model

        model = flat_model(model)
        shape = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else ()
        if len(model.inputs) != 1 or len(shape) != 3 or shape[-1] not in (1, 3):
            raise ModelError(
                f"{name}: Deepling needs a model with one image input of shape (H, W, 1 or 3); "
                f"this one takes {[tuple(i.shape) for i in model.inputs]}."
            )
        notes = []
        preprocessing = _check_preprocessing(preprocessing)
        if preprocess_range(preprocessing) is not None and input_range is None:
            input_range = preprocess_range(preprocessing)
            notes.append(f"input: pixels scaled to {'0–255' if input_range[1] == 255 else '0–1'} (chosen)")
        if preprocessing in ("auto", None) and input_range is None:
            from deepling.models.applications import detect_application, preprocessing_of

            family = detect_application(model)
            if family is not None and preprocessing_of(family) != "raw":
                preprocessing = preprocessing_of(family)
                notes.append(f"input: {PREPROCESSING_MODES[preprocessing]} (detected: built by "
                             f"keras.applications {family}; pass --preprocess to change)")
        if preprocessing in PREPROCESSING_MODES:
            if not notes:
                notes.append(f"input: {PREPROCESSING_MODES[preprocessing]} (chosen)")
            input_range = (0.0, 255.0) if input_range is None else input_range
        else:
            preprocessing = "range"
        if input_range is None:
            first = _first_compute_layer(model)
            if first is not None and type(first).__name__ in _RESCALING_TYPES:
                input_range = (0.0, 255.0)
                notes.append(f"input: raw 0–255 pixels (the model rescales in '{first.name}')")
            else:
                input_range = (0.0, 1.0)
                notes.append("input: pixels scaled to 0–1 (no rescaling layer found; "
                             "pass --input-range to change)")
        fingerprint = fingerprint or _weights_fingerprint(model)
        adapter = cls(model, name, fingerprint, tuple(map(float, input_range)), notes,
                      preprocessing=preprocessing)
        if adapter.output_kind == "logits":
            notes.append("output: logits (no softmax at the end); shown as softmax probabilities")
        return adapter

    # --- input -------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int]:
        h, w, c = self.model.inputs[0].shape[1:]
        return (h, w, c)

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """uint8 N×H×W×C (already fitted) → float32 the way the model expects it."""
        order, scale, offset = self.affine()
        x = np.asarray(images, dtype=np.float32)
        if order is not None:
            x = x[..., order]
        if np.all(scale == 1.0) and np.all(offset == 0.0):
            return x
        return x * scale + offset

    def affine(self):
        """(channel order or None, per-channel scale, per-channel offset): the model's input
        is ``pixels[..., order] * scale + offset`` (methods redo it in TF for gradients)."""
        c = int(self.model.inputs[0].shape[-1] or 3)
        if self.preprocessing == "range" or c != 3:
            lo, hi = self.input_range
            return None, np.full(c, (hi - lo) / 255.0, np.float32), np.full(c, lo, np.float32)
        if self.preprocessing == "caffe":  # RGB → BGR, minus the ImageNet mean (in BGR)
            return [2, 1, 0], np.ones(3, np.float32), -np.array([103.939, 116.779, 123.68], np.float32)
        if self.preprocessing == "tf":
            return None, np.full(3, 1 / 127.5, np.float32), np.full(3, -1.0, np.float32)
        mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])  # torch
        return None, (1 / (255 * std)).astype(np.float32), (-mean / std).astype(np.float32)

    @property
    def input_key(self) -> list:
        """What of the input convention goes into cache keys."""
        return list(self.input_range) if self.preprocessing == "range" else [self.preprocessing]

    def fit_dataset(self, dataset: Dataset) -> Dataset:
        """Convert ``dataset`` to the model's input size and channels, noting what changed."""
        h, w, c = self.input_shape
        dh, dw, dc = dataset.image_shape
        images, done = dataset.images, []
        if dc != c:
            if {dc, c} != {1, 3}:
                raise DataError(f"{self.name} expects {c}-channel images; {dataset.origin} has {dc}.")
            images = convert_channels(images, c)
            done.append(f"converted {'RGB to grayscale' if c == 1 else 'grayscale to RGB'}")
        if h is None or w is None:  # fully convolutional: any size goes
            h, w = dh, dw
        if (dh, dw) != (h, w):
            images = resize_images(images, (h, w))
            done.append(f"resized {dh}×{dw} to {h}×{w}")
        if not done:
            return dataset
        return dataset.with_images(images, f"to fit {self.name}: " + ", ".join(done))

    # --- output ------------------------------------------------------------------------
    @cached_property
    def output_kind(self) -> str:
        """'probabilities' when the model ends in softmax, otherwise 'logits'."""
        last = self.model.layers[-1]
        act = getattr(last, "activation", None)
        act_name = getattr(act, "__name__", "") or type(last).__name__
        return "probabilities" if "softmax" in act_name.lower() else "logits"

    @property
    def n_outputs(self) -> int:
        return int(self.model.outputs[0].shape[-1])

    def predict_proba(self, images: np.ndarray, batch_size: int | None = None) -> np.ndarray:
        """Class probabilities (N×K, float32) for fitted images, pixels in 0..255; batches
        sized by the model's activation memory unless ``batch_size`` is smaller."""
        from deepling.models.memory import batch_size_for

        images = check_pixels(images)
        batch_size = min(batch_size or batch_size_for(self), batch_size_for(self))
        out = []
        for start in range(0, len(images), batch_size):
            x = self.preprocess(images[start:start + batch_size])
            out.append(np.asarray(self.model(x, training=False)))
        raw = np.concatenate(out) if out else np.zeros((0, self.n_outputs), np.float32)
        return to_probabilities(raw, self.output_kind)

    def class_names(self, dataset: Dataset | None) -> tuple[str, ...]:
        """Names for the model's outputs: the data's if they match in number, else the
        model's own: ``output_names`` (names the adapter was given), else
        :func:`deepling.models.class_names.model_class_names` (names the model carries, or
        ImageNet's for a ``keras.applications`` head); else indices."""
        if dataset is not None and dataset.n_classes == self.n_outputs:
            return dataset.class_names
        if len(self.output_names or ()) == self.n_outputs:
            return tuple(self.output_names)
        from deepling.models.class_names import model_class_names

        own = model_class_names(self.model)
        if own is not None and len(own) == self.n_outputs:
            return own
        return tuple(str(k) for k in range(self.n_outputs))


# Named input conventions of keras.applications models, as said on screen.
PREPROCESSING_MODES = {
    "caffe": "caffe-style: RGB→BGR, ImageNet mean subtracted (VGG, ResNet)",
    "tf": "pixels scaled to −1..1 (MobileNet, ResNetV2, Inception, Xception, NASNet)",
    "torch": "0..1, then ImageNet mean and standard deviation per channel (DenseNet)",
}
# What --preprocess accepts: auto (detect), a named convention, raw 0..255, or 0..1.
PREPROCESS_CHOICES = ("auto", "caffe", "tf", "torch", "raw", "unit")


def _check_preprocessing(value):
    if value is None:
        return None
    if value not in PREPROCESS_CHOICES:
        raise ModelError(f"Unknown preprocessing {value!r}; choose one of "
                         f"{', '.join(PREPROCESS_CHOICES)}.")
    return value


def preprocess_range(value):
    """The input range a --preprocess choice fixes (raw, unit), else None."""
    return {"raw": (0.0, 255.0), "unit": (0.0, 1.0)}.get(value)


def as_adapter(model, input_range=None) -> ModelAdapter:
    """``model`` as a :class:`ModelAdapter`: an adapter is returned as it is; a plain
    ``keras.Model`` is wrapped once (input range detected, see :meth:`ModelAdapter.from_model`)
    and the wrapper kept on the model, so compiled functions and fingerprints are reused by
    the next call on the same model.

    Every library function that takes a model calls this on the way in, so a notebook can
    pass its own ``keras.Model``.
    """
    if isinstance(model, ModelAdapter):
        return model
    adapter = getattr(model, _ADAPTER, None) if input_range is None else None
    if isinstance(adapter, ModelAdapter):
        return adapter
    if not hasattr(model, "inputs") or not hasattr(model, "layers"):
        raise ModelError(f"Expected a keras.Model or a ModelAdapter, got {type(model).__name__}.")
    adapter = ModelAdapter.from_model(model, getattr(model, "name", "model"), input_range=input_range)
    if input_range is None:
        # object.__setattr__: Keras would otherwise track the wrapper as part of the model.
        object.__setattr__(model, _ADAPTER, adapter)
    return adapter


def check_pixels(images) -> np.ndarray:
    """``images`` as an array of pixels in 0..255; ValueError for anything else.

    Float pixels all within 0..1 (and not all 0) are refused: they are almost surely
    already scaled for a model, and read as 0..255 they would be a nearly black image.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise ValueError(f"Images must be numeric pixels in 0..255, got dtype {x.dtype}.")
    if x.size:
        if not np.isfinite(x).all() or x.min() < 0 or x.max() > 255:
            raise ValueError("Images must be pixels in 0..255 (not the model's input range); "
                             "Deepling converts to the model's range itself.")
        if np.issubdtype(x.dtype, np.floating) and 0 < x.max() <= 1.0:
            raise ValueError(
                "These pixels are floats in 0..1, but Deepling takes pixels in 0..255 (it "
                "scales them to the model's input range itself). Pass (images * 255) or the "
                "uint8 images.")
    return x


def to_probabilities(raw: np.ndarray, kind: str) -> np.ndarray:
    """Softmax for logits; probabilities pass through."""
    raw = np.asarray(raw, dtype=np.float32)
    if kind == "probabilities":
        return raw
    from scipy.special import softmax

    return softmax(raw, axis=-1).astype(np.float32)


def _first_compute_layer(model):
    for layer in model.layers:
        if type(layer).__name__ != "InputLayer":
            return layer
    return None


def _weights_fingerprint(model) -> str:
    h = hashlib.blake2b(digest_size=16)
    h.update(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).data)
    return h.hexdigest()


def file_fingerprint(path: str | Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()

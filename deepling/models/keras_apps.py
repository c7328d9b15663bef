"""Building a keras.applications network by name (``keras:ResNet50@224``) as a
:class:`~deepling.models.adapter.ModelAdapter`, apart from :mod:`deepling.models.applications`
(which the adapter reads for the networks' input conventions), so neither imports the other
back."""

from __future__ import annotations

from deepling.models.adapter import ModelAdapter, ModelError
from deepling.models.applications import (KERAS_PREFIX, WEIGHTS_ENV, check_name, imagenet_class_names,
                                          preprocessing_of, smallest_input)


def build_application(spec: str, weights: str | None = None):
    """A ModelAdapter for ``"keras:ResNet50"`` (any keras.applications name, optionally
    ``"keras:MobileNetV2@96"`` for another square input size).

    Built the Keras way: ``keras.applications.<Name>(weights="imagenet")``, which downloads
    the weights once into ``~/.keras/models`` and reads them from there afterwards. With
    ``weights="none"`` (or ``DEEPLING_KERAS_WEIGHTS=none``) the weights are random: for
    tests and machines that cannot download. The model's own preprocessing is used, and the
    fingerprint names the architecture, size and weights.
    """
    import os

    import keras

    name, _, size = spec[len(KERAS_PREFIX):].partition("@") if spec.startswith(KERAS_PREFIX) \
        else spec.partition("@")
    try:
        check_name(name)
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    weights = (weights or os.environ.get(WEIGHTS_ENV) or "imagenet").lower()
    weights = None if weights == "none" else weights
    kwargs = {}
    if size:
        if not size.isdigit() or not smallest_input(name) <= int(size) <= 1024:
            raise ModelError(f"{spec}: the size after @ must be a number from "
                             f"{smallest_input(name)} to 1024.")
        kwargs["input_shape"] = (int(size), int(size), 3)
    try:
        model = getattr(keras.applications, name)(weights=weights, **kwargs)
    except Exception as exc:  # noqa: BLE001 - a download or a size Keras refuses
        raise ModelError(
            f"keras.applications.{name} could not be built{' with ImageNet weights' if weights else ''}: "
            f"{exc}. Without a network connection, set {WEIGHTS_ENV}=none for random weights.") from None
    shape = "x".join(str(d) for d in model.inputs[0].shape[1:])
    adapter = ModelAdapter.from_model(model, f"{name} ({'ImageNet' if weights else 'random'} weights)",
                                      fingerprint=f"keras-{name}-{shape}-{weights or 'random'}",
                                      preprocessing=preprocessing_of(name)
                                      if preprocessing_of(name) != "raw" else "raw")
    if adapter.n_outputs == 1000:
        adapter.output_names = (imagenet_class_names() if weights else None) or ()
    adapter.notes.append(f"built by keras.applications.{name}"
                         + (" with ImageNet weights" if weights else " with random weights"))
    return adapter

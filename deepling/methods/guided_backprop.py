"""Guided Backpropagation (Springenberg et al. 2015): the logit's gradient with every ReLU
passing back only positive gradients where its input was positive.

The override lives on a *clone* of the model (same weights, ReLUs replaced by a guided
ReLU); the user's model is never changed. The clone is built once and kept on the model's
:class:`~deepling.methods.ModelProbe`.
"""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import gradient_attributions


def _guided_relu():
    import tensorflow as tf

    @tf.custom_gradient
    def guided_relu(x):
        y = tf.nn.relu(x)

        def grad(dy):
            return dy * tf.cast(x > 0, dy.dtype) * tf.cast(dy > 0, dy.dtype)

        return y, grad

    return guided_relu


def guided_clone(model):
    """A copy of ``model`` (same weights) whose ReLUs back-propagate guided gradients.

    Replaces ``activation='relu'`` of any layer, ``Activation('relu')`` and plain
    ``ReLU()`` layers. Returns ``(clone, number of ReLUs replaced)``.
    """
    import keras

    relu = _guided_relu()
    replaced = [0]

    def clone(layer):
        kind = type(layer).__name__
        config = layer.get_config()
        if kind == "ReLU" and not config.get("max_value") and not config.get("negative_slope") \
                and not config.get("threshold"):
            replaced[0] += 1
            return keras.layers.Activation(relu, name=layer.name)
        if config.get("activation") == "relu":
            replaced[0] += 1
            config["activation"] = relu
        return type(layer).from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy, replaced[0]


def guided_probe(probe: ModelProbe) -> ModelProbe:
    """The probe of the guided clone of ``probe``'s model (built once, kept on ``probe``)."""
    from deepling.models.adapter import ModelAdapter

    def build():
        copy, n = guided_clone(probe.model)
        adapter = ModelAdapter(copy, f"{probe.adapter.name} (guided ReLUs)",
                               probe.adapter.fingerprint, tuple(probe.input_range))
        guided = ModelProbe(adapter)
        guided.relus_replaced = n
        return guided

    return probe._compiled(("guided_clone",), build)


def sync_guided(probe: ModelProbe) -> None:
    """Copy ``probe``'s model weights into its guided clone, if one was built (after the
    model's weights were changed in place, as the sanity check does)."""
    guided = probe._functions.get(("guided_clone",))
    if guided is not None:
        guided.model.set_weights(probe.model.get_weights())


def guided_backprop(model, image, target=None, batch_size: int = 256):
    """Guided Backpropagation map: ``max over channels |guided ∂ z_c / ∂ pixel|``.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255.
    target : int or array of int, optional
        Class to explain; the predicted class by default.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: the guided gradient's magnitude (H×W); ``heatmap``: scaled to 0..1.
    """
    return gradient_attributions(guided_probe(ModelProbe.of(model)), image, target, batch_size,
                                 lambda g, x: np.abs(g).max(axis=-1), relative, "guided_backprop",
                                 "guided gradient magnitude (relative)")

"""The workshop's model builders, by name; add one to :data:`BUILDERS` to offer it.

Every model takes raw 0..255 grayscale pixels (a first ``Rescaling`` layer, which Deepling
detects) and ends in a softmax, so it opens in every view like an uploaded model.
"""

from __future__ import annotations


def _inputs(input_shape):
    import keras

    x = keras.Input(input_shape, name="pixels")
    return x, keras.layers.Rescaling(1 / 255, name="rescale")(x)


def build_mlp(n_classes: int, input_shape=(28, 28, 1), units: int = 128):
    """Multilayer perceptron: two dense layers of ``units`` (ReLU), then softmax."""
    import keras

    inputs, x = _inputs(input_shape)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dense(units, activation="relu", name="dense1")(x)
    x = keras.layers.Dense(units, activation="relu", name="dense2")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, out, name="shapes_mlp")


def build_cnn(n_classes: int, input_shape=(28, 28, 1), filters: int = 16):
    """Small CNN: two 3×3 conv layers (ReLU), 2×2 max pooling, then softmax."""
    import keras

    inputs, x = _inputs(input_shape)
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(filters, 3, activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    out = keras.layers.Dense(n_classes, activation="softmax", name="classes")(x)
    return keras.Model(inputs, out, name="shapes_cnn")


# name → (label shown to the user, builder(n_classes, input_shape))
BUILDERS = {
    "mlp": ("MLP: two dense layers of 128, softmax", build_mlp),
    "cnn": ("CNN: two conv layers, max pooling, softmax", build_cnn),
}


def build_model(kind: str, n_classes: int, input_shape=(28, 28, 1)):
    if kind not in BUILDERS:
        raise ValueError(f"Unknown model {kind!r}; choose one of {', '.join(BUILDERS)}.")
    return BUILDERS[kind][1](n_classes, input_shape)

"""The tiny CNN and images the run-folder tests train with a Monitor (a few batches)."""

import numpy as np


def tiny_cnn():
    """A compiled 8×8×3 → 3 classes CNN (layers c1, flat, out) and 32 images with labels."""
    import keras

    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="c1")(inp)
    x = keras.layers.Flatten(name="flat")(x)
    out = keras.layers.Dense(3, activation="softmax", name="out")(x)
    model = keras.Model(inp, out, name="tiny")
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    return model, rng.random((32, 8, 8, 3)).astype("float32") * 255, rng.integers(0, 3, 32)

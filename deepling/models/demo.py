"""The demo model: an AlexNet-style CNN for CIFAR-10, and the script that trains it.

Reproduce the committed weights with::

    deepling train-demo --epochs 24 --seed 1234     # or: python -m deepling.models.demo

It rescales 0..255 pixels inside the model, so the app (and any user) feeds raw pixels.
Stages: three conv blocks (conv → batch norm → conv → max-pool), then two dense layers and
the softmax classifier. Layer names say what each step is, because the layer animation and
the architecture view show them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from deepling.resources import DEMO_MODEL

DEFAULTS = dict(epochs=24, batch_size=128, seed=1234, learning_rate=2e-3)


def build_demo_model(n_classes: int = 10, input_shape=(32, 32, 3), seed: int = 1234):
    """The AlexNet-style demo CNN (uncompiled)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = layers.Rescaling(1.0 / 255, name="rescale")(inputs)
    for block, width in enumerate((32, 64, 128), start=1):
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{block}a")(x)
        x = layers.BatchNormalization(name=f"norm{block}")(x)
        x = layers.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{block}b")(x)
        x = layers.MaxPooling2D(2, name=f"pool{block}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(0.4, name="dropout1")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(0.3, name="dropout2")(x)
    x = layers.Dense(128, activation="relu", name="fc2")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="deepling_demo_cnn")


def _augment(seed: int):
    """Random shifts and horizontal flips, done on the fly."""
    import keras
    from keras import layers

    return keras.Sequential(
        [layers.RandomFlip("horizontal", seed=seed),
         layers.RandomTranslation(0.125, 0.125, fill_mode="reflect", seed=seed)],
        name="augment",
    )


def train_demo(epochs: int, batch_size: int, seed: int, learning_rate: float,
               out: Path, log=print) -> dict:
    """Train on the CIFAR-10 training split, evaluate on the test split, save ``out``."""
    import keras
    import tensorflow as tf

    from deepling.data import load_cifar10

    keras.utils.set_random_seed(seed)
    train, test = load_cifar10("train"), load_cifar10("test")
    log(f"train: {train.describe()}\ntest: {test.describe()}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train))  # the folder is sorted by class
    x, y = train.images[order].astype("float32"), train.labels[order]

    augment = _augment(seed)
    ds = (tf.data.Dataset.from_tensor_slices((x, y))
          .shuffle(10_000, seed=seed, reshuffle_each_iteration=True)
          .batch(batch_size)
          .map(lambda a, b: (augment(a, training=True), b), num_parallel_calls=tf.data.AUTOTUNE)
          .prefetch(tf.data.AUTOTUNE))
    steps = epochs * int(np.ceil(len(x) / batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, steps, alpha=0.02)
    model = build_demo_model(train.n_classes, train.image_shape, seed)
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t0 = time.time()
    # No validation on the test split: it is touched once, after training, to report.
    model.fit(ds, epochs=epochs, verbose=2)
    seconds = time.time() - t0

    # Save the weights in a fresh, uncompiled copy: no optimizer state in the file.
    final = build_demo_model(train.n_classes, train.image_shape, seed)
    final.set_weights(model.get_weights())
    out.parent.mkdir(parents=True, exist_ok=True)
    final.save(out)
    acc = evaluate_accuracy(final, test)
    record = dict(test_accuracy=round(acc, 4), epochs=epochs, batch_size=batch_size, seed=seed,
                  learning_rate=learning_rate, train_seconds=round(seconds),
                  params=int(final.count_params()), file_bytes=out.stat().st_size,
                  keras=keras.__version__, tensorflow=tf.__version__)
    out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    log(json.dumps(record, indent=2))
    return record


def evaluate_accuracy(model, dataset, batch_size: int = 500) -> float:
    """Top-1 accuracy of ``model`` on a labelled dataset of raw uint8 images."""
    probs = model.predict(dataset.images.astype("float32"), batch_size=batch_size, verbose=0)
    return float((probs.argmax(axis=1) == dataset.labels).mean())


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="deepling train-demo", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=DEFAULTS["epochs"])
    p.add_argument("--batch-size", type=int, default=DEFAULTS["batch_size"])
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"])
    p.add_argument("--learning-rate", type=float, default=DEFAULTS["learning_rate"])
    p.add_argument("--out", type=Path, default=DEMO_MODEL)
    a = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    train_demo(a.epochs, a.batch_size, a.seed, a.learning_rate, a.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

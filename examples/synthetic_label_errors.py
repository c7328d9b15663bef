"""A labelled image folder with known wrong labels, made of generated shapes, and a model.

Run::

    python examples/synthetic_label_errors.py OUT_DIR

writes ``OUT_DIR/folder/<shape>/*.png`` (six palette shapes, 50 shifted noisy copies each,
28×28 grayscale; 8 images filed under another shape's folder: wrong labels to find),
``OUT_DIR/unlabelled/*.png`` (a flat folder of the same images: no labels) and
``OUT_DIR/shapes_cnn.keras`` (the workshop's CNN, trained on other noisy copies, so its
predictions on the folder are out-of-sample). Then::

    python run.py --model OUT_DIR/shapes_cnn.keras --data OUT_DIR/folder

and *Rank the labels* in the data card shows the wrong ones first. No image here comes
from a dataset: the README's Suspicious labels picture is made this way.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

# sorted: an image folder's classes are its sub-folders in name order, the model's outputs too
CLASSES = tuple(sorted(("square", "hollow square", "circle", "hollow circle", "triangle", "cross")))
PER_CLASS = 50
N_WRONG = 8


def shifted_copies(image, n, rng):
    from deepling.shapes.data import noisy_copies

    out = noisy_copies(image, n, rng)
    for i in range(n):
        dy, dx = rng.integers(-3, 4, 2)
        out[i] = np.roll(out[i], (dy, dx), axis=(0, 1))
    return out


def main(out: str) -> int:
    import keras
    from PIL import Image

    from deepling.shapes.models import build_cnn
    from deepling.shapes.palette import shape_image

    root = Path(out)
    rng = np.random.default_rng(0)
    shapes = [shape_image(name) for name in CLASSES]
    # the model: trained on its own copies, never on the folder's
    x = np.concatenate([shifted_copies(s, 200, rng) for s in shapes])
    y = np.repeat(np.arange(len(CLASSES)), 200)
    keras.utils.set_random_seed(0)
    model = build_cnn(len(CLASSES))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x.astype("float32"), y, epochs=4, batch_size=32, verbose=0)
    root.mkdir(parents=True, exist_ok=True)
    model.save(root / "shapes_cnn.keras")
    # the folder: PER_CLASS fresh copies per shape, N_WRONG of them filed under another shape
    images = np.concatenate([shifted_copies(s, PER_CLASS, rng) for s in shapes])
    labels = np.repeat(np.arange(len(CLASSES)), PER_CLASS)
    wrong = rng.choice(len(images), N_WRONG, replace=False)
    filed = labels.copy()
    filed[wrong] = (labels[wrong] + rng.integers(1, len(CLASSES), N_WRONG)) % len(CLASSES)
    for i, (image, k) in enumerate(zip(images, filed)):
        for folder in (root / "folder" / CLASSES[k], root / "unlabelled"):
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(image[:, :, 0]).save(folder / f"{i:04d}.png")
    print(f"wrote {len(images)} images to {root / 'folder'}; wrong labels:",
          ", ".join(f"{i:04d} ({CLASSES[labels[i]]} filed as {CLASSES[filed[i]]})" for i in sorted(wrong)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "synthetic_labels"))

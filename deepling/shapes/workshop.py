"""One workshop run: train a small model on shape classes, then draw each class's image.

``run_workshop`` is ShapeShop's "Train and visualise" as one call: the training data
(:func:`~deepling.shapes.data.shape_dataset`), a model from
:data:`~deepling.shapes.models.BUILDERS`, training, and for every class the image that
maximises its score (:func:`~deepling.methods.class_image.class_images`) with its
absolute Pearson correlation to the class's own image — ShapeShop's measure of how much
the model learned of the shape itself (0..1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.data import Dataset
from deepling.methods.class_image import ClassImage, class_images
from deepling.shapes.data import DEFAULT_COPIES, shape_dataset
from deepling.shapes.models import build_model

DEFAULT_EPOCHS = 15
DEFAULT_BATCH = 8
DEFAULT_LEARNING_RATE = 3e-3
# Class images on 28×28 binary shapes: ShapeShop's ascent in pixel space from the chosen
# start, with a 1-pixel jitter and a strong total-variation penalty. Measured on six shape
# classes, MLP and CNN: the correlation with the class image peaks after a few dozen steps
# (mean |r| 0.72-0.79 at 30 steps from black) and falls with more (0.53-0.67 at 150), as
# the ascent starts to exaggerate whatever pixels separate the classes; the Fourier
# parameterisation, which suits photographs, gives blobs here (0.45-0.56).
IMAGE_STEPS = 40
IMAGE_STEP_SIZE = 0.1
IMAGE_JITTER = 1
IMAGE_TV_WEIGHT = 20.0
IMAGE_PARAMETERIZATION = "pixel"
# The start: dark gray (level 40), for every model kind. From black (where ShapeShop
# starts) the CNN's ascent often did not move (the same probabilities whatever the score:
# no gradient reached the pixels, most likely every ReLU off at a black image): near-black
# images, |r| 0.05-0.5 on the four lines with two circles and two noises (3 seeds). From mid gray the images can darken as well as
# brighten, and on two classes each then looks more like the *other* class (|r| 0.3-0.4).
# From dark gray every line class's image correlates best with its own class, for the CNN
# (|r| 0.74-0.95 on the eight classes, 0.46-0.68 on two) and the MLP (0.67-0.90), p ≈ 1
# (tests/test_shapes.py).
IMAGE_START = "dark gray"


@dataclass(frozen=True, eq=False)
class WorkshopRun:
    """What one "Train and visualise" produced.

    Attributes
    ----------
    model : keras.Model
    dataset : Dataset
        The training data (class images and their noisy copies).
    class_images : ndarray of uint8, shape (K, H, W, 1)
        Each class's own image.
    generated : list of ClassImage
        The image that maximises each class's score.
    correlations : ndarray of float, shape (K,)
        ``|Pearson r|`` between each generated image and its class image.
    accuracy, loss : float
        On the training data after the last epoch.
    settings : dict
        Model kind, epochs, start, step size, copies, seed.
    """

    model: object
    dataset: Dataset
    class_images: np.ndarray
    generated: list[ClassImage]
    correlations: np.ndarray
    accuracy: float
    loss: float
    settings: dict


def abs_pearson(a: np.ndarray, b: np.ndarray) -> float:
    """``|r|`` between two images' pixels; 0 when either is constant (r undefined)."""
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(abs(np.corrcoef(a, b)[0, 1]))


def train_model(model, dataset: Dataset, epochs: int = DEFAULT_EPOCHS, seed: int = 0,
                batch_size: int = DEFAULT_BATCH, learning_rate: float = DEFAULT_LEARNING_RATE,
                progress=None) -> tuple[float, float]:
    """Train ``model`` on ``dataset`` (Adam, cross-entropy); (accuracy, loss) after training.

    A compiled train step in a plain loop rather than ``model.fit``: on a hundred images
    ``fit``'s fixed cost per call and per epoch (data adapters, callbacks, metrics) was most
    of the time. ``progress(fraction, message)`` after each epoch.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    optimizer = keras.optimizers.Adam(learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    weights = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    x = tf.constant(dataset.images, tf.float32)
    y = tf.constant(dataset.labels, tf.int32)
    rng = np.random.default_rng(seed)
    n = len(dataset)
    for epoch in range(int(epochs)):
        order = rng.permutation(n)
        for lo in range(0, n, batch_size):
            idx = tf.constant(order[lo:lo + batch_size])
            step(tf.gather(x, idx), tf.gather(y, idx))
            if progress is not None and lo:  # between batches too: a job is cancelled here
                progress((epoch + lo / n) / epochs, f"epoch {epoch + 1} of {epochs}")
        if progress is not None:
            accuracy, loss = _evaluate(model, x, y, loss_fn)
            progress((epoch + 1) / epochs,
                     f"epoch {epoch + 1} of {epochs}: accuracy {accuracy:.1%}, loss {loss:.3f}")
    return _evaluate(model, x, y, loss_fn)


def _evaluate(model, x, y, loss_fn) -> tuple[float, float]:
    """Accuracy and loss on the whole training set, in inference mode."""
    p = model(x, training=False)
    accuracy = float(np.mean(np.argmax(np.asarray(p), axis=1) == np.asarray(y)))
    return accuracy, float(loss_fn(y, p))


def run_workshop(images, names, model: str = "mlp", *, start: str = IMAGE_START,
                 step_size: float = IMAGE_STEP_SIZE, epochs: int = DEFAULT_EPOCHS,
                 steps: int = IMAGE_STEPS, copies: int = DEFAULT_COPIES, seed: int = 0,
                 progress=None) -> WorkshopRun:
    """Train a ``model`` ('mlp', 'cnn', …) on the class ``images`` and draw each class's image.

    Parameters
    ----------
    images : sequence of uint8 arrays (H, W, 1)
        One image per class (palette shapes, drawings).
    names : sequence of str
    model : str
        A key of :data:`~deepling.shapes.models.BUILDERS`.
    start : str
        Start of the image generation: 'dark gray' (:data:`IMAGE_START`), 'black', 'white',
        'noise', 'blurred noise', 'gray'.
    step_size : float
        Gradient-ascent step (Adam, in logit units per step).
    epochs : int
    steps : int
        Gradient-ascent steps per class image.
    copies : int
        Noisy copies per class image in the training data.
    progress : callable, optional
        ``progress(fraction, message)``: training is the first 70 %, images the rest.
    """
    ds = shape_dataset(images, names, copies=copies, seed=seed)
    net = build_model(model, ds.n_classes, ds.image_shape)

    def part(lo, hi):
        if progress is None:
            return None
        return lambda f, msg="": progress(lo + (hi - lo) * f, msg)

    if progress:
        progress(0.0, f"training the {model.upper()} on {len(ds)} images")
    accuracy, loss = train_model(net, ds, epochs, seed, progress=part(0.0, 0.7))
    generated = class_images(net, list(range(ds.n_classes)), start=start, steps=steps,
                             step_size=step_size, jitter=IMAGE_JITTER, tv_weight=IMAGE_TV_WEIGHT,
                             parameterization=IMAGE_PARAMETERIZATION, seed=seed, progress=part(0.7, 1.0))
    own = np.stack([np.asarray(img, np.uint8) for img in images])
    corr = np.array([abs_pearson(g.image, own[k]) for k, g in enumerate(generated)])
    settings = dict(model=model, epochs=int(epochs), start=start, step_size=float(step_size),
                    steps=int(steps), copies=int(copies), seed=int(seed))
    return WorkshopRun(net, ds, own, generated, corr, accuracy, loss, settings)

"""SmoothGrad (Smilkov et al. 2017) and VarGrad (Adebayo et al. 2018): the saliency map
averaged over, or the gradient's variance across, noisy copies of the image."""

from __future__ import annotations

import numpy as np

from deepling.methods._maps import check_count, fixed_classes, pixel_gradients, relative
from deepling.methods._probe import ModelProbe
from deepling.methods.saliency import attributions


def noisy_copies(x: np.ndarray, samples: int, noise: float, seed) -> np.ndarray:
    """``samples`` copies of each image with Gaussian noise of σ = ``noise`` × 255 added
    (not clipped), drawn image after image from ``numpy.random.default_rng(seed)`` (a
    Generator is used as is): N×samples×H×W×C."""
    if not 0 <= noise <= 1:
        raise ValueError(f"noise is σ as a fraction of the pixel range 0..255, 0..1; got {noise}.")
    rng = np.random.default_rng(seed)
    sigma = np.float32(noise * 255.0)
    return np.stack([img + sigma * rng.standard_normal((samples,) + img.shape, np.float32)
                     for img in x])


def _noisy_maps(model, image, target, samples, noise, seed, batch_size, reduce):
    """``reduce(gradients)`` per image, the logit gradients of its noisy copies (samples×H×W×C)
    → H×W, done chunk by chunk (no N×samples gradient array); with classes and
    probabilities."""
    samples = check_count("samples", samples)
    probe = ModelProbe.of(model)
    x, single = probe.as_batch(image)
    classes, probs = fixed_classes(probe, x, target)
    rng = np.random.default_rng(seed)  # one stream: chunking does not change the noise
    per_call = max(1, batch_size // samples)
    maps = np.empty(x.shape[:3], np.float32)
    for start in range(0, len(x), per_call):
        chunk = noisy_copies(x[start:start + per_call], samples, noise, rng)
        rows = np.repeat(classes[start:start + per_call], samples)
        _, g = pixel_gradients(probe, chunk.reshape((-1,) + x.shape[1:]), rows, batch_size)
        maps[start:start + per_call] = reduce(g.reshape(chunk.shape))
    return maps, classes, probs, single


def smoothgrad(model, image, target=None, samples: int = 50, noise: float = 0.2, seed=0,
               batch_size: int = 256):
    """The mean of the saliency maps (:func:`~deepling.methods.saliency`) of ``samples``
    noisy copies of the image.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C) or (N, H, W, C)
        Pixels in 0..255.
    target : int or array of int, optional
        Class to explain; the predicted class (of the clean image) by default.
    samples : int
        Noisy copies per image.
    noise : float
        σ of the Gaussian noise as a fraction of the pixel range (0.2 → σ = 51 levels).
    seed : int or None
        Seed of the noise (:func:`noisy_copies`); the same seed gives the same map.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: mean over copies of ``max over channels |∂ z_c / ∂ pixel|`` (H×W).
    """
    maps, classes, probs, single = _noisy_maps(model, image, target, samples, noise, seed,
                                               batch_size, lambda g: np.abs(g).max(axis=-1).mean(axis=1))
    return attributions(maps, classes, probs, relative, "smoothgrad",
                        "mean gradient magnitude (relative)", single)


def vargrad(model, image, target=None, samples: int = 50, noise: float = 0.2, seed=0,
            batch_size: int = 256):
    """The variance of the logit's gradient across ``samples`` noisy copies of the image,
    per pixel (the largest over colour channels). Parameters as :func:`smoothgrad`.

    Returns
    -------
    Attribution, or a list of them for a batch
        ``native``: ``max over channels Var(∂ z_c / ∂ pixel)`` (H×W).
    """
    maps, classes, probs, single = _noisy_maps(model, image, target, samples, noise, seed,
                                               batch_size, lambda g: g.var(axis=1).max(axis=-1))
    return attributions(maps, classes, probs, relative, "vargrad", "gradient variance (relative)",
                        single)

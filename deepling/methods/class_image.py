"""Class activation maximisation: the image a model scores highest for a class or a channel.

Plain gradient ascent on the pixels of a real model turns into high-frequency noise that
scores well but shows nothing (Simonyan et al. 2014; Olah et al., "Feature Visualization",
Distill 2017). The regularisers the field uses to make the image readable are here, each
a knob with a default:

* **parameterisation** (``"fourier"``, as Lucid): the image is optimised as the spectrum
  of its per-pixel logits, each frequency scaled by ``1 / f**decay_power``, so equal steps
  move low frequencies more than high ones. ``"pixel"`` optimises the logits directly.
  Pixels are ``255 * sigmoid(logits)``, so they stay in 0..255 without clipping.
* **decorrelated colour** (RGB models): the logits live in a luminance / red-green /
  blue-yellow basis, so a step changes brightness and colour independently.
* **jitter** (as tf-keras-vis' ``Jitter`` and Lucid's ``transform.jitter``): each step
  scores a copy of the image shifted by a random offset of up to ``jitter`` pixels, so the
  model cannot rely on one exact pixel pattern.
* **total variation** and **blur** penalties (as tf-keras-vis' ``TotalVariation2D``):
  ``tv_weight × mean |neighbour difference|`` and ``blur_weight × mean (x − blur(x))²``,
  both on 0..1 pixels, are subtracted from the score.

The score is the class's logit (pre-softmax, read as in :mod:`deepling.methods._probe`)
or a channel's mean activation. The optimiser is Adam on the parameters (its step is
``step_size``). Every step's score on the *unjittered* image is recorded, so a caller can
see the ascent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, describe_target, resolve_target

STARTS = ("black", "dark gray", "white", "gray", "noise", "blurred noise")
DEFAULT_STEPS = 200
DEFAULT_STEP_SIZE = 0.05
DEFAULT_JITTER = 2
DEFAULT_TV_WEIGHT = 0.5
DEFAULT_BLUR_WEIGHT = 0.0
_EPS = 0.02  # start pixels are kept off 0 and 255: sigmoid(±inf) cannot be a parameter

DEFAULT_LOG_PROB_WEIGHT = 0.8
# Luminance, red–green and blue–yellow directions, orthonormal: the decorrelated colour basis.
_COLOUR_DIRECTIONS = np.array([[1, 1, 1], [1, -1, 0], [1, 1, -2]], np.float32)
_COLOUR_DIRECTIONS /= np.linalg.norm(_COLOUR_DIRECTIONS, axis=1, keepdims=True)
# Each direction's length, as Lucid weights its basis (the singular values of the square
# root of ImageNet's colour covariance, relative to the largest: colour varies far less
# than brightness in photographs). A step moves brightness 3.6× and 7.6× as far as the two
# colour directions, so class images keep the muted colours of photographs.
COLOUR_WEIGHTS = (1.0, 0.276, 0.132)
_COLOUR_BASIS = np.array(COLOUR_WEIGHTS, np.float32)[:, None] * _COLOUR_DIRECTIONS
_COLOUR_INVERSE = np.linalg.inv(_COLOUR_BASIS).astype(np.float32)


@dataclass(frozen=True, eq=False)
class ClassImage:
    """The result of :func:`class_image`.

    Attributes
    ----------
    image : ndarray of uint8, shape (H, W, C)
        The generated image, pixels 0..255.
    target : int or Channel
        What was maximised.
    scores : ndarray of float32, shape (steps + 1,)
        The target score on the unjittered image before each step and after the last: the
        class logit, or the channel's mean activation.
    probability : float or None
        The model's probability for the target class on ``image`` (None for a channel).
    start : str
        Name of the start ('black', …, or 'image' for a given one).
    settings : dict
        The knobs used (steps, step_size, jitter, tv_weight, blur_weight, parameterization,
        decorrelate, decay_power, log_prob_weight, seed).
    """

    image: np.ndarray
    target: int | Channel
    scores: np.ndarray
    probability: float | None
    start: str
    settings: dict

    @property
    def target_label(self) -> str:
        return describe_target(self.target)

    @property
    def score_name(self) -> str:
        return "mean activation" if isinstance(self.target, Channel) else "logit"


def hsv_saturation(images) -> np.ndarray:
    """Mean HSV saturation of each RGB image (N×H×W×3 or H×W×3, 0..255): per pixel
    ``(max − min) / max`` of its channels (0 for black), averaged. CIFAR-10's photographs
    average 0.27-0.28; a class image far above its data's looks painted, not photographed."""
    x = np.asarray(images, np.float32) / 255.0
    top, low = x.max(axis=-1), x.min(axis=-1)
    sat = np.divide(top - low, top, out=np.zeros_like(top), where=top > 0)
    return sat.mean(axis=(-2, -1))


def start_image(start, shape, seed: int = 0) -> np.ndarray:
    """A start image (float32 H×W×C, 0..255) by name, or ``start`` itself if it is an image.

    Names: 'black', 'dark gray' (level 40), 'white', 'gray', 'noise' (uniform per pixel),
    'blurred noise' (the noise smoothed with a Gaussian of σ = 1/16 of the width,
    stretched to 0..255).
    """
    shape = tuple(int(s) for s in shape)
    if not isinstance(start, str):
        x = np.asarray(start, dtype=np.float32)
        if x.shape != shape:
            raise ValueError(f"The start image is {x.shape}; the model takes {shape}.")
        return np.clip(x, 0, 255)
    rng = np.random.default_rng(seed)
    if start == "black":
        return np.zeros(shape, np.float32)
    if start == "dark gray":
        return np.full(shape, 40.0, np.float32)
    if start == "white":
        return np.full(shape, 255.0, np.float32)
    if start == "gray":
        return np.full(shape, 127.5, np.float32)
    if start == "noise":
        return rng.uniform(0, 255, shape).astype(np.float32)
    if start == "blurred noise":
        from scipy.ndimage import gaussian_filter

        sigma = max(shape[1] / 16, 0.5)
        x = gaussian_filter(rng.uniform(0, 1, shape), sigma=(sigma, sigma, 0))
        x = (x - x.min()) / max(float(np.ptp(x)), 1e-6)
        return (255 * x).astype(np.float32)
    raise ValueError(f"Unknown start {start!r}: use one of {', '.join(STARTS)} or an image array.")


def class_image(model, target, *, start="gray", steps: int = DEFAULT_STEPS,
                step_size: float = DEFAULT_STEP_SIZE, jitter: int = DEFAULT_JITTER,
                tv_weight: float = DEFAULT_TV_WEIGHT, blur_weight: float = DEFAULT_BLUR_WEIGHT,
                parameterization: str = "fourier", decorrelate: bool = True,
                decay_power: float = 1.0, log_prob_weight: float = DEFAULT_LOG_PROB_WEIGHT,
                seed: int = 0, progress=None) -> ClassImage:
    """The image that maximises ``target``'s score, by regularised gradient ascent.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
        A plain Keras model is wrapped in a :class:`~deepling.models.ModelAdapter` (its
        input range detected as everywhere in Deepling).
    target : int, Channel, dict or (str, int)
        A class index, or a channel of a layer (see :mod:`deepling.methods._targets`).
    start : str or array (H, W, C)
        'black', 'white', 'gray', 'noise', 'blurred noise', or an image (0..255), e.g.
        the image in focus.
    steps : int
        Gradient steps.
    step_size : float
        Adam's step on the parameters (logit units; ~0.05 for Fourier, ~0.1 for pixels).
    jitter : int
        Largest random shift, in pixels, applied before each step's score (0: none).
    tv_weight, blur_weight : float
        Weights of the total-variation and blur penalties (0: off).
    parameterization : {'fourier', 'pixel'}
    decorrelate : bool
        Optimise RGB images in a decorrelated colour basis (no effect on grayscale).
    decay_power : float
        Fourier parameterisation: frequencies are scaled by ``1 / f**decay_power``.
    log_prob_weight : float
        A class's ascent maximises ``(1 − w)·logit + w·log p`` with ``w`` this weight
        (0..1): the logit alone can grow with evidence for other classes too (the image
        may then score higher still for another class), the log-probability alone stops
        once p is near 1 (a faint image). The recorded ``scores`` are the logit either way;
        channels ignore it.
    seed : int
        Jitter and noise starts are reproducible for one seed.
    progress : callable, optional
        ``progress(fraction, message)`` every few steps.
    """
    return class_images(model, [target], start=start, steps=steps, step_size=step_size,
                        jitter=jitter, tv_weight=tv_weight, blur_weight=blur_weight,
                        parameterization=parameterization, decorrelate=decorrelate,
                        decay_power=decay_power, log_prob_weight=log_prob_weight, seed=seed,
                        progress=progress)[0]


def class_images(model, targets, *, start="gray", steps: int = DEFAULT_STEPS,
                 step_size: float = DEFAULT_STEP_SIZE, jitter: int = DEFAULT_JITTER,
                 tv_weight: float = DEFAULT_TV_WEIGHT, blur_weight: float = DEFAULT_BLUR_WEIGHT,
                 parameterization: str = "fourier", decorrelate: bool = True,
                 decay_power: float = 1.0, log_prob_weight: float = DEFAULT_LOG_PROB_WEIGHT,
                 seed: int = 0, progress=None) -> list[ClassImage]:
    """:func:`class_image` for several targets at once, optimised together in one batch.

    All targets must be classes, or all channels of one layer (one graph serves them).
    """
    probe = ModelProbe.of(model)  # a keras.Model is wrapped once (deepling.models.as_adapter)
    resolved = [resolve_target(t, probe.model, probe.n_classes) for t in targets]
    if not resolved:
        return []
    layers = {t.layer if isinstance(t, Channel) else None for t in resolved}
    if len(layers) != 1:
        raise ValueError("class_images optimises classes, or channels of one layer, together; "
                         "call it once per layer.")
    layer = layers.pop()
    if parameterization not in ("fourier", "pixel"):
        raise ValueError(f"parameterization must be 'fourier' or 'pixel', got {parameterization!r}.")
    steps, jitter = int(steps), int(jitter)
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}.")
    if not 0.0 <= float(log_prob_weight) <= 1.0:
        raise ValueError(f"log_prob_weight must be in 0..1, got {log_prob_weight}.")
    shape = probe.image_shape
    if None in shape:
        raise ValueError("The model takes images of any size; class images need a fixed size.")
    settings = dict(steps=steps, step_size=float(step_size), jitter=jitter,
                    tv_weight=float(tv_weight), blur_weight=float(blur_weight),
                    parameterization=parameterization, decorrelate=bool(decorrelate),
                    decay_power=float(decay_power), log_prob_weight=float(log_prob_weight),
                    seed=int(seed))
    space = _Space(shape, parameterization, decorrelate and shape[-1] == 3, decay_power)
    x0 = np.stack([start_image(start, shape, seed)] * len(resolved))
    param = space.encode(x0)
    index = np.array([t.channel if isinstance(t, Channel) else t for t in resolved], np.int32)
    step = _step_function(probe, layer, space, jitter)
    import tensorflow as tf

    p = tf.constant(param)
    m, v = tf.zeros_like(p), tf.zeros_like(p)
    weights = tf.constant([step_size, tv_weight, blur_weight, log_prob_weight], tf.float32)
    history = []
    report = max(1, min(steps // 20, 10))  # often: a job is cancelled at a report
    for t in range(1, steps + 1):
        p, m, v, score = step(p, m, v, tf.constant(index), weights,
                              tf.constant([seed, t], tf.int32), tf.constant(float(t)))
        history.append(np.asarray(score))
        if progress is not None and (t % report == 0 or t == steps):
            progress(t / steps, f"class image: step {t} of {steps}")
    images = space.decode(p)
    score, probs = _score_function(probe, layer)(images, tf.constant(index))
    history.append(np.asarray(score))
    scores = np.stack(history, axis=1).astype(np.float32)  # targets × (steps + 1)
    images, probs = np.asarray(images), np.asarray(probs)
    out_images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    name = start if isinstance(start, str) else "image"
    return [ClassImage(out_images[k], t, scores[k],
                       None if layer is not None else float(probs[k, t]), name, settings)
            for k, t in enumerate(resolved)]


def _score_function(probe: ModelProbe, layer):
    """Compiled ``(pixels, index) → (target score, class probabilities)``."""
    import tensorflow as tf

    kind = "logit" if layer is None else "channel"

    def build():
        @tf.function(reduce_retracing=True)
        def run(x, index):
            probs, logits, feats = probe._forward(x, layer)
            return probe._score(logits, feats, index, kind), probs

        return run

    return probe._compiled(("class_image_score", layer), build)


class _Space:
    """Parameters ↔ pixels: ``255·sigmoid(colour_mix(irfft2(scale·spectrum)))``."""

    def __init__(self, shape, parameterization: str, decorrelate: bool, decay_power: float):
        self.h, self.w, self.c = (int(s) for s in shape)
        self.fourier = parameterization == "fourier"
        self.decorrelate = decorrelate
        fy = np.fft.fftfreq(self.h)[:, None]
        fx = np.fft.rfftfreq(self.w)[None, :]
        freq = np.sqrt(fx ** 2 + fy ** 2)
        scale = 1.0 / np.maximum(freq, 1.0 / max(self.h, self.w)) ** decay_power
        # Unitary FFT and unit mean square scale: one step size suits both spaces.
        scale = scale / np.sqrt(np.mean(scale ** 2)) * np.sqrt(self.h * self.w)
        self.scale = scale.astype(np.float32)

    def encode(self, pixels: np.ndarray) -> np.ndarray:
        """Pixels N×H×W×C (0..255) → parameters (float32)."""
        q = np.clip(pixels / 255.0, _EPS, 1 - _EPS)
        logits = np.log(q / (1 - q)).astype(np.float32)
        if self.decorrelate:
            logits = logits @ _COLOUR_INVERSE  # pixel logits = coefficients @ basis
        if not self.fourier:
            return logits
        spec = np.fft.rfft2(np.transpose(logits, (0, 3, 1, 2))) / self.scale
        return np.stack([spec.real, spec.imag]).astype(np.float32)

    def decode(self, param):
        """Parameters → pixels N×H×W×C, float32 in 0..255 (differentiable, TF)."""
        import tensorflow as tf

        if self.fourier:
            spec = tf.complex(param[0] * self.scale, param[1] * self.scale)
            logits = tf.transpose(tf.signal.irfft2d(spec, fft_length=[self.h, self.w]), (0, 2, 3, 1))
        else:
            logits = param
        if self.decorrelate:
            logits = tf.tensordot(logits, tf.constant(_COLOUR_BASIS), axes=[[3], [0]])
        return 255.0 * tf.sigmoid(logits)


def _step_function(probe: ModelProbe, layer, space: _Space, jitter: int):
    """Compiled Adam step ``(p, m, v, index, weights, seed, t) → (p, m, v, clean score)``."""
    import tensorflow as tf

    kind = "logit" if layer is None else "channel"
    key = ("class_image", layer, space.h, space.w, space.fourier, space.decorrelate,
           float(space.scale[0, 0]), float(space.scale[-1, -1]), jitter)
    blur = _gaussian_kernel(space.c)

    def build():
        @tf.function(reduce_retracing=True)
        def step(p, m, v, index, weights, seed, t):
            lr, tv_w, blur_w, prob_w = weights[0], weights[1], weights[2], weights[3]
            with tf.GradientTape() as tape:
                tape.watch(p)
                x = space.decode(p)
                clean = probe._score(*_logits_feats(probe, x, layer), index, kind)
                seen = x
                if jitter > 0:
                    shift = tf.random.stateless_uniform((2,), seed, -jitter, jitter + 1, tf.int32)
                    seen = tf.roll(x, shift, axis=[1, 2])
                logits, feats = _logits_feats(probe, seen, layer)
                score = probe._score(logits, feats, index, kind)
                if kind == "logit":
                    score = (1.0 - prob_w) * score + prob_w * probe._score(logits, feats, index,
                                                                           "log_prob")
                u = x / 255.0
                tv = (tf.reduce_mean(tf.abs(u[:, 1:] - u[:, :-1]), axis=[1, 2, 3])
                      + tf.reduce_mean(tf.abs(u[:, :, 1:] - u[:, :, :-1]), axis=[1, 2, 3]))
                smooth = tf.nn.depthwise_conv2d(u, blur, [1, 1, 1, 1], "SAME")
                blurred = tf.reduce_mean(tf.square(u - smooth), axis=[1, 2, 3])
                objective = tf.reduce_sum(score - tv_w * tv - blur_w * blurred)
            g = tape.gradient(objective, p)
            m = 0.9 * m + 0.1 * g
            v = 0.999 * v + 0.001 * tf.square(g)
            m_hat = m / (1 - tf.pow(0.9, t))
            v_hat = v / (1 - tf.pow(0.999, t))
            return p + lr * m_hat / (tf.sqrt(v_hat) + 1e-8), m, v, clean

        return step

    return probe._compiled(key, build)


def _logits_feats(probe: ModelProbe, x, layer):
    _, logits, feats = probe._forward(x, layer)
    return logits, feats


def _gaussian_kernel(channels: int, sigma: float = 1.0):
    r = np.arange(-2, 3)
    k = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma ** 2))
    k = (k / k.sum()).astype(np.float32)
    return np.repeat(k[:, :, None, None], channels, axis=2)

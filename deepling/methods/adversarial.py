"""Adversarial strips: how an image changes when it is optimised towards a target.

Gradient ascent in pixel space on the target's score — the log-probability of a class, or
the mean activation of one channel of a layer — with a bounded step, pixels kept in 0..255
and an optional L∞ bound on the total change. ``n_frames`` snapshots along the way show the
change and the model's answer as it happens.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from deepling.methods._probe import ModelProbe
from deepling.methods._targets import Channel, describe_target, resolve_target

# Tuned on the trained demo CNN and CIFAR-10 test images (benchmarks/results/methods.md).
# L2-normalised steps put the change where the gradient is large, so the last frames show
# local structures (strokes, blobs) rather than the uniform noise of signed steps. At an
# RMS of 1 level per step the top class flips within 1-4 steps on nearly every image, so
# frames are spaced geometrically: the flip lands in the first frames, and by step 40
# (RMS change ~8 levels, a few pixels ~40) the change is visible while the original still
# shows through.
DEFAULT_STEPS = 40
DEFAULT_STEP_SIZE = 1.0
DEFAULT_NORM = "l2"


@dataclass(frozen=True, eq=False)
class Strip:
    """The frames of an adversarial strip and what the model said at each.

    Attributes
    ----------
    frames : ndarray of uint8, shape (K, H, W, C)
        ``frames[0]`` is the original image; the others are snapshots along the ascent.
    steps : ndarray of int, shape (K,)
        The optimisation step each frame was taken at (``steps[0] == 0``).
    probabilities : ndarray of float32, shape (K, n_classes)
        The model's class probabilities for each frame (as shown, i.e. after rounding to uint8).
    delta : ndarray of float32, shape (K, H, W, C)
        Signed change from the original, in pixel levels (``frames - frames[0]``).
    delta_magnitude : ndarray of float32, shape (K, H, W)
        Per-pixel size of the change: L2 norm of ``delta`` over the channels.
    target : int or Channel
        The class index or channel that was optimised.
    target_score : ndarray of float32, shape (K,)
        Log-probability of the target class, or mean activation of the target channel.
    flip_frame : int or None
        First frame whose top class differs from the original's, or None if it never does.
    step_size, max_change : float, float or None
        Pixel levels per step, and the L∞ bound on the total change (None: only 0..255).
    norm : {'sign', 'l2'}
        How each step was scaled (see :func:`adversarial_strip`).
    notes : tuple of str
        Anything the user should know about this strip (e.g. a channel that never fired).
    """

    frames: np.ndarray
    steps: np.ndarray
    probabilities: np.ndarray
    delta: np.ndarray
    delta_magnitude: np.ndarray
    target: int | Channel
    target_score: np.ndarray
    flip_frame: int | None
    step_size: float
    max_change: float | None
    norm: str
    notes: tuple[str, ...] = ()

    @property
    def predicted(self) -> np.ndarray:
        """Top class per frame, shape (K,)."""
        return self.probabilities.argmax(axis=1)

    @property
    def flip_step(self) -> int | None:
        """Optimisation step of :attr:`flip_frame` (None if the top class never changes)."""
        return None if self.flip_frame is None else int(self.steps[self.flip_frame])

    @property
    def target_label(self) -> str:
        """``'class 3'`` or ``'conv3b channel 17'``."""
        return describe_target(self.target)

    @property
    def score_name(self) -> str:
        return "mean activation" if isinstance(self.target, Channel) else "log-probability"

    def plot(self, class_names=None, **kwargs):
        """A Plotly figure of the frames and the change (see :mod:`deepling.plots`)."""
        from deepling.plots import plot_strip

        return plot_strip(self, class_names, **kwargs)


def adversarial_strip(model, image, target=None, layer: str | None = None, *,
                      label: int | None = None, n_frames: int = 8,
                      steps: int = DEFAULT_STEPS, step_size: float = DEFAULT_STEP_SIZE,
                      max_change: float | None = None, norm: str = DEFAULT_NORM,
                      spacing: str = "geometric") -> Strip:
    """Optimise ``image`` towards ``target`` and return ``n_frames`` snapshots.

    Each step adds ``step_size`` × (normalised gradient of the target score with respect
    to the pixels), then clips to ``original ± max_change`` and to 0..255. The score is the
    log-probability of a class (read from the logits, see :mod:`deepling.methods._probe`)
    or the mean activation of one channel of a layer.

    Parameters
    ----------
    model : keras.Model, ModelAdapter or ModelProbe
    image : array, shape (H, W, C)
        Pixels in 0..255 (uint8 or float), already fitted to the model's input size.
    target : int, Channel, dict or (str, int), optional
        A class index; or a channel: ``Channel("conv3b", 17)``, ``{"layer": "conv3b",
        "channel": 17}`` or ``("conv3b", 17)``. When None, ``label`` must be given and the
        image misclassified: the target is then the predicted (wrong) class, showing what
        the model saw.
    layer : str, optional
        Shorthand: with an int ``target``, optimise channel ``target`` of this layer.
    label : int, optional
        The image's true class (not a target), used only to choose the default target.
    n_frames : int
        Number of frames K, including the original (frame 0); the last is taken at ``steps``.
    steps : int
        Number of gradient steps; at least ``n_frames - 1``.
    step_size : float
        Pixel levels (0..255 scale) per step: the root-mean-square change per step with
        ``norm='l2'``; the change of every pixel with ``norm='sign'`` (so integer sizes give
        integer frames and ``steps × step_size`` bounds the total change).
    max_change : float, optional
        L∞ bound on the total change per pixel, in pixel levels. None: bounded only by
        ``steps × step_size`` and 0..255.
    norm : {'l2', 'sign'}
        'l2' (default): the gradient scaled to a root-mean-square change of ``step_size``;
        the change concentrates on the pixels that matter most, which reads as an
        explanation. 'sign' (iterative FGSM): every pixel moves by ``±step_size``; robust
        to gradient scale, but looks like uniform noise.
    spacing : {'geometric', 'linear'}
        Steps at which frames are taken. 'geometric' (0, 1, 2, 3, 6, 12, 22, 40 for the
        defaults) shows both the first few steps, where the answer usually flips, and the
        later, visible exaggeration; 'linear' spaces them evenly.

    Returns
    -------
    Strip

    Raises
    ------
    ValueError
        Bad target (class out of range, no such layer, channel out of range), no target
        and no misclassification to default to, bad image shape or parameters.
    """
    probe = ModelProbe.of(model)
    x0, _ = probe.as_batch(image)
    if len(x0) != 1:
        raise ValueError(f"adversarial_strip takes one image (H×W×C); got {len(x0)}.")
    if spacing not in ("geometric", "linear"):
        raise ValueError(f"spacing must be 'geometric' or 'linear', got {spacing!r}.")
    if norm not in ("sign", "l2"):
        raise ValueError(f"norm must be 'sign' or 'l2', got {norm!r}.")
    if int(n_frames) < 2:
        raise ValueError(f"n_frames must be at least 2 (the original and one step), got {n_frames}.")
    if int(steps) < int(n_frames) - 1:
        raise ValueError(f"steps ({steps}) must be at least n_frames - 1 ({n_frames - 1}).")
    if not step_size > 0:
        raise ValueError(f"step_size must be positive (pixel levels per step), got {step_size}.")
    if max_change is not None and not max_change > 0:
        raise ValueError(f"max_change must be positive pixel levels or None, got {max_change}.")

    if target is None:
        target = _default_target(probe, x0, label)
    elif layer is not None:
        if isinstance(target, (Channel, dict, tuple)):
            raise ValueError("Give either layer= with an int channel, or a Channel target, not both.")
        target = Channel(layer, target)
    target = resolve_target(target, probe.model, probe.n_classes)
    layer_name = target.layer if isinstance(target, Channel) else None
    index = target.channel if isinstance(target, Channel) else target

    step = probe.ascent_step(layer_name, norm)
    record = frame_steps(int(steps), int(n_frames), spacing)
    bound = np.float32(np.inf if max_change is None else max_change)
    args = (np.array([index], np.int32), np.float32(step_size), bound)

    import tensorflow as tf

    x, x_start = tf.constant(x0), tf.constant(x0)
    snapshots, first_grad = [x0[0]], None
    for s in range(1, int(steps) + 1):
        x, _, grad_norm = step(x, x_start, *args)
        if first_grad is None:
            first_grad = float(grad_norm[0])
        if s in record:
            snapshots.append(x.numpy()[0])

    frames = np.clip(np.rint(np.stack(snapshots)), 0, 255).astype(np.uint8)
    probs, log_probs, means = (np.asarray(a) for a in probe.evaluate(layer_name)(
        frames.astype(np.float32)))
    score = means[:, index] if layer_name else log_probs[:, index]
    delta = frames.astype(np.float32) - frames[:1].astype(np.float32)
    predicted = probs.argmax(axis=1)
    flipped = np.flatnonzero(predicted != predicted[0])

    notes = []
    if first_grad == 0.0:
        notes.append(f"The gradient of {describe_target(target)} is zero on this image "
                     + ("(the channel does not fire here), " if layer_name else "")
                     + "so nothing changed; try another target.")
    if probe.logit_source.startswith("log of"):
        notes.append("Scores come from clipped probabilities: steps may stall where the "
                     "softmax saturates.")
    return Strip(
        frames=frames,
        steps=record,
        probabilities=probs.astype(np.float32),
        delta=delta,
        delta_magnitude=np.sqrt((delta ** 2).sum(axis=-1)),
        target=target,
        target_score=score.astype(np.float32),
        flip_frame=int(flipped[0]) if len(flipped) else None,
        step_size=float(step_size),
        max_change=None if max_change is None else float(max_change),
        norm=norm,
        notes=tuple(notes),
    )


def frame_steps(steps: int, n_frames: int, spacing: str = "geometric") -> np.ndarray:
    """The ``n_frames`` distinct steps (0 first, ``steps`` last) at which frames are taken."""
    if spacing == "linear":
        return np.round(np.linspace(0, steps, n_frames)).astype(int)
    if n_frames == 2:
        return np.array([0, steps])
    inner = np.round(np.geomspace(1, steps, n_frames - 1)).astype(int)
    # Make them strictly increasing without passing ``steps`` (short runs collide when rounded).
    for k in range(1, len(inner)):
        inner[k] = max(inner[k], inner[k - 1] + 1)
    for k in range(len(inner) - 1, -1, -1):
        inner[k] = min(inner[k], steps - (len(inner) - 1 - k))
    return np.concatenate([[0], inner])


def _default_target(probe: ModelProbe, x0: np.ndarray, label) -> int:
    """The predicted class of a misclassified image; otherwise ask the caller to choose."""
    probs = probe.predict(x0)[0]
    order = np.argsort(probs)[::-1]
    predicted, runner_up = int(order[0]), int(order[1]) if len(order) > 1 else int(order[0])
    if label is None:
        raise ValueError(
            "Choose a target: a class index, or Channel(layer, channel). (With label= the "
            f"strip defaults to the predicted class of a misclassified image; the model "
            f"predicts class {predicted} here.)"
        )
    if int(label) != predicted:
        return predicted
    raise ValueError(
        f"The model classifies this image correctly (class {predicted}); choose a target, "
        f"e.g. the runner-up class {runner_up}, or a Channel(layer, channel)."
    )


def target_gradient(model, image, target) -> float:
    """The size (L2 norm) of the gradient of ``target``'s score with respect to the pixels
    of ``image``: 0 where a strip towards it cannot move (a channel that does not fire)."""
    probe = ModelProbe.of(model)
    x0, _ = probe.as_batch(image)
    target = resolve_target(target, probe.model, probe.n_classes)
    layer = target.layer if isinstance(target, Channel) else None
    index = target.channel if isinstance(target, Channel) else target
    import tensorflow as tf

    x = tf.constant(x0[:1])
    _, _, grad_norm = probe.ascent_step(layer, DEFAULT_NORM)(
        x, x, np.array([index], np.int32), np.float32(0), np.float32(np.inf))
    return float(grad_norm[0])


def live_target(model, image, targets):
    """The first of ``targets`` whose score has a non-zero gradient on ``image`` (a strip
    towards it changes the image), or None when none has."""
    for target in targets:
        if target_gradient(model, image, target) > 0:
            return target
    return None

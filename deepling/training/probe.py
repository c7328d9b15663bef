"""One compiled forward+backward pass on a fixed probe batch, without an update.

What :class:`~deepling.training.step.MonitoredStep` measures inside the training step, a
*probe* measures from outside it (a ``model.fit`` the user runs): every filter's mean
|activation| and mean |gradient|, each filter's largest |activation| (a filter that is zero
on the whole batch is *dead*), and per layer histograms of the kernel's weights, of the
layer's activations and of the kernel's gradients. The pass runs in inference mode
(``training=False``): dropout is off and batch normalisation neither uses nor updates batch
statistics, so probing never changes the model or its training.

Flags (thresholds on the probe batch):

* **dead filter**: its activation is exactly 0 on every image and position of the batch;
* **vanishing gradient**: a layer's mean |kernel gradient| is below ``VANISHING`` (1e-7,
  Adam's epsilon: updates of such a layer are damped towards nothing, and SGD's are lost in
  float32 rounding of the weights);
* **exploding gradient**: a layer's mean |kernel gradient| is above ``EXPLODING`` (10) or not
  finite.
"""

from __future__ import annotations

import numpy as np

from deepling.training.step import _per_filter, filter_layers

BINS = 32
VANISHING = 1e-7
EXPLODING = 10.0
KINDS = ("weights", "activations", "gradients")


class ProbeStep:
    """``probe()`` → per-filter amounts and histograms on a fixed batch ``(x, y)``.

    Parameters
    ----------
    model : keras.Model
        A functional or sequential model (its layers' outputs must be reachable).
    x, y : array
        The probe batch, as the model takes it, and class indices (or what ``loss`` takes).
    loss : callable, optional
        ``loss(y_true, y_pred)``; default: the model's compiled loss when it is one
        function or name, else sparse categorical cross-entropy on the output kind.
    layers : list of str, optional
        Layers to watch; default every layer with a kernel (:func:`filter_layers`).
    bins : int
        Histogram bins (over each tensor's own min..max).
    """

    def __init__(self, model, x, y, loss=None, layers=None, bins: int = BINS):
        import keras
        import tensorflow as tf

        self.model = model
        known = filter_layers(model)
        self.layers = list(layers) if layers is not None else known
        unknown = [n for n in self.layers if n not in known]
        if unknown:
            raise ValueError(f"{', '.join(unknown)}: no such layer with filters in {model.name} "
                             f"(layers with a kernel: {', '.join(known)}).")
        self.loss = loss or model_loss(model)
        self.bins = int(bins)
        self.x = tf.constant(np.asarray(x, np.float32))
        self.y = tf.constant(np.asarray(y))
        measured = [model.get_layer(n) for n in self.layers]
        self._probe = keras.Model(model.inputs, [l.output for l in measured] + list(model.outputs))
        kernels = [l.kernel for l in measured]
        loss_fn, probe, nb = self.loss, self._probe, self.bins

        def run(x, y):
            with tf.GradientTape() as tape:
                outs = probe(x, training=False)
                acts, pred = outs[:-1], outs[-1]
                loss = tf.reduce_mean(loss_fn(y, pred))
            grads = tape.gradient(loss, kernels)
            grads = [tf.zeros_like(k) if g is None else g for k, g in zip(kernels, grads)]
            return (loss,
                    [_per_filter(a) for a in acts], [_per_filter(g) for g in grads],
                    [tf.reduce_max(tf.abs(a), axis=list(range(len(a.shape) - 1))) for a in acts],
                    [_histogram(tf.convert_to_tensor(k), nb) for k in kernels],
                    [_histogram(a, nb) for a in acts], [_histogram(g, nb) for g in grads])

        self._fn = tf.function(run, autograph=False)

    def __call__(self) -> dict:
        """``loss``; ``activation``, ``gradient``, ``peak`` (per layer, one float per
        filter); ``hist[layer][kind]`` = ``{"lo", "hi", "counts"}`` for kind in
        weights/activations/gradients; ``dead`` (per layer, indices of dead filters)."""
        loss, acts, grads, peaks, hw, ha, hg = self._fn(self.x, self.y)
        out = {"loss": float(loss), "activation": {}, "gradient": {}, "peak": {}, "hist": {},
               "dead": {}}
        for i, n in enumerate(self.layers):
            out["activation"][n] = acts[i].numpy()
            out["gradient"][n] = grads[i].numpy()
            out["peak"][n] = peaks[i].numpy()
            out["dead"][n] = np.flatnonzero(peaks[i].numpy() == 0).tolist()
            out["hist"][n] = {k: _hist_dict(h) for k, h in zip(KINDS, (hw[i], ha[i], hg[i]))}
        return out


def gradient_flags(gradient: dict) -> dict:
    """``{layer: "vanishing" | "exploding"}`` for the layers whose mean |gradient| (the mean
    of the per-filter amounts) crosses :data:`VANISHING` or :data:`EXPLODING`."""
    flags = {}
    for layer, values in gradient.items():
        mean = float(np.mean(values)) if len(values) else 0.0
        if not np.isfinite(mean) or mean > EXPLODING:
            flags[layer] = "exploding"
        elif mean < VANISHING:
            flags[layer] = "vanishing"
    return flags


def model_loss(model):
    """The model's compiled loss as one callable, else the default of :func:`make_loss`."""
    import keras

    from deepling.training.step import make_loss

    loss = getattr(model, "loss", None)
    if isinstance(loss, str):
        return keras.losses.get(loss)
    if callable(loss):
        return loss
    return make_loss(model)


def _histogram(t, bins: int):
    """(lo, hi, counts) of ``t`` over its own range, ``bins`` equal bins (few ops: tracing
    time is most of a probe's first call)."""
    import tensorflow as tf

    flat = tf.reshape(tf.cast(t, tf.float32), [-1])
    lo, hi = tf.reduce_min(flat), tf.reduce_max(flat)
    counts = tf.histogram_fixed_width(flat, tf.stack([lo, tf.maximum(hi, lo + 1e-12)]), nbins=bins)
    return lo, hi, counts


def _hist_dict(h) -> dict:
    lo, hi, counts = h
    return {"lo": float(lo), "hi": float(hi), "counts": counts.numpy().astype(int).tolist()}

"""One compiled training step that also measures every filter, and skips frozen layers.

A *filter* is one output channel of a layer with a kernel (Conv*, Dense): its **activation
amount** is the mean absolute output of that channel over the batch (and the image plane),
its **gradient amount** the mean absolute loss gradient of its kernel slice. ReVACNN shows
both as bars: a filter whose gradient has fallen to nothing has settled.

Freezing is exact: a frozen layer's variables are left out of the gradient and of the
optimizer update (masking gradients would not do: Adam's momentum and weight decay still move
a weight whose gradient is zero), and the layer is marked ``trainable = False`` so batch
normalisation runs in inference mode. Each set of frozen layers gets its own compiled
function, traced on first use and reused, so a change takes effect at the next batch.
"""

from __future__ import annotations

import numpy as np


def filter_layers(model) -> list[str]:
    """Names of the layers that have filters: those with a ``kernel`` whose last axis is the
    output channel (Conv1D/2D/3D, Dense)."""
    return [l.name for l in model.layers
            if getattr(l, "kernel", None) is not None and len(l.kernel.shape) >= 2]


def make_loss(model):
    """Sparse categorical cross-entropy on the model's output (probabilities or logits)."""
    import keras

    from deepling.models.adapter import ModelAdapter

    kind = ModelAdapter.from_model(model, model.name).output_kind
    return keras.losses.SparseCategoricalCrossentropy(from_logits=kind == "logits")


def make_optimizer(name: str = "adam", learning_rate: float = 1e-3):
    """A Keras optimizer by name: ``adam``, ``adamw``, ``sgd`` (momentum 0.9) or ``rmsprop``."""
    import keras

    name = name.lower()
    if name == "adam":
        return keras.optimizers.Adam(learning_rate)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=5e-4)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate)
    raise ValueError(f"Unknown optimizer {name!r}: use adam, adamw, sgd or rmsprop.")


class MonitoredStep:
    """``step(x, y, frozen)`` → loss, accuracy and per-filter amounts, after one update.

    Parameters
    ----------
    model : keras.Model
        A functional or sequential model; it is trained in place.
    optimizer : keras.optimizers.Optimizer or str
    loss : keras loss, optional
        Default: sparse categorical cross-entropy on the model's output kind.
    layers : list of str, optional
        Layers to measure; default :func:`filter_layers`.

    Examples
    --------
    >>> step = MonitoredStep(model, "adam")                     # doctest: +SKIP
    >>> out = step(x_batch, y_batch, frozen={"conv1a"})         # doctest: +SKIP
    >>> out["gradient"]["conv2a"].shape                          # doctest: +SKIP
    (32,)
    """

    def __init__(self, model, optimizer="adam", loss=None, layers=None):
        import keras

        self.model = model
        self.optimizer = make_optimizer(optimizer) if isinstance(optimizer, str) else optimizer
        self.loss = loss or make_loss(model)
        self.layers = list(layers) if layers is not None else filter_layers(model)
        for layer in model.layers:
            layer.trainable = True
        # One forward pass yields the measured layers' outputs and the prediction.
        self._probe = keras.Model(model.inputs,
                                  [model.get_layer(n).output for n in self.layers] + list(model.outputs))
        self.optimizer.build(model.trainable_variables)
        self._fns: dict[frozenset, object] = {}
        self._eval = None
        # Batch norms that start from Keras' initial moving statistics (mean 0, variance 1)
        # and how many batches each has been updated in: see :meth:`settle_batch_norm`.
        self._fresh_norms = {l.name: [l, 0] for l in model.layers if _is_fresh_batch_norm(l)}

    def __call__(self, x, y, frozen=()) -> dict:
        """Train on one batch; returns numpy ``loss``, ``accuracy`` and dicts
        ``activation[layer]``, ``gradient[layer]`` (one value per filter; a frozen layer's
        gradient is zeros: it is not computed)."""
        frozen = frozenset(frozen)
        fn = self._fns.get(frozen) or self._compile(frozen)
        loss, acc, acts, grads = fn(np.asarray(x, np.float32), np.asarray(y, np.int32))
        for name, entry in self._fresh_norms.items():
            entry[1] += name not in frozen  # a frozen batch norm runs in inference mode
        return {"loss": float(loss), "accuracy": float(acc),
                "activation": {n: a.numpy() for n, a in zip(self.layers, acts)},
                "gradient": {n: g.numpy() for n, g in zip(self.layers, grads)}}

    def settle_batch_norm(self) -> list[str]:
        """Take the starting values out of fresh batch norms' moving statistics.

        Keras keeps them as an exponential average ``m_t = β m_{t-1} + (1 - β) batch_t``
        from ``m_0`` = 0 (mean) and 1 (variance). With β = 0.99, after one short epoch
        (79 batches of 5,000 images) ``m_0`` still weighs β^79 = 45 %: the variance is
        ~60× too large for the demo CNN and inference-mode accuracy is chance (plain
        ``model.fit`` shows the same). Dividing out the start, as Adam corrects its moments,
        ``(m_t - β^t m_0) / (1 - β^t)``, leaves the average of the batches seen alone; it
        costs no pass over data. Done once per layer (after that the statistics hold no
        starting value); call it before validating or saving. Returns the layers corrected.
        """
        done = []
        for name, (layer, t) in list(self._fresh_norms.items()):
            if t == 0:
                continue
            keep = float(layer.momentum) ** t
            mean, var = np.asarray(layer.moving_mean), np.asarray(layer.moving_variance)
            layer.moving_mean.assign(mean / (1 - keep))                           # m_0 = 0
            layer.moving_variance.assign(np.maximum(var - keep, 0) / (1 - keep))  # m_0 = 1
            del self._fresh_norms[name]
            done.append(name)
        return done

    def evaluate(self, x, y, batch_size: int = 256) -> tuple[float, float]:
        """Mean loss and accuracy on ``(x, y)`` in inference mode."""
        import tensorflow as tf

        if self._eval is None:
            def ev(xb, yb):
                p = self.model(xb, training=False)
                n = tf.cast(tf.shape(yb)[0], tf.float32)
                return self.loss(yb, p) * n, tf.reduce_sum(
                    tf.cast(tf.equal(tf.argmax(p, -1, output_type=tf.int32), yb), tf.float32))
            self._eval = tf.function(ev, reduce_retracing=True)
        total_loss = total_correct = 0.0
        for i in range(0, len(x), batch_size):
            l, c = self._eval(np.asarray(x[i:i + batch_size], np.float32),
                              np.asarray(y[i:i + batch_size], np.int32))
            total_loss, total_correct = total_loss + float(l), total_correct + float(c)
        return total_loss / max(len(x), 1), total_correct / max(len(x), 1)

    def _compile(self, frozen: frozenset):
        import tensorflow as tf

        model, probe, loss_fn, opt = self.model, self._probe, self.loss, self.optimizer
        unknown = frozen - {l.name for l in model.layers}
        if unknown:
            raise ValueError(f"No layer named {', '.join(sorted(unknown))} in {model.name}.")
        for layer in model.layers:
            layer.trainable = layer.name not in frozen
        variables = list(model.trainable_variables)  # frozen layers' weights left out
        measured = [model.get_layer(n) for n in self.layers]
        kernels = [l.kernel for l in measured if l.name not in frozen]

        def step(x, y):
            with tf.GradientTape() as tape:
                outs = probe(x, training=True)
                acts, pred = outs[:-1], outs[-1]
                loss = loss_fn(y, pred)
                if model.losses:
                    loss = loss + tf.add_n(model.losses)
            grads = tape.gradient(loss, variables)
            opt.apply_gradients(zip(grads, variables))
            by_var = {id(v): g for v, g in zip(variables, grads)}
            kernel_grads = {id(k): by_var[id(k)] for k in kernels}
            act_amounts = [_per_filter(a) for a in acts]
            grad_amounts = [_per_filter(kernel_grads[id(l.kernel)]) if l.name not in frozen
                            else tf.zeros([l.kernel.shape[-1]]) for l in measured]
            acc = tf.reduce_mean(tf.cast(
                tf.equal(tf.argmax(pred, -1, output_type=tf.int32), y), tf.float32))
            return loss, acc, act_amounts, grad_amounts

        shape = (None,) + tuple(model.inputs[0].shape[1:])
        fn = tf.function(step, input_signature=[tf.TensorSpec(shape, tf.float32),
                                                tf.TensorSpec((None,), tf.int32)])
        self._fns[frozen] = fn
        return fn


def _is_fresh_batch_norm(layer) -> bool:
    import keras

    if not isinstance(layer, keras.layers.BatchNormalization) or not layer.built:
        return False
    return (not np.asarray(layer.moving_mean).any()
            and np.array_equal(np.asarray(layer.moving_variance), np.ones(layer.moving_variance.shape)))


def _per_filter(t):
    """Mean absolute value over every axis but the last (the filter axis)."""
    import tensorflow as tf

    return tf.reduce_mean(tf.abs(t), axis=list(range(len(t.shape) - 1)))

"""Compiled gradient functions for one model, shared by every gradient-based method.

Everything here works in *pixel space*: inputs are float tensors in 0..255 and are mapped to
the model's input range inside the differentiated function, so gradients are with respect to
the pixels the user sees, whatever range the model expects.

Class scores are read from the *logits*, never from saturated probabilities:

* a model that outputs logits: its output;
* a model whose last layer is a Dense layer with softmax activation: the layer's input times
  its kernel plus bias, i.e. the same layer without the activation;
* a model whose last layer is a ``Softmax`` layer or ``Activation("softmax")``: that
  layer's input;
* anything else ending in softmax (e.g. softmax inside a subclassed model): the log of the
  probabilities clipped at 1e-30 — valid logits (softmax of them gives the probabilities
  back) but their gradient vanishes where the softmax saturates. ``logit_source`` says
  which case applies.
"""

from __future__ import annotations

import threading

import numpy as np

from deepling.methods._targets import find_layer, layer_output
from deepling.models.adapter import as_adapter, check_pixels

_ATTRIBUTE = "_deepling_probe"


class ModelProbe:
    """Logits, layer activations and their pixel gradients for one :class:`ModelAdapter`.

    Sub-models and ``tf.function`` graphs are built on first use and kept on this object, so
    the second strip or Grad-CAM on the same model skips tracing. Get the shared instance
    with :meth:`of`; every public method accepts either an adapter or a probe.

    Parameters
    ----------
    adapter : ModelAdapter
    """

    def __init__(self, adapter):
        self.adapter = adapter
        self.model = adapter.model
        self.input_range = tuple(adapter.input_range)
        self.preprocessing = getattr(adapter, "preprocessing", "range")
        # The affine map of ModelAdapter.preprocess, redone in TF so gradients pass through it.
        self._order, self._scale, self._offset = adapter.affine()
        if self._order is None and len(set(self._scale)) == 1 and len(set(self._offset)) == 1:
            self._scale, self._offset = float(self._scale[0]), float(self._offset[0])
        self.output_kind = adapter.output_kind
        self.n_classes = int(adapter.n_outputs)
        self._head, self._dense, self.logit_source = _find_logits(self.model, self.output_kind)
        self._graphs: dict = {}
        self._functions: dict = {}
        self._lock = threading.RLock()

    @classmethod
    def of(cls, adapter) -> ModelProbe:
        """The probe kept on ``adapter`` (built on first call); a probe is returned as is,
        a plain ``keras.Model`` wrapped first (:func:`~deepling.models.as_adapter`)."""
        if isinstance(adapter, ModelProbe):
            return adapter
        adapter = as_adapter(adapter)
        probe = adapter.__dict__.get(_ATTRIBUTE)
        # Rebuild if someone swapped the model or its input range on the adapter.
        if probe is None or probe.model is not adapter.model or \
                probe.input_range != tuple(adapter.input_range) or \
                probe.preprocessing != getattr(adapter, "preprocessing", "range"):
            probe = cls(adapter)
            setattr(adapter, _ATTRIBUTE, probe)
        return probe

    # --- inputs ------------------------------------------------------------------------
    @property
    def image_shape(self) -> tuple:
        return tuple(self.model.inputs[0].shape[1:])

    def as_batch(self, images) -> tuple[np.ndarray, bool]:
        """Pixels (H×W×C or N×H×W×C, 0..255) → float32 N×H×W×C, and whether it was one image."""
        x = np.asarray(images)
        single = x.ndim == 3
        if single:
            x = x[None]
        if x.ndim != 4:
            raise ValueError(f"Expected an H×W×C image or N×H×W×C images, got shape {x.shape}.")
        want = self.image_shape
        if any(w is not None and w != g for w, g in zip(want, x.shape[1:])):
            raise ValueError(
                f"The image is {'×'.join(map(str, x.shape[1:]))} but the model takes "
                f"{'×'.join(str(w) for w in want)}; fit the data first (ModelAdapter.fit_dataset)."
            )
        return check_pixels(x).astype(np.float32), single

    def _to_model_input(self, x):
        if self._order is not None:
            import tensorflow as tf

            x = tf.gather(x, self._order, axis=-1)
        if isinstance(self._scale, float) and (self._scale, self._offset) == (1.0, 0.0):
            return x
        return x * self._scale + self._offset

    # --- forward pass ------------------------------------------------------------------
    def _graph(self, layer: str | None):
        """keras.Model: input → [model output, logit source, (layer output)]."""
        with self._lock:
            if layer not in self._graphs:
                import keras

                outputs = [self.model.outputs[0]]
                if self._head is not None:
                    outputs.append(self._head)
                if layer is not None:
                    outputs.append(layer_output(find_layer(self.model, layer)))
                self._graphs[layer] = keras.Model(self.model.inputs, outputs)
            return self._graphs[layer]

    def _forward(self, x, layer: str | None):
        """(probabilities, logits, layer activations or None) for pixel tensor ``x``."""
        import tensorflow as tf

        outs = self._graph(layer)(self._to_model_input(x), training=False)
        outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
        out = outs[0]
        feats = outs[-1] if layer is not None else None
        if self._head is None:
            logits = out if self.output_kind == "logits" else \
                tf.math.log(tf.clip_by_value(out, 1e-30, 1.0))
        elif self._dense is not None:
            kernel, bias = self._dense
            logits = tf.matmul(outs[1], kernel)
            logits = logits if bias is None else logits + bias
        else:
            logits = outs[1]
        probs = out if self.output_kind == "probabilities" else tf.nn.softmax(out, axis=-1)
        return probs, logits, feats

    # --- compiled functions ------------------------------------------------------------
    def _compiled(self, key, build):
        with self._lock:
            if key not in self._functions:
                self._functions[key] = build()
            return self._functions[key]

    def _specs(self, *extra):
        import tensorflow as tf

        image = tf.TensorSpec((None,) + self.image_shape, tf.float32)
        return [image] + list(extra)

    def _score(self, logits, feats, index, kind: str):
        """Per-image score: 'log_prob' / 'logit' of class ``index``, or 'channel' mean."""
        import tensorflow as tf

        if kind == "channel":
            flat = tf.reshape(feats, (tf.shape(feats)[0], -1, tf.shape(feats)[-1]))
            pick = tf.one_hot(index, tf.shape(feats)[-1], dtype=feats.dtype)[:, None, :]
            return tf.reduce_mean(tf.reduce_sum(flat * pick, axis=-1), axis=1)
        values = tf.nn.log_softmax(logits, axis=-1) if kind == "log_prob" else logits
        return tf.gather(values, index, axis=1, batch_dims=1)

    def ascent_step(self, layer: str | None, norm: str):
        """Compiled ``(x, x0, index, step_size, max_change) → (x_next, score, grad_norm)``.

        One step of gradient *ascent* on the target score: log-probability of class
        ``index`` (``layer`` None) or mean activation of channel ``index`` of ``layer``.
        ``norm='sign'`` moves every pixel by ``step_size`` (iterative FGSM); ``'l2'`` moves
        along the gradient direction with a root-mean-square change of ``step_size``. The
        result is projected onto ``|x - x0| <= max_change`` and 0..255.
        """
        import tensorflow as tf

        kind = "log_prob" if layer is None else "channel"

        def build():
            scalar = tf.TensorSpec((), tf.float32)
            specs = self._specs(tf.TensorSpec((None,) + self.image_shape, tf.float32),
                                tf.TensorSpec((None,), tf.int32), scalar, scalar)

            @tf.function(input_signature=specs)
            def step(x, x0, index, step_size, max_change):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    _, logits, feats = self._forward(x, layer)
                    score = self._score(logits, feats, index, kind)
                    total = tf.reduce_sum(score)  # recorded: images are independent
                grad = tape.gradient(total, x)
                axes = tf.range(1, tf.rank(grad))
                grad_norm = tf.sqrt(tf.reduce_sum(tf.square(grad), axis=axes))
                if norm == "sign":
                    direction = tf.sign(grad)
                else:
                    n = tf.cast(tf.reduce_prod(tf.shape(grad)[1:]), tf.float32)
                    scale = tf.sqrt(n) / (grad_norm + 1e-12)
                    direction = grad * tf.reshape(scale, (-1, 1, 1, 1))
                x = x + step_size * direction
                x = tf.clip_by_value(x, x0 - max_change, x0 + max_change)
                return tf.clip_by_value(x, 0.0, 255.0), score, grad_norm

            return step

        return self._compiled(("step", layer, norm), build)

    def evaluate(self, layer: str | None = None):
        """Compiled ``x → (probabilities, log_probabilities, layer activations per channel)``.

        The last item is the mean activation of every channel of ``layer`` (N×channels), or
        an N×0 array when ``layer`` is None.
        """
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._specs())
            def run(x):
                probs, logits, feats = self._forward(x, layer)
                if feats is None:
                    means = tf.zeros((tf.shape(x)[0], 0))
                else:
                    flat = tf.reshape(feats, (tf.shape(feats)[0], -1, tf.shape(feats)[-1]))
                    means = tf.reduce_mean(flat, axis=1)
                return probs, tf.nn.log_softmax(logits, axis=-1), means

            return run

        return self._compiled(("eval", layer), build)

    def _resolve_index(self, probs, index):
        """``index`` with every negative entry replaced by the predicted class."""
        import tensorflow as tf

        predicted = tf.cast(tf.argmax(probs, axis=-1), index.dtype)
        return tf.where(index < 0, predicted, index)

    def input_gradient(self, kind: str):
        """Compiled ``(x, class_index) → (probabilities, score, d score / d pixels)``.

        ``kind`` 'logit' or 'log_prob'; a negative class index means the predicted class,
        so one forward pass serves both the prediction and the gradient.
        """
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._specs(tf.TensorSpec((None,), tf.int32)))
            def run(x, index):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    probs, logits, _ = self._forward(x, None)
                    score = self._score(logits, None, self._resolve_index(probs, index), kind)
                    total = tf.reduce_sum(score)
                return probs, score, tape.gradient(total, x)

            return run

        return self._compiled(("input_grad", kind), build)

    def layer_gradient(self, layer: str):
        """Compiled ``(x, class_index) → (probabilities, activations A, d logit / d A)``;
        a negative class index means the predicted class (one forward pass for both)."""
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._specs(tf.TensorSpec((None,), tf.int32)))
            def run(x, index):
                with tf.GradientTape() as tape:
                    probs, logits, feats = self._forward(x, layer)
                    score = self._score(logits, None, self._resolve_index(probs, index), "logit")
                    total = tf.reduce_sum(score)
                return probs, feats, tape.gradient(total, feats)

            return run

        return self._compiled(("layer_grad", layer), build)

    def layer_activations(self, layer: str):
        """Compiled ``x → (probabilities, activations of layer)``."""
        import tensorflow as tf

        def build():
            @tf.function(input_signature=self._specs())
            def run(x):
                probs, _, feats = self._forward(x, layer)
                return probs, feats

            return run

        return self._compiled(("layer_acts", layer), build)

    def probabilities(self, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
        """Class probabilities for float pixel batches, in chunks of ``batch_size``."""
        run = self.evaluate(None)
        if len(x) <= batch_size:
            return np.asarray(run(np.asarray(x, np.float32))[0])
        return np.concatenate([np.asarray(run(np.asarray(x[i:i + batch_size], np.float32))[0])
                               for i in range(0, len(x), batch_size)])

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for pixel images (float or uint8), through the compiled graph."""
        x, _ = self.as_batch(images)
        return np.asarray(self.evaluate(None)(x)[0])


def _find_logits(model, output_kind: str):
    """(symbolic tensor to read logits from or None, (kernel, bias) or None, description)."""
    if output_kind == "logits":
        return None, None, "model output (logits)"
    last = model.layers[-1]
    kind = type(last).__name__
    try:
        if kind in ("Softmax", "Activation"):
            return last.input, None, f"input of the softmax layer '{last.name}'"
        kernel = getattr(last, "kernel", None)
        if kind == "Dense" and kernel is not None and len(kernel.shape) == 2:
            bias = getattr(last, "bias", None)
            return (last.input, (kernel.value, None if bias is None else bias.value),
                    f"'{last.name}' without its softmax (input × kernel + bias)")
    except (AttributeError, ValueError):
        pass  # no symbolic graph (subclassed model): fall back to log-probabilities
    return None, None, "log of the output probabilities (clipped at 1e-30; may saturate)"

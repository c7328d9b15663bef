"""How many images a model can take at once: batch sizes from its activation memory.

A fixed batch of 256 is nothing for a 32×32 CNN and tens of GB for a 224×224 ResNet
(37 M floats of activations per image). Every loop that sends images through a model
asks :func:`batch_size_for` instead of using a fixed count.
"""

from __future__ import annotations

import numpy as np

# Activation memory one batch may take: every layer's output for the whole batch, counted as
# if all were held at once (TensorFlow frees most of them as it goes, so the real peak is
# lower). 1 GiB: MobileNetV2 at 224×224 gets batches of 12, the demo CNN 256.
ACTIVATION_BUDGET_BYTES = 1 << 30
MAX_BATCH = 256


def activation_bytes_per_image(model) -> int:
    """Bytes of every layer's float32 output for one image (an upper bound on what a
    forward pass holds). ``model`` is a keras.Model or a ModelAdapter; open spatial sizes
    count as 224."""
    model = getattr(model, "model", model)
    total = 0
    for layer in model.layers:
        try:
            out = layer.output
        except (AttributeError, ValueError):
            continue
        for t in out if isinstance(out, (list, tuple)) else [out]:
            shape = getattr(t, "shape", None)
            if shape is not None:
                total += int(np.prod([224 if d is None else int(d) for d in shape[1:]]))
    return 4 * max(total, 1)


def batch_size_for(model, budget: int = ACTIVATION_BUDGET_BYTES, cap: int = MAX_BATCH) -> int:
    """Images per forward pass so one batch's activations stay within ``budget`` bytes:
    between 1 and ``cap``. The result is kept on a ModelAdapter (it does not change)."""
    key = ("_deepling_batch", int(budget), int(cap))
    held = getattr(model, "__dict__", {}).get("_deepling_batch_sizes", {})
    if key in held:
        return held[key]
    size = int(max(1, min(int(cap), budget // activation_bytes_per_image(model))))
    if hasattr(model, "__dict__") and hasattr(model, "model"):  # an adapter: remember
        model.__dict__.setdefault("_deepling_batch_sizes", {})[key] = size
    return size

"""What a model is made of, as plain data the views can render."""

from __future__ import annotations


def layer_table(model) -> list[dict]:
    """One row per layer: name, type, output shape, parameter count, inbound layer names."""
    rows = []
    for layer in model.layers:
        rows.append({
            "name": layer.name,
            "type": type(layer).__name__,
            "output_shape": _shape(layer),
            "params": int(layer.count_params()) if layer.built else 0,
            "inbound": inbound_layers(layer),
        })
    return rows


def model_summary(model) -> dict:
    """Totals and the layer table."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = int(model.count_params())
    return {
        "name": model.name,
        "input_shape": tuple(model.inputs[0].shape[1:]),
        "output_shape": tuple(model.outputs[0].shape[1:]),
        "n_layers": len(model.layers),
        "params": total,
        "trainable_params": trainable,
        "layers": layer_table(model),
    }


def inbound_layers(layer) -> list[str]:
    """Names of the layers feeding ``layer`` (empty for inputs)."""
    names = []
    for node in getattr(layer, "_inbound_nodes", []):
        for t in node.input_tensors:
            hist = getattr(t, "_keras_history", None)
            if hist is not None and hist[0].name not in names:
                names.append(hist[0].name)
    return names


def _shape(layer) -> tuple | list | None:
    try:
        out = layer.output
    except (AttributeError, ValueError):
        return None
    if isinstance(out, (list, tuple)):
        return [tuple(o.shape[1:]) for o in out]
    return tuple(out.shape[1:])


def format_count(n: int) -> str:
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k" if n >= 1e3 else str(n)

"""Every layer of a model, one tensor each: nested models and loaded Sequentials unfolded.

Keras records a layer's output per *call*. A ``keras.Sequential`` loaded from its file has
been built once per layer added, so each of its layers holds several calls and
``layer.output`` names a stale one; a model used as a layer of another (a functional
model wrapping a Sequential block, ``keras.applications`` bases under a new head) hides its
layers behind one node. Either way a sub-model reading a hidden layer cannot be built.

:func:`flat_model` rebuilds such a model as one functional graph from a fresh input, each
layer a fresh copy (same class, config and weights) called exactly once, nested models
unfolded into their layers. The result computes the same function, and every view can
read any layer by name (``get_layer(name).output``). A model that needs none of this is
returned as it is.
"""

from __future__ import annotations

# Set on a model flat_model made.
_FLAT = "_deepling_flat"


def needs_flattening(model) -> bool:
    """True for a Sequential model, a model with nested models, or a layer called twice."""
    import keras

    if getattr(model, _FLAT, False):
        return False
    if type(model).__name__ == "Sequential":
        return True
    for layer in getattr(model, "layers", ()):
        if isinstance(layer, keras.Model) or len(getattr(layer, "_inbound_nodes", ())) > 1:
            return True
    return False


def flat_model(model):
    """``model`` as one functional graph of single-use layers (see the module docstring).

    Parameters
    ----------
    model : keras.Model
        Functional or Sequential, built, with one input.

    Returns
    -------
    keras.Model
        ``model`` itself when it needs no unfolding, else a new functional model with the
        same name, input and outputs, sharing no layer objects with ``model``. A layer
        truly shared between two places of the graph stays one (copied) layer used twice.
        Layers of nested models keep their names; one that clashes with a name already
        taken is prefixed with its model's name.
    """
    import keras

    if not needs_flattening(model) or not getattr(model, "inputs", None):
        return model
    inp = model.inputs[0]
    history = getattr(inp, "_keras_history", None)
    in_name = getattr(getattr(history, "operation", None), "name", None) or "input"
    fresh = keras.Input(shape=tuple(inp.shape[1:]), dtype=inp.dtype, name=in_name)
    copies: dict[int, object] = {}  # id(original layer) -> its copy (shared layers stay shared)
    taken = {in_name}
    pending_weights = []

    def copy_of(layer, prefix):
        if id(layer) in copies:
            return copies[id(layer)]
        config = layer.get_config()
        name = layer.name
        if name in taken:
            name = f"{prefix}_{name}" if prefix else name
            k = 2
            while name in taken:
                name, k = f"{prefix}_{layer.name}_{k}", k + 1
        config["name"] = name
        taken.add(name)
        new = type(layer).from_config(config)
        copies[id(layer)] = new
        pending_weights.append((layer, new))
        return new

    def run(sub, inputs, prefix):
        functional = sub if hasattr(sub, "_nodes_by_depth") and type(sub).__name__ != "Sequential" \
            else getattr(sub, "_functional", None)
        if functional is None:  # a Sequential never built from an Input: its layers in order
            x = inputs
            for layer in sub.layers:
                x = call(layer, x, prefix=sub.name)
            return x

        def call_fn(op, *args, **kwargs):
            return call(op, *args, prefix=sub.name, **kwargs)

        return functional._run_through_graph(inputs, operation_fn=lambda op: op, call_fn=call_fn)

    def call(op, *args, prefix="", **kwargs):
        if isinstance(op, keras.Model):
            kwargs.pop("training", None)
            kwargs.pop("mask", None)
            return run(op, args[0], op.name)
        if isinstance(op, keras.layers.InputLayer):
            return args[0]
        if isinstance(op, keras.layers.Layer):
            return copy_of(op, prefix)(*args, **kwargs)
        return op(*args, **kwargs)  # a keras.ops operation: no weights, nothing to copy

    outputs = run(model, fresh, "")
    for old, new in pending_weights:
        weights = old.get_weights()
        if weights:
            new.set_weights(weights)
    flat = keras.Model(fresh, outputs, name=model.name)
    object.__setattr__(flat, _FLAT, True)  # not tracked by Keras; never unfolded twice
    return flat
